"""Caption shards: the unit a database is embedded, written, resumed, verified and stored in.

One layout for every engine (local build, ``db import``, the Ray engine), so a shard written anywhere has
the same bytes. Shard ``k`` of a database lives in its ``shards/`` folder as three files::

    shards/000042.arrow   the captions, Arrow IPC file, one column ``caption`` (utf8), in corpus order
    shards/000042.npy     their text embeddings, ``np.save`` of a (count, dims) float16 array, rows
                          L2-normalised in float32 before the cast to float16
    shards/000042.json    the shard manifest, written last (its presence marks the shard as finished):
        {"shard": 42, "count": n, "dims": D, "model": "hf:...", "dtype": "float16",
         "captions_sha256": sha256("\\n".join(captions)),
         "files": {"000042.arrow": {"bytes": ..., "sha256": ...}, "000042.npy": {"bytes": ..., "sha256": ...}}}

Each file is written to a temporary name, fsync'ed and renamed (``vocabfree.atomic``). A shard whose ``.json``
is missing, or whose files do not match the sizes and SHA-256 checksums recorded there, is not finished and is
redone.
Row ``i`` of the whole database is row ``i - offset[k]`` of the shard ``k`` that holds it, shards in order.

Engines use four functions:

- ``caption_shards(sources, shard_size)``: the deduplicated captions of the corpora, streamed as
  ``(k, [captions])`` with every shard but the last holding exactly ``shard_size`` captions;
- ``embed_shard(model, captions, batch_size)``: (n, D) float16 L2-normalised embeddings (pure; no I/O);
- ``write_shard(folder, k, captions, embeddings, meta)``: the three files above, atomically;
- ``shard_done(folder, k, captions_sha256=...)`` / ``read_shard(folder, k)``: resume and read back.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vocabfree.atomic import atomic_write, atomic_write_text
from vocabfree.database.files import check_files, file_entry
from vocabfree.errors import DatabaseError

if TYPE_CHECKING:
    from vocabfree.models.protocol import VisionLanguageModel

SHARDS = "shards"
DTYPE = "float16"


def shard_name(k: int) -> str:
    """``000042`` for shard 42 (the stem of its three files)."""
    return f"{k:06d}"


def captions_sha256(captions: Iterable[str]) -> str:
    """SHA-256 of the captions joined by newlines: what a resumed build compares shard by shard."""
    digest = hashlib.sha256()
    for i, caption in enumerate(captions):
        digest.update((b"\n" if i else b"") + caption.encode("utf-8"))
    return digest.hexdigest()


@dataclass(frozen=True)
class ShardInfo:
    """The content of a shard's ``.json``."""

    shard: int
    count: int
    dims: int
    model: str
    captions_sha256: str
    files: dict  # file name -> {"bytes", "sha256"}
    dtype: str = DTYPE

    def to_dict(self) -> dict:
        return {
            "shard": self.shard,
            "count": self.count,
            "dims": self.dims,
            "model": self.model,
            "dtype": self.dtype,
            "captions_sha256": self.captions_sha256,
            "files": self.files,
        }


def embed_shard(model: VisionLanguageModel, captions: Sequence[str], batch_size: int = 256) -> np.ndarray:
    """Embed ``captions`` with ``model.encode_texts``: (n, D) float16, rows L2-normalised (in float32)."""
    from vocabfree.models.protocol import l2_normalize

    emb = np.asarray(model.encode_texts(list(captions), batch_size=batch_size), dtype=np.float32)
    if emb.shape != (len(captions), int(model.embed_dim)):
        raise DatabaseError(
            f"model {model.name} returned embeddings of shape {emb.shape}, "
            f"expected {(len(captions), int(model.embed_dim))}"
        )
    return l2_normalize(emb).astype(np.float16)


def write_shard(
    folder: str | os.PathLike, k: int, captions: Sequence[str], embeddings: np.ndarray, meta: dict
) -> ShardInfo:
    """Write shard ``k`` (captions, float16 embeddings, then its ``.json``) into ``folder`` atomically.

    ``meta`` must hold ``model`` (the embedding model's name). ``embeddings`` (n, D) may be float32 or
    float16; they are stored as float16 exactly as given (normalise first: ``embed_shard`` does).
    """
    import pyarrow as pa

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    captions = list(captions)
    emb = np.ascontiguousarray(embeddings, dtype=np.float16)
    if emb.ndim != 2 or emb.shape[0] != len(captions):
        raise DatabaseError(f"shard {k}: {len(captions)} captions but embeddings of shape {emb.shape}")
    if not np.isfinite(emb).all():
        raise DatabaseError(f"shard {k}: embeddings contain NaN or infinity")
    stem = shard_name(k)
    table = pa.table({"caption": pa.array(captions, type=pa.string())})

    def write_arrow(fh):
        with pa.ipc.new_file(fh, table.schema) as writer:
            writer.write_table(table)

    atomic_write(folder / f"{stem}.arrow", write_arrow)
    atomic_write(folder / f"{stem}.npy", lambda fh: np.save(fh, emb))
    info = ShardInfo(
        shard=k,
        count=len(captions),
        dims=int(emb.shape[1]),
        model=str(meta["model"]),
        captions_sha256=captions_sha256(captions),
        files={f"{stem}{ext}": file_entry(folder / f"{stem}{ext}") for ext in (".arrow", ".npy")},
    )
    atomic_write_text(folder / f"{stem}.json", json.dumps(info.to_dict(), indent=1))
    return info


