"""FAISS index choice: exact inner product by default, IVF-PQ or HNSW for large corpora.

Memory per million captions at 384-d (MiniLM / ``local``), 512-d (CLIP B) in brackets:
- ``flat``  (exact, IndexFlatIP): 4*D bytes/caption -> 1.5 GB (2.0 GB); memory-mapped read-only on open.
- ``ivfpq`` (IndexIVFPQ, D/8 sub-quantisers x 8 bits + 8-byte ids): ~56 B/caption -> ~56 MB (72 MB);
  approximate, ``nprobe`` trades recall for speed. Needs >= 39*nlist training vectors.
- ``hnsw``  (IndexHNSWFlat, M=32): 4*D + ~2*M*4 bytes/caption -> ~1.8 GB (2.3 GB); fast, near-exact.
``embeddings.npy`` (the exact vectors, 4*D bytes/caption on disk) is always kept next to the index and
memory-mapped: CaSED needs the exact caption embeddings (deduplication, centroid) whatever the index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from vocabfree.errors import InvalidInputError, require

IndexKind = Literal["flat", "ivfpq", "hnsw"]
INDEX_KINDS = ("flat", "ivfpq", "hnsw")


@dataclass(frozen=True)
class IndexConfig:
    """How the FAISS index is built (stored in the manifest)."""

    kind: IndexKind = "flat"
    nlist: int = 0  # ivfpq: number of inverted lists; 0 = 4*sqrt(N) rounded, clamped to [1, N/39]
    pq_m: int = 0  # ivfpq: sub-quantisers; 0 = largest divisor of D that is <= D/8
    nprobe: int = 16  # ivfpq: lists visited per query
    hnsw_m: int = 32  # hnsw: graph degree
    ef_search: int = 128  # hnsw: search breadth


def _faiss():
    return require("faiss", "all")


def build_index(embeddings: np.ndarray, config: IndexConfig):
    """Build (and train where needed) an inner-product index over L2-normalised ``embeddings`` (N, D)."""
    faiss = _faiss()
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    n, dim = x.shape
    if config.kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif config.kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = config.ef_search
    elif config.kind == "ivfpq":
        nlist = config.nlist or max(1, min(int(4 * math.sqrt(n)), n // 39))
        m = config.pq_m or max(d for d in range(1, max(1, dim // 8) + 1) if dim % d == 0)
        if n < 39 * nlist or n < 256:
            raise InvalidInputError(
                f"ivfpq needs at least max(39*nlist, 256) = {max(39 * nlist, 256)} captions to train, "
                f"got {n}; use --index flat for small corpora"
            )
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
        index.train(x)
        index.nprobe = config.nprobe
    else:
        raise InvalidInputError(f"unknown index kind '{config.kind}'; use one of {', '.join(INDEX_KINDS)}")
    index.add(x)
    return index


def read_index(path: str, config: IndexConfig):
    """Open an index read-only, memory-mapped where FAISS supports it (flat and IVF codes)."""
    faiss = _faiss()
    flags = faiss.IO_FLAG_READ_ONLY | (faiss.IO_FLAG_MMAP_IFC if config.kind == "flat" else faiss.IO_FLAG_MMAP)
    try:
        index = faiss.read_index(path, flags)
    except RuntimeError:
        index = faiss.read_index(path)  # a FAISS build without mmap support for this index type
    if config.kind == "ivfpq":
        faiss.extract_index_ivf(index).nprobe = config.nprobe
    elif config.kind == "hnsw":
        index.hnsw.efSearch = config.ef_search
    return index
