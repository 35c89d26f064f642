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


def write_text_atomic(path, text):
    """Written beside `path` and renamed over it: a full disk or a kill never leaves half
    a file (the old one stays whole until the new one is complete)."""
    partial = path + ".partial"
    try:
        with open(partial, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise


def write_json_atomic(path, value, indent=1):
    """JSON written as `write_text_atomic` writes text."""
    write_text_atomic(path, json.dumps(value, indent=indent))
