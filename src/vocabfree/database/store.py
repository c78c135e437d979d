"""``CaptionDatabase``: a finished database folder, opened read-only and memory-mapped, and its search.

Opening checks the manifest, every file's size, the SHA-256 of the smallest files up to ``VERIFY_ON_OPEN_BYTES``
(``verify="all"`` checks them all, as ``vocabfree db verify`` does), and that shards and index agree on the
count, so a partial or corrupt folder fails at ``open`` with a ``DatabaseError`` instead of returning wrong
captions later. Passing the query ``model`` checks it is the one the database was built with.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vocabfree.database.dedup import near_duplicate_mask
from vocabfree.database.files import check_files
from vocabfree.database.index import candidates, flat_index, read_index, rerank
from vocabfree.database.manifest import INDEX, Manifest, read_manifest
from vocabfree.database.shards import SHARDS, ShardSet
from vocabfree.errors import DatabaseError, IndexMismatchError, InvalidInputError
from vocabfree.models.protocol import VisionLanguageModel

#: Opening checksums the smallest files up to this many bytes in all (SHA-256 reads ~0.7 GB/s): all of a
#: database of up to ~300k captions at 384-d, the manifests and captions of bigger ones. ``db verify``: all.
VERIFY_ON_OPEN_BYTES = 256 << 20


@dataclass(frozen=True)
class SearchHits:
    """The captions retrieved for one query, best first."""

    ids: np.ndarray  # (k,) int64 row numbers in the database
    similarities: np.ndarray  # (k,) float32 exact inner products (cosines) with the stored embeddings
    captions: tuple[str, ...]  # (k,)
    embeddings: np.ndarray  # (k, D) float32 stored caption embeddings (not the index's approximation)

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


def verify_files(path: str | os.PathLike, manifest: Manifest | None = None, *, everything: bool = True) -> Manifest:
    """Check a database folder's files against its manifest (all checksums, or only small files'), raising
    a one-line ``DatabaseError`` naming the first bad file."""
    path = Path(path)
    manifest = manifest or read_manifest(path)
    try:
        check_files(path, manifest.files, budget=None if everything else VERIFY_ON_OPEN_BYTES)
    except DatabaseError as exc:
        raise DatabaseError(f"{exc}; rebuild the database (or restore that file)") from None
    return manifest


class CaptionDatabase:
    """Captions, their float16 embeddings and an index over them. Use ``CaptionDatabase.open(path)``."""

    def __init__(self, path: Path, manifest: Manifest, vectors: ShardSet, index, params: dict | None = None):
        self.path = path
        self.manifest = manifest
        self.vectors = vectors
        self._index = index
        self._params = params or manifest.index  # search parameters: the tuned ones unless overridden

    @classmethod
    def open(
        cls,
        path: str | os.PathLike,
        *,
        model: VisionLanguageModel | None = None,
        verify: str = "small",
        nprobe: int | None = None,
    ) -> CaptionDatabase:
        """Open a database folder read-only; with ``model``, refuse a database built with another model.

        ``verify``: ``"small"`` checksums the smallest files up to ``VERIFY_ON_OPEN_BYTES`` in all (and
        checks every size), ``"all"``
        every file, ``"sizes"`` sizes only. ``nprobe`` overrides the tuned nprobe of an IVF index (efSearch of
        an HNSW one), e.g. for image queries that need more than the captions it was tuned on.
        """
        if verify not in ("small", "all", "sizes"):
            raise InvalidInputError(f"verify must be 'small', 'all' or 'sizes', got '{verify}'")
        path = Path(path)
        manifest = read_manifest(path)
        if model is not None:
            check_model(manifest, model, path)
        if verify == "sizes":
            check_files(path, manifest.files, checksums=False)
        else:
            verify_files(path, manifest, everything=verify == "all")
        vectors = ShardSet(path / SHARDS, [int(s["count"]) for s in manifest.shards])
        params = dict(manifest.index)
        if nprobe is not None and params.get("kind") != "flat":
            if nprobe < 1:
                raise InvalidInputError(f"nprobe must be >= 1, got {nprobe}")
            params["ef_search" if params["kind"] == "hnsw" else "nprobe"] = int(nprobe)
        try:
            index = flat_index(vectors) if params.get("kind") == "flat" else read_index(str(path / INDEX), params)
        except (RuntimeError, TypeError, KeyError) as exc:
            raise DatabaseError(f"{path} is corrupt: cannot read its index ({exc}); rebuild the database") from exc
        if len(vectors) != manifest.count or int(index.ntotal) != manifest.count or vectors.dim != manifest.embed_dim:
            raise DatabaseError(
                f"{path} is inconsistent: manifest says {manifest.count} captions of dim {manifest.embed_dim}, "
                f"found {len(vectors)} shard rows of dim {vectors.dim} and {index.ntotal} indexed; rebuild it"
            )
        return cls(path, manifest, vectors, index, params)

    @property
    def model_name(self) -> str:
        return self.manifest.model

    @property
    def embed_dim(self) -> int:
        return self.manifest.embed_dim

    @property
    def embeddings(self) -> np.ndarray:
        """All (N, D) float16 embeddings in one array (copied from the shards: small databases and tests)."""
        return (
            np.concatenate([emb for _, emb in self.vectors.blocks()])
            if self.manifest.count
            else np.empty((0, self.embed_dim), np.float16)
        )

    def __len__(self) -> int:
        return self.manifest.count

    def __repr__(self) -> str:
        return (
            f"CaptionDatabase({str(self.path)!r}, model={self.model_name!r}, count={len(self)}, "
            f"index={self.manifest.index.get('kind')!r})"
        )

    def captions(self, ids: Sequence[int] | np.ndarray) -> tuple[str, ...]:
        """The caption texts of rows ``ids``."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise InvalidInputError(f"caption ids must be in [0, {len(self)}), got {ids.min()}..{ids.max()}")
        return tuple(self.vectors.texts(ids))

    def search(self, queries: np.ndarray, k: int = 10, *, dedup_threshold: float | None = None) -> list[SearchHits]:
        """The ``k`` nearest captions of each query (Q, D) or (D,), by inner product, best first.

        Similarities are exact (computed from the stored embeddings), whatever the index. With
        ``dedup_threshold`` (CaSED uses 0.94), near-duplicates among the k hits are removed: hits whose
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
        k = min(k, len(self))
        ids = candidates(self._index, self._params, q, k)  # flat: refine 1, exact candidates
        all_sims, all_ids = rerank(self.vectors, q, ids, k)
        hits = []
        for row_sims, row_ids in zip(all_sims, all_ids, strict=True):
            keep = row_ids >= 0  # an approximate index may find fewer than k
            row_ids, row_sims = row_ids[keep].astype(np.int64), row_sims[keep].astype(np.float32)
            emb = self.vectors.rows(row_ids)
            if dedup_threshold is not None and len(row_ids) > 1:
                mask = near_duplicate_mask(emb, dedup_threshold)
                row_ids, row_sims, emb = row_ids[mask], row_sims[mask], emb[mask]
            hits.append(SearchHits(row_ids, row_sims, self.captions(row_ids), emb))
        return hits
