"""Building a caption database: embed in chunks (resumable), index, then appear atomically.

Layout while building, next to the target folder ``DIR``::

    DIR.partial/build.json      what is being built (model, corpora hashes, chunking); checked on --resume
    DIR.partial/captions.arrow  the deduplicated captions, written first
    DIR.partial/chunks/000000.npy ...  text embeddings, one file per chunk, each written atomically

When every chunk exists, the chunks are concatenated into ``embeddings.npy``, the FAISS index is built,
``manifest.json`` is written, and ``DIR.partial`` is renamed to ``DIR`` in one step. A killed build leaves
only ``DIR.partial``; rerunning with ``resume=True`` re-embeds just the missing chunks. An existing ``DIR``
is never touched unless ``overwrite=True``, and then only replaced after the new one is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from vocabfree.database.corpus import NORMALISATION, CorpusSource, deduplicate
from vocabfree.database.index import IndexConfig, build_index
from vocabfree.database.manifest import CAPTIONS, EMBEDDINGS, INDEX, MANIFEST, Manifest, write_manifest
from vocabfree.errors import DatabaseError, InvalidInputError
from vocabfree.models.protocol import VisionLanguageModel, l2_normalize

BUILD_STATE = "build.json"
CHUNKS = "chunks"


@dataclass(frozen=True)
class BuildConfig:
    """How a database is built. ``chunk_size`` is the unit of resumption (captions per chunk file)."""

    chunk_size: int = 4096
    batch_size: int = 256  # texts per forward pass of the text encoder
    index: IndexConfig = field(default_factory=IndexConfig)


@dataclass(frozen=True)
class BuildReport:
    """What a build did: ``encoded`` counts captions embedded in this run (fewer than ``count`` on resume)."""

    path: Path
    count: int
    encoded: int
    chunks_reused: int
    seconds: float
    encode_seconds: float

    @property
    def captions_per_second(self) -> float:
        """Text-embedding throughput of this run (captions encoded / time spent encoding)."""
        return self.encoded / self.encode_seconds if self.encode_seconds > 0 else float("nan")


def partial_dir(out: Path) -> Path:
    """The temporary folder a build of ``out`` works in."""
    return out.parent / f"{out.name}.partial"


def _atomic_save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, array)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def _write_captions(path: Path, captions: Sequence[str]) -> None:
    import pyarrow as pa

    table = pa.table({"caption": pa.array(list(captions), type=pa.large_string())})
    tmp = path.with_name(path.name + ".tmp")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=65536)
    tmp.replace(path)


def _build_state(model: VisionLanguageModel, sources: Sequence[CorpusSource], captions: Sequence[str],
                 config: BuildConfig) -> dict:
    digest = hashlib.sha256("\n".join(captions).encode("utf-8")).hexdigest()
    return {
        "model": model.name,
        "embed_dim": int(model.embed_dim),
        "corpora": [{"name": s.name, "sha256": s.sha256} for s in sources],
        "count": len(captions),
        "captions_sha256": digest,
        "chunk_size": config.chunk_size,
    }


def _prepare_workdir(work: Path, state: dict, resume: bool) -> None:
    state_file = work / BUILD_STATE
    if work.exists():
        if not resume:
            raise DatabaseError(
                f"an interrupted build exists at {work}; pass --resume to continue it, or delete that folder"
            )
        try:
            old = json.loads(state_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DatabaseError(
                f"cannot resume from {work}: {BUILD_STATE} unreadable ({exc}); delete the folder"
            ) from exc
        changed = [key for key in state if old.get(key) != state[key]]
        if changed:
            raise DatabaseError(
                f"cannot resume the build in {work}: {', '.join(changed)} changed since it started "
                "(same corpora, model and chunk size are needed); delete that folder to start over"
            )
        return
    (work / CHUNKS).mkdir(parents=True)
    tmp = state_file.with_name(BUILD_STATE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2), encoding="utf-8")
    tmp.replace(state_file)


def _chunk_done(path: Path, rows: int, dim: int) -> bool:
    if not path.is_file():
        return False
    try:
        arr = np.load(path, mmap_mode="r")
    except (ValueError, OSError):
        return False  # a torn file from a crash during the (non-atomic) first write: redo it
    return arr.shape == (rows, dim) and arr.dtype == np.float32


def build_database(
    model: VisionLanguageModel,
    sources: Sequence[CorpusSource],
    out: str | os.PathLike,
    *,
    config: BuildConfig | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = False,
) -> BuildReport:
    """Embed the captions of ``sources`` with ``model`` and write a database folder at ``out``.

    Captions are normalised and deduplicated across all sources (first occurrence wins). Raises
    ``InvalidInputError`` if ``out`` exists (without ``overwrite``) or there are no captions, and
    ``DatabaseError`` if an interrupted build is found without ``resume`` or cannot be resumed.
    """
    config = config or BuildConfig()
    if config.chunk_size < 1 or config.batch_size < 1:
        raise InvalidInputError("chunk_size and batch_size must be >= 1")
    out = Path(out)
    if out.exists() and not overwrite:
        raise InvalidInputError(f"{out} already exists; pass --overwrite to replace it")
    started = time.perf_counter()
    captions = deduplicate(t for s in sources for t in s.texts)
    if not captions:
        raise InvalidInputError("the corpora contain no captions (after dropping empty lines)")
    dim = int(model.embed_dim)
    work = partial_dir(out)
    if resume and (work / MANIFEST).is_file():  # killed after the manifest was written: just publish
        _finish(work, out)
        return BuildReport(out, len(captions), 0, 0, time.perf_counter() - started, 0.0)
    out.parent.mkdir(parents=True, exist_ok=True)
    _prepare_workdir(work, _build_state(model, sources, captions, config), resume)
    if not (work / CAPTIONS).is_file():
        _write_captions(work / CAPTIONS, captions)

    from tqdm.auto import tqdm

    starts = range(0, len(captions), config.chunk_size)
    chunk_paths = [work / CHUNKS / f"{i:06d}.npy" for i in range(len(starts))]
    sizes = [min(config.chunk_size, len(captions) - s) for s in starts]
    done = [_chunk_done(p, n, dim) for p, n in zip(chunk_paths, sizes, strict=True)]
    already = sum(n for n, d in zip(sizes, done, strict=True) if d)
    encoded, encode_seconds = 0, 0.0
    with tqdm(total=len(captions), initial=already, desc=f"embed captions ({model.name})", unit="cap",
              disable=not progress, smoothing=0.1) as bar:
        for path, start, is_done in zip(chunk_paths, starts, done, strict=False):
            if is_done:
                continue
            texts = captions[start : start + config.chunk_size]
            t0 = time.perf_counter()
            emb = l2_normalize(model.encode_texts(texts, batch_size=config.batch_size))
            encode_seconds += time.perf_counter() - t0
            if emb.shape != (len(texts), dim):
                raise DatabaseError(f"model {model.name} returned embeddings of shape {emb.shape}, "
                                    f"expected {(len(texts), dim)}")
            _atomic_save_npy(path, emb)
            encoded += len(texts)
            bar.update(len(texts))

    embeddings = np.lib.format.open_memmap(work / (EMBEDDINGS + ".tmp"), mode="w+", dtype=np.float32,
                                           shape=(len(captions), dim))
    for path, start in zip(chunk_paths, starts, strict=False):
        part = np.load(path)
        embeddings[start : start + len(part)] = part
    embeddings.flush()
    del embeddings
    (work / (EMBEDDINGS + ".tmp")).replace(work / EMBEDDINGS)

    import faiss

    index = build_index(np.load(work / EMBEDDINGS, mmap_mode="r"), config.index)
    faiss.write_index(index, str(work / (INDEX + ".tmp")))
    (work / (INDEX + ".tmp")).replace(work / INDEX)
    del index

    files = {name: (work / name).stat().st_size for name in (CAPTIONS, EMBEDDINGS, INDEX)}
    manifest = Manifest(
        model=model.name,
        embed_dim=dim,
        count=len(captions),
        index=asdict(config.index),
        normalisation=NORMALISATION,
        corpora=tuple({"name": s.name, "sha256": s.sha256, "texts": len(s.texts)} for s in sources),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        files=files,
    )
    write_manifest(work, manifest)
    _finish(work, out)
    return BuildReport(out, len(captions), encoded, sum(done), time.perf_counter() - started, encode_seconds)


def _finish(work: Path, out: Path) -> None:
    """Drop the build scratch files and rename the finished build to ``out``; an old ``out`` is moved aside
    first and deleted last, so some complete database is always in place."""
    if not (work / MANIFEST).is_file():  # internal invariant: only finished builds are published
        raise DatabaseError(f"refusing to publish {work}: no manifest")
    shutil.rmtree(work / CHUNKS, ignore_errors=True)
    (work / BUILD_STATE).unlink(missing_ok=True)
    old = None
    if out.exists():
        old = out.parent / f"{out.name}.old-{os.getpid()}"
        out.replace(old)
    work.replace(out)
    if old is not None:
        shutil.rmtree(old) if old.is_dir() else old.unlink()