def read_shard_info(folder: str | os.PathLike, k: int) -> ShardInfo:
    """Parse shard ``k``'s ``.json``; ``DatabaseError`` naming the file if it is missing or malformed."""
    path = Path(folder) / f"{shard_name(k)}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")
        return ShardInfo(**data)
    except FileNotFoundError as exc:
        raise DatabaseError(f"shard manifest {path} is missing") from exc
    except (OSError, ValueError, TypeError) as exc:
        raise DatabaseError(f"shard manifest {path} is corrupt ({exc})") from exc


def shard_done(
    folder: str | os.PathLike,
    k: int,
    *,
    captions_sha256: str | None = None,
    model: str | None = None,
    dims: int | None = None,
) -> bool:
    """True if shard ``k`` is finished and intact (files match its ``.json``), and, where given, holds
    exactly these captions and was embedded by this model at these dims. Any mismatch: redo it."""
    try:
        info = read_shard_info(folder, k)
        check_files(Path(folder), info.files)
    except DatabaseError:
        return False
    return (
        (captions_sha256 is None or info.captions_sha256 == captions_sha256)
        and (model is None or info.model == model)
        and (dims is None or info.dims == dims)
    )


def read_shard(folder: str | os.PathLike, k: int, *, mmap: bool = True) -> tuple[list[str], np.ndarray, ShardInfo]:
    """Captions, (n, D) float16 embeddings (memory-mapped) and info of shard ``k``, checked for consistency."""
    import pyarrow as pa

    folder = Path(folder)
    info = read_shard_info(folder, k)
    stem = shard_name(k)
    try:
        with pa.memory_map(str(folder / f"{stem}.arrow"), "r") as source:
            captions = pa.ipc.open_file(source).read_all().column("caption").to_pylist()
        emb = np.load(folder / f"{stem}.npy", mmap_mode="r" if mmap else None)
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        raise DatabaseError(f"shard {folder / stem} is unreadable ({exc})") from exc
    if len(captions) != info.count or emb.shape != (info.count, info.dims) or emb.dtype != np.float16:
        raise DatabaseError(
            f"shard {folder / stem} is inconsistent: {len(captions)} captions, embeddings "
            f"{emb.shape} {emb.dtype}, its manifest says {info.count} x {info.dims} float16"
        )
    return captions, emb, info


def split_shards(captions: Iterable[str], shard_size: int) -> Iterator[tuple[int, list[str]]]:
    """Group a caption stream into ``(k, captions)`` of ``shard_size`` (the last may be shorter)."""
    if shard_size < 1:
        raise ValueError("shard_size must be >= 1")
    block: list[str] = []
    k = 0
    for caption in captions:
        block.append(caption)
        if len(block) == shard_size:
            yield k, block
            k, block = k + 1, []
    if block:
        yield k, block


def caption_shards(sources, shard_size: int) -> Iterator[tuple[int, list[str]]]:
    """The normalised, exactly deduplicated captions of ``sources`` (``CorpusSource`` objects, read in
    order, streaming), as ``(k, captions)`` shards: the plan every engine embeds."""
    from vocabfree.database.readers import stream_unique

    return split_shards(stream_unique(sources), shard_size)


