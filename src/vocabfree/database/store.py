"""``CaptionDatabase``: a finished database folder, opened read-only and memory-mapped, and its search.

Opening checks the manifest, the file sizes and that captions, embeddings and index agree on the count,
so a partial or corrupt folder fails at ``open`` with a ``DatabaseError`` instead of returning wrong
captions later. Passing the query ``model`` checks it is the one the database was built with.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vocabfree.database.dedup import near_duplicate_mask
from vocabfree.database.index import IndexConfig, read_index
from vocabfree.database.manifest import CAPTIONS, EMBEDDINGS, INDEX, Manifest, read_manifest
from vocabfree.errors import DatabaseError, IndexMismatchError, InvalidInputError
from vocabfree.models.protocol import VisionLanguageModel


@dataclass(frozen=True)
class SearchHits:
    """The captions retrieved for one query, best first."""

    ids: np.ndarray  # (k,) int64 row numbers in the database
    similarities: np.ndarray  # (k,) float32 inner products (cosines) with the query
    captions: tuple[str, ...]  # (k,)
    embeddings: np.ndarray  # (k, D) float32 exact caption embeddings (not the index's approximation)

    def __len__(self) -> int:
        return len(self.captions)


def check_model(manifest: Manifest, model: VisionLanguageModel, where: str | Path) -> None:
    """Raise ``IndexMismatchError`` unless ``model`` is the model the database was built with."""
    if model.name != manifest.model or int(model.embed_dim) != manifest.embed_dim:
        raise IndexMismatchError(
            f"database {where} was built with model '{manifest.model}' ({manifest.embed_dim}-d) but is being "
            f"queried with '{model.name}' ({model.embed_dim}-d); embeddings of different models are not "
            f"comparable: use --model {manifest.model} or rebuild the database with this model"
        )


class CaptionDatabase:
    """Captions, their embeddings and a FAISS index over them. Use ``CaptionDatabase.open(path)``."""

    def __init__(self, path: Path, manifest: Manifest, captions, embeddings: np.ndarray, index):
        self.path = path
        self.manifest = manifest
        self._captions = captions  # pyarrow (Large)StringArray, memory-mapped
        self.embeddings = embeddings  # (N, D) float32, np.memmap read-only
        self._index = index

    @classmethod
    def open(cls, path: str | os.PathLike, *, model: VisionLanguageModel | None = None) -> CaptionDatabase:
        """Open a database folder read-only; with ``model``, refuse a database built with another model."""
        path = Path(path)
        manifest = read_manifest(path)
        if model is not None:
            check_model(manifest, model, path)
        try:
            import pyarrow as pa

            source = pa.memory_map(str(path / CAPTIONS), "r")
            table = pa.ipc.open_file(source).read_all()
            captions = table.column("caption").combine_chunks()
            embeddings = np.load(path / EMBEDDINGS, mmap_mode="r")
        except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
            raise DatabaseError(f"{path} is corrupt: cannot read its captions or embeddings ({exc})") from exc
        try:
            index = read_index(str(path / INDEX), IndexConfig(**manifest.index))
        except (RuntimeError, TypeError) as exc:
            raise DatabaseError(f"{path} is corrupt: cannot read {INDEX} ({exc})") from exc
        counts = {"captions": len(captions), "embeddings": embeddings.shape[0], "index": int(index.ntotal)}
        if set(counts.values()) != {manifest.count} or embeddings.shape[1:] != (manifest.embed_dim,):
            raise DatabaseError(
                f"{path} is inconsistent: manifest says {manifest.count} captions of dim {manifest.embed_dim}, "
                f"found {counts} and embeddings {embeddings.shape}; rebuild the database"
            )
        return cls(path, manifest, captions, embeddings, index)

    @property
    def model_name(self) -> str:
        return self.manifest.model

    @property
    def embed_dim(self) -> int:
        return self.manifest.embed_dim

    def __len__(self) -> int:
        return self.manifest.count

    def __repr__(self) -> str:
        return f"CaptionDatabase({str(self.path)!r}, model={self.model_name!r}, count={len(self)})"

    def captions(self, ids: Sequence[int] | np.ndarray) -> tuple[str, ...]:
        """The caption texts of rows ``ids``."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise InvalidInputError(f"caption ids must be in [0, {len(self)}), got {ids.min()}..{ids.max()}")
        return tuple(self._captions.take(ids).to_pylist())

    def search(self, queries: np.ndarray, k: int = 10, *, dedup_threshold: float | None = None) -> list[SearchHits]:
        """The ``k`` nearest captions of each query (Q, D) or (D,), by inner product, best first.

        With ``dedup_threshold`` (CaSED uses 0.94), near-duplicates among the k hits are removed: hits whose
        embeddings have inner product >= threshold are linked, and only the best-ranked hit of each
        connected group is kept, so fewer than ``k`` hits may come back.
        """
        if k < 1:
            raise InvalidInputError(f"k must be >= 1, got {k}")
        q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if q.ndim != 2 or q.shape[1] != self.embed_dim:
            raise IndexMismatchError(
                f"queries have shape {np.shape(queries)} but database {self.path} holds {self.embed_dim}-d "
                f"embeddings of model '{self.model_name}'"
            )
        sims, ids = self._index.search(np.ascontiguousarray(q), min(k, len(self)))
        hits = []
        for row_sims, row_ids in zip(sims, ids, strict=False):
            keep = row_ids >= 0  # FAISS pads with -1 when an approximate index finds fewer than k
            row_ids, row_sims = row_ids[keep].astype(np.int64), row_sims[keep].astype(np.float32)
            emb = np.asarray(self.embeddings[row_ids], dtype=np.float32)
            if dedup_threshold is not None and len(row_ids) > 1:
                mask = near_duplicate_mask(emb, dedup_threshold)
                row_ids, row_sims, emb = row_ids[mask], row_sims[mask], emb[mask]
            hits.append(SearchHits(row_ids, row_sims, self.captions(row_ids), emb))
        return hits
