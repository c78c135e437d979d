"""``db import`` and ``db upgrade``: databases from embeddings computed elsewhere, without re-embedding.

Sources:

- clip-retrieval / LAION layout: a folder with ``text_emb/text_emb_{i}.npy`` and
  ``metadata/metadata_{i}.parquet`` (row ``j`` of one is row ``j`` of the other; a caption column);
- parquet files (a file, folder or glob) with a caption column and an embedding column (a list of floats);
- a vocabfree database (to index it another way: ``--index``, ``--index-memory``);
- a format-1 vocabfree database (``captions.arrow`` + float32 ``embeddings.npy``): ``upgrade_database``.

Rows go through the same path as ``db build``: captions normalised, exact duplicates dropped (first wins),
rows L2-normalised in float32 (``norms="fix"``, default; ``"check"`` refuses vectors whose norm is off by
more than ``NORM_TOLERANCE``; zero or non-finite vectors are always refused), cut into shards of
``shard_size``, indexed and published atomically; an interrupted import resumes. Importing the embeddings a
model gave for some captions therefore yields the same shards as building from those captions.
"""

from __future__ import annotations

import glob as globlib
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vocabfree.database.build import (
    BuildConfig,
    BuildReport,
    build_state,
    finish_build,
    partial_dir,
    prepare_build,
    publish,
    replace_folder,
)
from vocabfree.database.manifest import CAPTIONS, EMBEDDINGS, MANIFEST
from vocabfree.database.readers import HashSet64, _pick_column, normalise, text_hashes
from vocabfree.database.shards import captions_sha256, shard_done, write_shard
from vocabfree.errors import DatabaseError, IndexMismatchError, InvalidInputError

NORM_TOLERANCE = 1e-2
EMBEDDING_COLUMNS = ("embedding", "text_embedding", "emb", "vector")
_BATCH = 65536


@dataclass(frozen=True)
class _Source:
    name: str
    sha256: str


def _numbered(folder: Path, prefix: str, suffix: str) -> dict[int, Path]:
    pattern = re.compile(rf"{prefix}_?(\d+){re.escape(suffix)}$")
    return {int(m.group(1)): p for p in folder.glob(f"{prefix}*{suffix}") if (m := pattern.match(p.name))}


def _fingerprint(paths: list[Path], hash_bytes: bool) -> str:
    """Names and sizes of the files, and their bytes where ``hash_bytes`` (embedding files are identified by
    name and size only: hashing hundreds of GB before starting would cost more than the import)."""
    from vocabfree.database.files import file_sha256

    digest = hashlib.sha256()
    for p in paths:
        digest.update(f"{p.name}\0{p.stat().st_size}\0{file_sha256(p) if hash_bytes else ''}\n".encode())
    return digest.hexdigest()


def _clip_retrieval(folder: Path, caption_column: str | None) -> tuple[Iterator, list[_Source]]:
    embs = _numbered(folder / "text_emb", "text_emb", ".npy")
    metas = _numbered(folder / "metadata", "metadata", ".parquet")
    if not embs:
        raise InvalidInputError(f"{folder}: no text_emb/text_emb_*.npy files (clip-retrieval layout)")
    if sorted(embs) != sorted(metas):
        raise InvalidInputError(f"{folder}: text_emb parts {sorted(embs)} and metadata parts {sorted(metas)} differ")

    def batches():
        import pyarrow.parquet as pq

        for i in sorted(embs):
            emb = np.load(embs[i], mmap_mode="r")
            meta = pq.ParquetFile(metas[i])
            if meta.metadata.num_rows != len(emb):
                raise InvalidInputError(
                    f"{embs[i].name} has {len(emb)} rows but {metas[i].name} has "
                    f"{meta.metadata.num_rows}: rows must be aligned"
                )
            name = _pick_column(meta.schema_arrow.names, caption_column, metas[i])
            start = 0
            for batch in meta.iter_batches(batch_size=_BATCH, columns=[name]):
                texts = batch.column(0).to_pylist()
                yield embs[i], texts, emb[start : start + len(texts)]
                start += len(texts)

    order = sorted(embs)
    sources = [
        _Source(f"{folder}/text_emb", _fingerprint([embs[i] for i in order], hash_bytes=False)),
        _Source(f"{folder}/metadata", _fingerprint([metas[i] for i in order], hash_bytes=True)),
    ]
    return batches(), sources


