"""Filling a trained FAISS IVF index from the database's float16 shards with exactly sized inverted lists.

Written by hand because FAISS's ``add`` grows every inverted list by doubling (5.6 GB of RAM for a 3.9 GB
index at 10M x 384 SQ8) and has no way to size the lists first; this fill gives ``add``'s index byte for byte.
"""

from __future__ import annotations

import numpy as np

from vocabfree.errors import require

__all__ = ["fill_ivf", "float_blocks", "index_dim", "padded"]

# FAISS's SIMD distance kernels (SQ fp16/SQ8 codes, PQ sub-quantisers) run on whole 16-float lanes; any other
# dimension (``local``: 384 text + 11 colour dims = 395) falls back to scalar code: a flat 20k x 395 database
# took 300 ms for 32 queries, 19 ms at 400 (docs/databases.md). Zero columns leave every inner product as it
# is, so indexes are built at the padded dimension and vectors are padded on their way in.
SIMD_LANES = 16


def index_dim(dim: int) -> int:
    """The dimension FAISS indexes of ``dim``-d embeddings are built with: ``dim`` rounded up to 16."""
    return -(-dim // SIMD_LANES) * SIMD_LANES


def padded(x: np.ndarray, dim: int) -> np.ndarray:
    """Float32 rows ``x`` (N, D <= dim) with zero columns up to ``dim`` (``x`` itself when D == dim)."""
    x = np.asarray(x, dtype=np.float32)
    if x.shape[1] == dim:
        return x
    out = np.zeros((len(x), dim), dtype=np.float32)
    out[:, : x.shape[1]] = x
    return out


def _faiss():
    return require("faiss", "all")


def float_blocks(vectors, size: int = 65536, dim: int | None = None):
    """``(first row id, float32 rows)`` of every shard in blocks of at most ``size`` rows, in row order, padded
    to ``dim`` columns if given: the one loop that scans, fills and tunes (each shard's pages are given back
    after it, ``ShardSet.blocks``)."""
    for start, emb in vectors.blocks():
        for s in range(0, len(emb), size):
            block = np.asarray(emb[s : s + size], dtype=np.float32)
            yield start + s, block if dim is None else padded(block, dim)


def fill_ivf(index, vectors, *, desc: str = "fill index", progress: bool = False) -> None:
    """Add every row of ``vectors`` to the trained IVF ``index`` with row ids, in two passes over the shards:
    assign each row to its list and count, then size every inverted list exactly once and write the encoded
    rows in place. The result is the index ``index.add`` would give (same lists, codes and order), but
    ``add`` grows each list's std::vector by doubling, which at 10M x 384 SQ8 took 5.6 GB for a 3.9 GB index."""
    faiss = _faiss()
    from tqdm.auto import tqdm

    ivf = faiss.downcast_index(faiss.extract_index_ivf(index))
    assigned, counts = [], np.zeros(ivf.nlist, dtype=np.int64)
    with tqdm(total=2 * len(vectors), desc=desc, unit="row", disable=not progress) as bar:
        for _, block in float_blocks(vectors, dim=ivf.d):
            lists = ivf.quantizer.assign(block, 1)[:, 0]
            counts += np.bincount(lists, minlength=ivf.nlist)
            assigned.append(lists.astype(np.int32))
            bar.update(len(block))
        invlists = faiss.downcast_InvertedLists(ivf.invlists)
        for list_no in np.flatnonzero(counts).tolist():
            invlists.resize(list_no, int(counts[list_no]))
        write = _write_blocked if isinstance(invlists, faiss.BlockInvertedLists) else _write_entries
        cursor = np.zeros(ivf.nlist, dtype=np.int64)
        for (first, block), lists in zip(float_blocks(vectors, dim=ivf.d), assigned, strict=True):
            write(invlists, ivf, np.ascontiguousarray(block), lists.astype(np.int64), first, cursor)
            bar.update(len(block))
    ivf.ntotal = index.ntotal = int(counts.sum())


def _encode(ivf, x: np.ndarray, lists: np.ndarray) -> np.ndarray:
    faiss = _faiss()
    codes = np.empty((len(x), ivf.code_size), dtype=np.uint8)
    ivf.encode_vectors(len(x), faiss.swig_ptr(x), faiss.swig_ptr(lists), faiss.swig_ptr(codes), False)
    return codes


def _write_entries(invlists, ivf, x: np.ndarray, lists: np.ndarray, first_id: int, cursor: np.ndarray) -> None:
    """Encode rows ``x`` (ids ``first_id``, ``first_id + 1``, ...) for their ``lists`` and write them at each
    list's ``cursor`` (advanced), in id order within a list, as ``add`` appends them."""
    faiss = _faiss()
    codes = _encode(ivf, x, lists)
    order = np.argsort(lists, kind="stable")
    ids = np.ascontiguousarray(first_id + order, dtype=np.int64)
    codes = np.ascontiguousarray(codes[order])
    bounds = np.flatnonzero(np.diff(lists[order])) + 1
    for first, last in zip(np.r_[0, bounds].tolist(), np.r_[bounds, len(order)].tolist(), strict=True):
        list_no, n = int(lists[order[first]]), last - first
        where = int(cursor[list_no])
        invlists.update_entries(list_no, where, n, faiss.swig_ptr(ids[first:]), faiss.swig_ptr(codes[first:]))
        cursor[list_no] += n


def _write_blocked(invlists, ivf, x: np.ndarray, lists: np.ndarray, first_id: int, cursor: np.ndarray) -> None:
    """``_write_entries`` for fast-scan indexes, whose lists hold codes interleaved in blocks of 32 vectors
    (``BlockInvertedLists`` has no ``update_entries``): each code goes into its presized list through the
    index's own code packer (the one ``add`` uses), each id into the list's id array; ~10 us per row."""
    faiss = _faiss()
    codes = _encode(ivf, x, lists)
    packer = ivf.get_CodePacker()
    # The lists were sized before the fill, so their buffers do not move: look each one up once per block.
    targets = {
        list_no: (
            invlists.get_codes(list_no),
            faiss.rev_swig_ptr(invlists.get_ids(list_no), int(invlists.list_size(list_no))),
        )
        for list_no in np.unique(lists).tolist()
    }
    for row, list_no in enumerate(lists.tolist()):
        where = int(cursor[list_no])
        block, ids = targets[list_no]
        packer.pack_1_c(faiss.swig_ptr(codes[row]), where, block)
        ids[where] = first_id + row
        cursor[list_no] += 1
