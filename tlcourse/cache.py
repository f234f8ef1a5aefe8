"""The course's disk cache: one key scheme and one atomic write for everything computed once.

What is cached (all under `runtime.CACHE`): offline datasets that ship as arrays, written
as PNG files (data.py); features of a frozen body (features.py); corrupted copies of a
dataset (shift.py); sentence embeddings (text.py). A cached result is named by a `key`: a
hash of what went in -- the settings of the computation (backbone, weights, size, layer,
precision, preprocessing version...) and the *contents* of its inputs (image files'
bytes, arrays, texts) -- so a changed input or setting is computed again, never read
stale. Every file or folder is written under a temporary name and then renamed: a run
stopped half-way leaves nothing that looks finished. Introduced in notebook 01.

Not about: what is computed; each module owns that.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np

from .runtime import CACHE


@functools.lru_cache(maxsize=None)
def _file_digest(path: str, size: int, mtime_ns: int) -> bytes:
    # Hashed once per process per version of the file (its size and date are in the cache's key).
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.digest()


def key(*settings, files=(), data=()) -> str:
    """Twelve hex digits naming a computation: its `settings` (anything JSON can write), the
    contents of the `files` it reads and the `data` it is given (arrays, bytes or strings)."""
    digest = hashlib.sha256(json.dumps(settings, default=str).encode())
    for path in files:
        stat = os.stat(path)
        digest.update(_file_digest(os.fspath(path), stat.st_size, stat.st_mtime_ns))
    for item in data:
        if isinstance(item, str):
            item = item.encode() + b"\0"
        elif not isinstance(item, bytes):
            array = np.ascontiguousarray(item)
            item = f"{array.dtype}{array.shape}".encode() + array.tobytes()
        digest.update(item)
    return digest.hexdigest()[:12]


def path(kind: str, name: str) -> Path:
    """Where a cached result of this kind ("features", "datasets", ...) and name lives."""
    return CACHE / kind / name


@contextlib.contextmanager
def writing(target: Path):
    """Yields a temporary path next to `target` to write a file or a folder to; when the block
    ends without an error, it becomes `target` in one rename (readers see all or nothing)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
    try:
        yield tmp
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)


def load_array(file: Path) -> np.ndarray | None:
    """A cached array, or None when there is none or it cannot be read (then it is recomputed)."""
    if not file.exists():
        return None
    try:
        return np.load(file, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:  # a damaged file (written by hand, a full disk)
        warnings.warn(f"Cached array {file.name} is unreadable ({err}); computing it again.")
        return None


def save_array(file: Path, array: np.ndarray) -> None:
    with writing(file) as tmp:
        with open(tmp, "wb") as f:   # a file object: np.save would add ".npy" to the temporary name
            np.save(f, array)


def array(file: Path, compute) -> np.ndarray:
    """The array cached in `file`, or `compute()`'s, saved there first."""
    found = load_array(file)
    if found is None:
        found = compute()
        save_array(file, found)
    return found