def _parquet(source: str | os.PathLike[str], caption_column: str | None, embedding_column: str | None):
    from vocabfree.database.readers import _expand

    files = [p for p in _expand(source) if p.suffix.lower() == ".parquet"]
    if not files:
        raise InvalidInputError(f"{source}: no parquet files with embeddings")

    def batches():
        import pyarrow.parquet as pq

        for path in files:
            file = pq.ParquetFile(path)
            names = file.schema_arrow.names
            text = _pick_column(names, caption_column, path)
            column = embedding_column or next((c for c in EMBEDDING_COLUMNS if c in names), None)
            if column not in names:
                raise InvalidInputError(
                    f"{path}: no embedding column (tried {', '.join(EMBEDDING_COLUMNS)}); pass --embedding-column NAME"
                )
            for batch in file.iter_batches(batch_size=_BATCH, columns=[text, column]):
                values = batch.column(1)
                try:
                    emb = np.stack(values.to_numpy(zero_copy_only=False)) if len(values) else np.empty((0, 0))
                except ValueError as exc:
                    raise InvalidInputError(f"{path}: column '{column}' is not a list of equal-length vectors") from exc
                yield path, batch.column(0).to_pylist(), emb

    return batches(), [_Source(str(source), _fingerprint(files, hash_bytes=True))]


def _v1(folder: Path):
    import pyarrow as pa

    def batches():
        with pa.memory_map(str(folder / CAPTIONS), "r") as src:
            captions = pa.ipc.open_file(src).read_all().column("caption")
            emb = np.load(folder / EMBEDDINGS, mmap_mode="r")
            for start in range(0, len(emb), _BATCH):
                yield folder / EMBEDDINGS, captions.slice(start, _BATCH).to_pylist(), emb[start : start + _BATCH]

    files = [folder / CAPTIONS, folder / EMBEDDINGS]
    return batches(), [_Source(str(folder), _fingerprint(files, hash_bytes=False))]


def _v2(folder: Path, model_name: str):
    """Another (format 2) vocabfree database: re-index it (another ``--index``) without re-embedding."""
    from vocabfree.database.manifest import read_manifest
    from vocabfree.database.shards import SHARDS, ShardSet

    manifest = read_manifest(folder)
    if manifest.model != model_name:
        raise IndexMismatchError(f"{folder} holds embeddings of '{manifest.model}', not of '{model_name}'")

    def batches():
        vectors = ShardSet(folder / SHARDS, [int(s["count"]) for s in manifest.shards])
        for start, emb in vectors.blocks():
            yield folder, vectors.captions.slice(start, len(emb)).to_pylist(), emb

    return batches(), [_Source(str(folder), _fingerprint([folder / MANIFEST], hash_bytes=True))]


