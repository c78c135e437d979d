"""``manifest.json``: what a database folder holds and how it was made.

It is written last, inside the temporary build folder, just before the folder is renamed into place, so a
folder with a valid manifest is a finished database; a folder without one is partial.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vocabfree.errors import DatabaseError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CAPTIONS = "captions.arrow"
EMBEDDINGS = "embeddings.npy"
INDEX = "index.faiss"


@dataclass(frozen=True)
class Manifest:
    """Everything needed to trust and reopen a database (``asdict`` is the JSON)."""

    model: str  # full backend name; queries must be embedded by the same model
    embed_dim: int
    count: int  # number of captions == rows of embeddings == vectors in the index
    index: dict  # asdict(IndexConfig)
    normalisation: str
    corpora: tuple[dict, ...]  # [{"name", "sha256", "texts"}] in build order
    created: str  # ISO 8601 UTC
    metric: str = "inner_product"  # on L2-normalised vectors: cosine similarity
    files: dict = field(default_factory=dict)  # file name -> size in bytes, checked on open
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Write ``manifest.json`` atomically (temp file + fsync + rename)."""
    tmp = folder / (MANIFEST + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(manifest.to_json())
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(folder / MANIFEST)


def read_manifest(folder: Path) -> Manifest:
    """Read and check a manifest, raising ``DatabaseError`` that says what is wrong."""
    path = folder / MANIFEST
    if not folder.is_dir():
        raise DatabaseError(f"no caption database at {folder}: not a directory; build one with 'vocabfree db build'")
    if not path.is_file():
        partial = " (a build was interrupted: rerun 'vocabfree db build ... --resume')" if any(
            folder.parent.glob(f"{folder.name}.partial*")
        ) else ""
        raise DatabaseError(f"{folder} is not a complete caption database: {MANIFEST} is missing{partial}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object, found {type(data).__name__}")
        data["corpora"] = tuple(data.get("corpora", ()))
        manifest = Manifest(**data)
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as exc:
        raise DatabaseError(f"{path} is corrupt ({exc}); rebuild the database") from exc
    if manifest.format_version > FORMAT_VERSION:
        raise DatabaseError(
            f"{folder} uses database format {manifest.format_version}; this vocabfree reads up to "
            f"{FORMAT_VERSION}: upgrade vocabfree"
        )
    for name, size in manifest.files.items():
        file = folder / name
        if not file.is_file():
            raise DatabaseError(f"{folder} is incomplete: {name} is missing; rebuild the database")
        if file.stat().st_size != size:
            raise DatabaseError(
                f"{folder} is corrupt: {name} has {file.stat().st_size} bytes, the manifest says {size}; "
                "rebuild the database"
            )
    return manifest
