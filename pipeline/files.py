"""Small file helpers shared by the tools: content hashes, and JSON state that a kill never
leaves half written."""
import hashlib
import json
import os


def sha256(path):
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path):
    """The JSON object in `path`, or None when there is no such file."""
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_json_atomic(path, value):
    """Written beside `path` and renamed over it: a kill never leaves half a file."""
    with open(path + ".partial", "w", encoding="utf-8") as f:
        json.dump(value, f, indent=1)
    os.replace(path + ".partial", path)
