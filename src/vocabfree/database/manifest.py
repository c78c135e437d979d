"""``manifest.json``: what a database folder holds, how it was made, and the checksum of every file.

It is written last, inside the temporary build folder, just before the folder is renamed into place, so a
folder with a valid manifest is a finished database; a folder without one is partial. Format 2 (this one)::

    DIR/manifest.json
    DIR/shards/000000.{arrow,npy,json} ...   captions + float16 embeddings, see ``shards.py``
    DIR/index.faiss                          absent for exact (flat) search, which scans the shards

``files`` maps every file's path (relative to DIR) to ``{"bytes", "sha256"}``; ``CaptionDatabase.open``
checks every size and the checksums of the smallest files, up to ``VERIFY_ON_OPEN_BYTES`` in all; ``db verify``
checks all of them. Format 1 (one float32 ``embeddings.npy``, sizes only) is refused with the command that
upgrades it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from vocabfree.atomic import atomic_write_text
from vocabfree.errors import DatabaseError

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
INDEX = "index.faiss"
CHECKSUM = "sha256"
# format 1 file names (read by ``db upgrade`` only)
CAPTIONS = "captions.arrow"
EMBEDDINGS = "embeddings.npy"


@dataclass(frozen=True)
class Manifest:
    """Everything needed to trust and reopen a database (``asdict`` is the JSON)."""

    model: str  # full backend name; queries must be embedded by the same model
    embed_dim: int
    count: int  # number of captions == rows of all shards == vectors in the index
    index: dict  # the resolved index: kind, its parameters, tuned nprobe and measured recall
    normalisation: str
    corpora: tuple[dict, ...]  # [{"name", "sha256", "texts"}] in build order (or the import's sources)
    created: str  # ISO 8601 UTC
    shards: tuple[dict, ...] = ()  # [{"shard": k, "count": n}] in row order
    metric: str = "inner_product"  # on L2-normalised vectors: cosine similarity
    dtype: str = "float16"  # of the stored embeddings
    files: dict = field(default_factory=dict)  # relative path -> {"bytes", "sha256"}
    checksum: str = CHECKSUM
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Write ``manifest.json`` atomically (temp file + fsync + rename)."""
    atomic_write_text(folder / MANIFEST, manifest.to_json())


def upgrade_hint(folder: Path) -> str:
    return f"upgrade it with 'vocabfree db upgrade {folder}'"


def read_manifest(folder: str | Path) -> Manifest:
    """Read and check a manifest (structure and format only; files are checked by ``verify``), raising a
    one-line ``DatabaseError`` that says what is wrong."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise DatabaseError(f"no caption database at {folder}: not a directory; build one with 'vocabfree db build'")
    if not path.is_file():
        partial = (
            " (a build was interrupted: rerun 'vocabfree db build ... --resume')"
            if any(folder.parent.glob(f"{folder.name}.partial*"))
            else ""
        )
        raise DatabaseError(f"{folder} is not a complete caption database: {MANIFEST} is missing{partial}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise DatabaseError(f"{path} is corrupt ({exc}); rebuild the database") from exc
    if not isinstance(data, dict):
        raise DatabaseError(f"{path} is corrupt: not a JSON object; rebuild the database")
    version = data.get("format_version")
    if version == 1:
        raise DatabaseError(
            f"{folder} is a format-1 database (float32, no checksums) made by an older "
            f"vocabfree: {upgrade_hint(folder)}"
        )
    if not isinstance(version, int):
        raise DatabaseError(f"{path} is corrupt: no format_version; rebuild the database")
    if version > FORMAT_VERSION:
        raise DatabaseError(
            f"{folder} uses database format {version}; this vocabfree reads up to {FORMAT_VERSION}: upgrade vocabfree"
        )
    files = data.get("files")
    if (
        not isinstance(files, dict)
        or not files
        or not all(
            isinstance(e, dict) and isinstance(e.get("bytes"), int) and isinstance(e.get("sha256"), str)
            for e in files.values()
        )
    ):
        raise DatabaseError(
            f"{path} is corrupt: it lacks the 'files' table of sizes and checksums; rebuild the database"
        )
    known = {f.name for f in fields(Manifest)}
    try:
        data = {k: v for k, v in data.items() if k in known}
        data["corpora"] = tuple(data.get("corpora", ()))
        data["shards"] = tuple(data.get("shards", ()))
        manifest = Manifest(**data)
        counts = [int(s["count"]) for s in manifest.shards]
        int(manifest.embed_dim), int(manifest.count), dict(manifest.index)
    except (TypeError, KeyError, ValueError) as exc:
        raise DatabaseError(f"{path} is corrupt ({exc}); rebuild the database") from exc
    if sum(counts) != manifest.count:
        raise DatabaseError(
            f"{path} is inconsistent: shards hold {sum(counts)} captions, count says "
            f"{manifest.count}; rebuild the database"
        )
    return manifest