def _unit_rows(emb: np.ndarray, where: Path, dim: int, norms: str) -> np.ndarray:
    x = np.asarray(emb, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != dim:
        raise IndexMismatchError(f"{where}: embeddings have shape {x.shape}, the model gives {dim}-d vectors")
    n = np.linalg.norm(x, axis=1)
    if not np.isfinite(x).all() or (n == 0).any():
        raise InvalidInputError(f"{where}: zero, NaN or infinite embeddings cannot be imported")
    if norms == "check" and (bad := np.abs(n - 1) > NORM_TOLERANCE).any():
        raise InvalidInputError(
            f"{where}: {int(bad.sum())} embeddings are not L2-normalised (norm "
            f"{float(n[bad][0]):.4g}); pass --norms fix to normalise them"
        )
    from vocabfree.models.protocol import l2_normalize

    return l2_normalize(x)


def import_rows(
    batches,
    sources,
    out: str | os.PathLike,
    *,
    model_name: str,
    embed_dim: int,
    norms: str = "fix",
    config: BuildConfig | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = False,
) -> BuildReport:
    """Write a database from ``(where, captions, embeddings)`` batches (the engine of every import)."""
    if norms not in ("fix", "check"):
        raise InvalidInputError(f"norms must be 'fix' or 'check', got '{norms}'")
    config = config or BuildConfig()
    started = time.perf_counter()
    plan = prepare_build(
        build_state(model_name, embed_dim, sources, config.shard_size, source="import"),
        out,
        resume=resume,
        overwrite=overwrite,
    )
    if (plan.work / MANIFEST).is_file():
        manifest = publish(plan)
        return BuildReport(
            plan.out, manifest.count, 0, len(manifest.shards), time.perf_counter() - started, 0.0, manifest.index
        )
    from tqdm.auto import tqdm

    seen, texts_read = HashSet64(), 0
    counts: list[int] = []
    buf_caps: list[str] = []
    buf_emb: list[np.ndarray] = []
    stats = {"written": 0, "reused": 0, "duplicates": 0}

    def flush(final: bool) -> None:
        nonlocal buf_caps, buf_emb
        emb = np.concatenate(buf_emb) if buf_emb else np.empty((0, embed_dim), np.float32)
        while len(buf_caps) >= config.shard_size or (final and buf_caps):
            k, caps, part = len(counts), buf_caps[: config.shard_size], emb[: config.shard_size]
            counts.append(len(caps))
            if shard_done(plan.shards, k, captions_sha256=captions_sha256(caps), model=model_name, dims=embed_dim):
                stats["reused"] += 1
            else:
                write_shard(plan.shards, k, caps, part, {"model": model_name})
                stats["written"] += len(caps)
            buf_caps, emb = buf_caps[config.shard_size :], emb[config.shard_size :]
        buf_emb = [emb]

    with tqdm(desc=f"import embeddings ({model_name})", unit="row", disable=not progress) as bar:
        for where, captions, emb in batches:
            texts_read += len(captions)
            emb = _unit_rows(emb, where, embed_dim, norms) if len(captions) else emb
            normalised = [normalise(t) if t is not None else "" for t in captions]
            keep = np.array([bool(t) for t in normalised], dtype=bool)
            kept = [t for t, m in zip(normalised, keep, strict=True) if m]
            new = seen.add_new(text_hashes(kept))
            stats["duplicates"] += len(kept) - int(new.sum())
            buf_caps += [t for t, m in zip(kept, new, strict=True) if m]
            buf_emb.append(emb[keep][new])
            flush(final=False)
            bar.update(len(captions))
        flush(final=True)
    if not counts:
        raise InvalidInputError("the source holds no captions (after dropping empty ones)")
    corpora = [{"name": s.name, "sha256": s.sha256, "texts": texts_read} for s in sources]
    manifest = finish_build(plan, counts, corpora, config.index, progress=progress)
    return BuildReport(
        plan.out,
        manifest.count,
        stats["written"],
        stats["reused"],
        time.perf_counter() - started,
        0.0,
        manifest.index,
        stats["duplicates"],
    )


def import_database(
    source: str | os.PathLike,
    out: str | os.PathLike,
    *,
    model_name: str,
    embed_dim: int,
    caption_column: str | None = None,
    embedding_column: str | None = None,
    **kwargs,
) -> BuildReport:
    """Import a clip-retrieval folder (``text_emb/`` + ``metadata/``) or parquet files with an embedding
    column; ``model_name``/``embed_dim`` name the model that made the embeddings (queries must use it)."""
    path = Path(source)
    if path.is_dir() and (path / MANIFEST).is_file():
        batches, sources = _v2(path, model_name)
    elif path.is_dir() and (path / "text_emb").is_dir():
        batches, sources = _clip_retrieval(path, caption_column)
    elif path.exists() or any(ch in str(source) for ch in "*?["):
        if not path.exists() and not globlib.glob(str(source)):
            raise InvalidInputError(f"nothing to import matches {source}")
        batches, sources = _parquet(source, caption_column, embedding_column)
    else:
        raise InvalidInputError(f"nothing to import at {source}")
    return import_rows(batches, sources, out, model_name=model_name, embed_dim=embed_dim, **kwargs)


def upgrade_database(
    path: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    config: BuildConfig | None = None,
    progress: bool = False,
) -> BuildReport:
    """Rewrite a format-1 database (float32 ``embeddings.npy``, sizes only) as format 2 (float16 shards,
    checksums, ``auto`` index) at ``out`` (default: in place, replaced only once the new one is complete)."""
    path = Path(path)
    try:
        old = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        model, dim, version = old["model"], int(old["embed_dim"]), old.get("format_version")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatabaseError(f"{path}: cannot read its manifest ({exc})") from exc
    if version != 1:
        raise InvalidInputError(f"{path} is format {version}, not an old (format 1) database: nothing to upgrade")
    target = Path(out) if out is not None else path
    batches, sources = _v1(path)
    work_out = target if out is not None else path.parent / f"{path.name}.upgraded"
    report = import_rows(
        batches,
        sources,
        work_out,
        model_name=model,
        embed_dim=dim,
        config=config,
        resume=partial_dir(work_out).exists(),
        progress=progress,
    )
    if out is None:
        replace_folder(work_out, path, aside="format1")
        report = BuildReport(
            path,
            report.count,
            report.encoded,
            report.shards_reused,
            report.seconds,
            0.0,
            report.index,
            report.duplicates,
        )
    return report
