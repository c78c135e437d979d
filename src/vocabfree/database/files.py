"""File helpers shared by every database stage: SHA-256 checksums (atomic writes: ``vocabfree.atomic``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from vocabfree.errors import DatabaseError

_BLOCK = 1 << 20


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_entry(path: Path) -> dict:
    """``{"bytes": size, "sha256": hex}`` of one file, the form manifests record."""
    return {"bytes": path.stat().st_size, "sha256": file_sha256(path)}


def check_files(folder: Path, files: dict, *, checksums: bool = True, budget: int | None = None) -> None:
    """Raise ``DatabaseError`` naming the first file of ``files`` (name -> {bytes, sha256}) that is missing,
    has another size or (if ``checksums``) another SHA-256. With ``budget``, only the smallest files whose
    sizes add up to at most ``budget`` bytes are checksummed (every size is still checked)."""
    for name, entry in files.items():
        path = folder / name
        if not path.is_file():
            raise DatabaseError(f"{path} is missing")
        size = path.stat().st_size
        if size != entry["bytes"]:
            raise DatabaseError(f"{path} is corrupt: {size} bytes, the manifest says {entry['bytes']}")
    if not checksums:
        return
    spent = 0
    for name, entry in sorted(files.items(), key=lambda item: (item[1]["bytes"], item[0])):
        spent += entry["bytes"]
        if budget is not None and spent > budget:
            break
        if file_sha256(folder / name) != entry["sha256"]:
            raise DatabaseError(f"{folder / name} is corrupt: its SHA-256 differs from the manifest's")
