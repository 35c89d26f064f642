"""The output folder: refuse to mix runs, stage writes, publish only complete runs.

A run writes into `OUTPUT/.partial/` and, once the pipeline has succeeded and every
input record is accounted for, moves its files into OUTPUT and writes `run.json` last.
So a crashed run never leaves an output that looks complete: no `run.json`, no run.
(On remote filesystems such as gs://, which have no rename of folders, files are written
in place and `run.json` is still written last.)
"""
import json
import os
import shutil

from apache_beam.io.filesystems import FileSystems

from preprocessing.constants import MANIFEST  # noqa: F401  (re-exported)
from preprocessing.corpora.common import InputError

STAGING = ".partial"


def is_remote(path):
    return "://" in path


def _read_json(path):
    with FileSystems.open(path) as f:
        return json.loads(f.read().decode("utf-8"))


def prepare_output(output, manifest, overwrite=False):
    """Checks OUTPUT may receive this run; returns the folder to write into."""
    if is_remote(output):
        return _prepare_remote(output, manifest, overwrite)
    if os.path.exists(output) and not os.path.isdir(output):
        raise InputError(f"--output {output!r} is a file, not a folder")
    existing = [n for n in os.listdir(output) if n != STAGING] if os.path.isdir(output) else []
    if existing and not overwrite:
        manifest_path = os.path.join(output, MANIFEST)
        if not os.path.isfile(manifest_path):
            raise InputError(
                f"--output {output!r} is not empty and holds no {MANIFEST} of a finished "
                f"preprocessing run ({', '.join(sorted(existing)[:5])}); pass an empty or new "
                f"folder, or --overwrite to replace its contents")
        previous = _read_json(manifest_path)
        if previous != manifest:
            raise InputError(
                f"--output {output!r} already holds a different run: "
                f"{describe_difference(previous, manifest)}; "
                f"pass another --output, or --overwrite to replace it")
    staging = os.path.join(output, STAGING)
    shutil.rmtree(staging, ignore_errors=True)  # leftovers of a crashed run
    os.makedirs(staging)
    return staging


def _prepare_remote(output, manifest, overwrite):
    """Remote folders cannot be renamed: check as locally, then delete the old run
    (its run.json first) so a crash cannot leave an old manifest beside new shards."""
    pattern = FileSystems.join(output, "**")
    existing = [m.path for r in FileSystems.match([pattern]) for m in r.metadata_list]
    manifest_path = FileSystems.join(output, MANIFEST)
    if existing and not overwrite:
        if manifest_path not in existing:
            raise InputError(f"--output {output!r} is not empty and holds no {MANIFEST} of a "
                             f"finished preprocessing run; pass a new folder or --overwrite")
        previous = _read_json(manifest_path)
        if previous != manifest:
            raise InputError(f"--output {output!r} already holds a different run: "
                             f"{describe_difference(previous, manifest)}; pass another "
                             f"--output, or --overwrite to replace it")
    if manifest_path in existing:
        FileSystems.delete([manifest_path])
    others = [p for p in existing if p != manifest_path]
    if others:
        FileSystems.delete(others)
    return output


def describe_difference(previous, current):
    keys = sorted(set(previous) | set(current))
    diffs = []
    for key in keys:
        a, b = previous.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += [f"{key}.{k}: {a.get(k)!r} there, {b.get(k)!r} now"
                      for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        elif a != b:
            diffs.append(f"{key}: {a!r} there, {b!r} now")
    return "; ".join(diffs) or "its manifest differs"


def publish_output(output, written_to, manifest):
    """Moves a finished run from staging into OUTPUT, replacing an older run there."""
    if not is_remote(output):
        for name in os.listdir(output):
            if name != STAGING:
                path = os.path.join(output, name)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        for name in os.listdir(written_to):
            os.replace(os.path.join(written_to, name), os.path.join(output, name))
        os.rmdir(written_to)
    with FileSystems.create(FileSystems.join(output, MANIFEST)) as f:
        f.write(json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8"))


def read_stats(folder):
    return _read_json(FileSystems.join(folder, "stats.json"))
