"""Where a corpus comes from when --input is not given, and the DailyDialog download.

Order: --input; $DIALOGVAE_DATA/<corpus>; ../shared/datasets/<corpus> (beside the
checkout or the working directory); for DailyDialog only, the official archive,
downloaded once into $DIALOGVAE_CACHE (default ~/.cache/dialogvae) and verified by the
SHA-256 of its three split files.
"""
import io
import os
import shutil
import tempfile
import urllib.request
import zipfile

from preprocessing.corpora.common import InputError
from preprocessing.files import sha256

DAILYDIALOG_URL = "http://yanran.li/files/ijcnlp_dailydialog.zip"
# SHA-256 of the official split files (as listed in the corpus's SOURCE.md).
DAILYDIALOG_SHA256 = {
    "train/dialogues_train.txt":
        "2128f3b82140b7d72d8d5bb989e5982a0394e4e40655995270d84c7eeee373b1",
    "validation/dialogues_validation.txt":
        "2ad64701fe3a4449e7a6ee7cdc6c2a71c80f77b8a34f708ac0532395f499081c",
    "test/dialogues_test.txt":
        "3c323651cdfb09f7b529f850eddf96a638fc6cc9b43330b77956ab248484a1a8",
}
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cache_dir():
    return os.environ.get("DIALOGVAE_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "dialogvae")


def candidate_folders(corpus):
    """Folders searched, in order, when --input is not given."""
    folders = []
    if os.environ.get("DIALOGVAE_DATA"):
        folders.append(os.path.join(os.environ["DIALOGVAE_DATA"], corpus))
    for base in (os.getcwd(), _REPO_ROOT):
        folders.append(os.path.normpath(os.path.join(base, "..", "shared", "datasets", corpus)))
    return list(dict.fromkeys(folders))


def resolve_input(corpus, input_path=None, download=True):
    """The input folder for `corpus`; downloads DailyDialog when nothing local is found."""
    if input_path:
        return input_path
    for folder in candidate_folders(corpus):
        if os.path.isdir(folder):
            return folder
    tried = ", ".join(candidate_folders(corpus))
    if corpus == "dailydialog" and download:
        return download_dailydialog(os.path.join(cache_dir(), "dailydialog"))
    raise InputError(f"no --input given for corpus {corpus!r} and none of {tried} exists: "
                     f"pass --input PATH, or set DIALOGVAE_DATA to a folder holding {corpus}/")


def _verified(folder):
    return all(os.path.isfile(os.path.join(folder, rel)) and
               sha256(os.path.join(folder, rel)) == sha
               for rel, sha in DAILYDIALOG_SHA256.items())


def download_dailydialog(target, url=None):
    """Downloads and unpacks the official archive into `target`; returns `target`."""
    if _verified(target):
        return target
    url = url or os.environ.get("DIALOGVAE_DAILYDIALOG_URL") or DAILYDIALOG_URL
    help_text = (f"download {DAILYDIALOG_URL} yourself, unzip it and its train.zip, "
                 f"validation.zip and test.zip, and pass --input FOLDER (the folder holding "
                 f"train/, validation/ and test/)")
    print(f"DailyDialog not found locally; downloading {url} ...", flush=True)
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            archive = zipfile.ZipFile(io.BytesIO(response.read()))
    except (OSError, zipfile.BadZipFile) as e:
        raise InputError(f"could not download DailyDialog from {url} ({e}); {help_text}") from e
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".dailydialog-", dir=os.path.dirname(target) or ".")
    try:
        _unpack_split_archives(archive, scratch)
        if not _verified(scratch):
            raise InputError(f"the archive from {url} does not hold the official DailyDialog "
                             f"split files (SHA-256 mismatch); {help_text}")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(scratch, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _unpack_split_archives(archive, folder):
    """Extracts `<split>/dialogues_*` files from the nested train/validation/test zips."""
    for name in archive.namelist():
        base = os.path.basename(name)
        if base in ("train.zip", "validation.zip", "test.zip"):
            _unpack_split_archives(zipfile.ZipFile(io.BytesIO(archive.read(name))), folder)
        elif base.startswith("dialogues_") and base.endswith(".txt"):
            split = base[:-4].rsplit("_", 1)[-1]
            if split in ("train", "validation", "test"):
                os.makedirs(os.path.join(folder, split), exist_ok=True)
                with open(os.path.join(folder, split, base), "wb") as f:
                    f.write(archive.read(name))