def map_npy(path: str | os.PathLike) -> tuple[np.ndarray, mmap.mmap]:
    """A read-only memory-mapped ``.npy`` array and its ``mmap`` object. Like ``np.load(mmap_mode="r")``, but
    the mapping is ours, so a scan can drop its pages from this process (``ShardSet.release``): numpy's
    ``memmap`` keeps it private, and without that a full scan of N float16 rows counts 2*N*D bytes in RSS."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        offset = f.tell()
        mapping = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    if fortran or dtype.hasobject:
        raise ValueError(f"{path}: expected a C-ordered numeric array")
    count = int(np.prod(shape))
    return np.frombuffer(mapping, dtype=dtype, count=count, offset=offset).reshape(shape), mapping


def _advise(mapping: mmap.mmap, advice: str) -> None:
    """``madvise`` where the platform has it (Linux, macOS); elsewhere a no-op: only memory use differs."""
    if hasattr(mapping, "madvise") and hasattr(mmap, advice):
        mapping.madvise(getattr(mmap, advice))


class ShardSet:
    """Shards ``0..len(counts)-1`` of a folder opened together: captions and float16 embeddings memory-mapped,
    addressed by global row id (shard order). Used by the index build, search and verification."""

    def __init__(self, folder: str | os.PathLike, counts: Sequence[int]):
        import pyarrow as pa

        self.folder = Path(folder)
        self._maps, chunks, self._emb, self._emb_maps = [], [], [], []
        for k, count in enumerate(counts):
            stem = self.folder / shard_name(k)
            try:
                source = pa.memory_map(f"{stem}.arrow", "r")
                self._maps.append(source)
                chunks.append(pa.ipc.open_file(source).read_all().column("caption").combine_chunks())
                emb, mapping = map_npy(f"{stem}.npy")
                self._emb.append(emb)
                self._emb_maps.append(mapping)
                _advise(mapping, "MADV_RANDOM")  # search and sampling read scattered rows: no read-ahead
            except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
                raise DatabaseError(f"shard {stem} is unreadable ({exc})") from exc
            if len(chunks[-1]) != count or self._emb[-1].shape[0] != count or self._emb[-1].dtype != np.float16:
                raise DatabaseError(
                    f"shard {stem} is inconsistent: {len(chunks[-1])} captions, embeddings "
                    f"{self._emb[-1].shape} {self._emb[-1].dtype}, the manifest says {count} rows"
                )
        dims = {e.shape[1] for e in self._emb}
        if len(dims) > 1:
            raise DatabaseError(f"shards in {self.folder} have different dims {sorted(dims)}")
        self.dim = dims.pop() if dims else 0
        self.captions = pa.chunked_array(chunks, type=pa.string()) if chunks else pa.chunked_array([], pa.string())
        self.offsets = np.concatenate([[0], np.cumsum(np.asarray(counts, dtype=np.int64))])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def rows(self, ids: np.ndarray, *, release: bool = False) -> np.ndarray:
        """Embeddings of global rows ``ids`` (any shape of int ids), as float32 of shape ids.shape + (D,).
        ``release``: give each shard's pages back once read (bulk reads: a training sample, tuning); the
        kernel maps neighbouring cached pages on every fault, so scattered rows would map whole shards."""
        ids = np.asarray(ids, dtype=np.int64)
        which, local = self._locate(ids.reshape(-1))
        out = np.empty((len(which), self.dim), dtype=np.float32)
        for k in np.unique(which):
            sel = which == k
            out[sel] = self._emb[k][local[sel]]
            if release:
                self.release(int(k))
        return out.reshape(ids.shape + (self.dim,))

    def texts(self, ids: np.ndarray) -> list[str]:
        """Caption texts of global rows ``ids`` (1-d, in range), in order."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) > 256:  # many rows: one vectorised take
            return self.captions.take(ids).to_pylist()
        # a search's few hits: ChunkedArray.take costs ~0.8 ms per call at 16 shards (it resolves every chunk),
        # reading the scalars from their own shard ~1 us each
        which, local = self._locate(ids)
        chunks = self.captions.chunks
        return [chunks[k][i].as_py() for k, i in zip(which.tolist(), local.tolist(), strict=True)]

    def _locate(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(shard, row within that shard) of each global row id in the 1-d ``ids``."""
        which = np.searchsorted(self.offsets, ids, side="right") - 1
        return which, ids - self.offsets[which]

    def blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        """``(first row id, float16 embeddings)`` of each shard, in order (memory-mapped)."""
        for k, emb in enumerate(self._emb):
            _advise(self._emb_maps[k], "MADV_SEQUENTIAL")
            yield int(self.offsets[k]), emb
            self.release(k)  # a scan of every shard must not keep them all resident in this process
            _advise(self._emb_maps[k], "MADV_RANDOM")

    def release(self, k: int | None = None) -> None:
        """Drop the pages of shard ``k`` (all shards if None) from this process; they stay in the page cache and
        the arrays stay valid (read again on access). Bounds the RSS of builds and scans by one shard."""
        for mapping in self._emb_maps if k is None else self._emb_maps[k : k + 1]:
            _advise(mapping, "MADV_DONTNEED")

    def close(self) -> None:
        for source in self._maps:
            source.close()
