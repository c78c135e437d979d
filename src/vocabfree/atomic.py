"""Atomic, durable file writes: the one place every stage (caches, databases, probes, checkpoints, job
outputs) writes files through, so a killed process never leaves a half-written file under a real name.

A file is written under a temporary name in the same folder (``.NAME.<random>.tmp``, hidden, so globs for
real files never see it), flushed to disk with ``fsync``, renamed over the target (``os.replace``: atomic
on POSIX and Windows), and the folder is fsync'ed so the rename itself survives a power cut. On an error
the temporary file is removed and the target is left as it was.

Written by hand because the standard library has no such helper and the packages that do (``atomicwrites``)
are unmaintained; it is a dozen lines.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

TMP_SUFFIX = ".tmp"


def temporary_name(path: Path, suffix: str = "") -> Path:
    """A unique hidden sibling of ``path`` for writing it: ``.NAME.<random>.tmp<suffix>``.

    ``suffix`` is for writers that insist on an extension (``np.save`` appends ``.npy`` to names without it).
    """
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}{TMP_SUFFIX}{suffix}")


def _fsync_path(path: Path) -> None:
    # Directories can be opened read-only and fsync'ed on POSIX; Windows cannot open them (nothing to do).
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    if path.is_dir():
        for child in path.rglob("*"):
            if child.is_file():
                _fsync_path(child)
    _fsync_path(path)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s content to; on success it is fsync'ed and renamed over
    ``path``, on an exception it is deleted. The writer may create a file or a directory there::

        with atomic_path(out / "weights.safetensors") as tmp:
            save_file(tensors, str(tmp))

    A directory replaces an existing directory ``path`` (the old one is removed just before the rename; a
    crash in between leaves no ``path``, never a mix of old and new files).
    """
    path = Path(path)
    tmp = temporary_name(path, suffix)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"the writer of {path} wrote nothing to {tmp}")
        _fsync_tree(tmp)
        if tmp.is_dir() and path.is_dir():
            shutil.rmtree(path)
        os.replace(tmp, path)
        _fsync_path(path.parent)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(fh)`` with a binary file handle, then put the bytes at ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        write(fh)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Delete temporary files left in ``folder`` by writers that were killed; returns how many."""
    removed = 0
    for stale in Path(folder).glob(f".*{TMP_SUFFIX}*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
        removed += 1
    return removed
