"""Small file helpers shared by the tools: content hashes, JSON state that a kill never
leaves half written, and locks that keep two processes out of one folder."""
import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import socket


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


class Locked(Exception):
    """Another process holds the lock; its text names the holder as the holder wrote it."""


@contextlib.contextmanager
def exclusive_lock(path, wait=False):
    """Holds an advisory lock on the file `path` (created if missing) for the block. With
    `wait` False another holder raises `Locked`; with True it waits for it. The kernel drops
    the lock when its holder ends, so a killed process never leaves a stale lock; the file
    stays, holding the last holder's pid, host and start time for the error message."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            raise Locked(holder or "another process") from None
        since = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {since}".encode(), 0)
        yield
    finally:
        os.close(fd)
