"""FAISS index: chosen by size and a memory budget, trained on a sample, filled shard by shard, tuned.

Kinds (``--index``):

- ``auto`` (default): ``flat`` up to ``flat_max`` captions (and if their float16 vectors fit the memory
  budget), else ``ivf``.
- ``flat``: exact search. No index file: the float16 shard embeddings are loaded into a FAISS
  ``IndexScalarQuantizer(QT_fp16)`` when the database opens (2*D bytes/caption of RAM), so the vectors are
  stored on disk once.
- ``ivf``: ``IVF{nlist}_HNSW32`` (an HNSW graph finds the lists to visit) with SQ8 codes (D bytes/caption)
  or, when those do not fit the memory budget, 4-bit PQ fast-scan codes ``PQ{D}x4fs`` (D/2 bytes, scanned with
  SIMD table look-ups), else PQ codes (D/4 or fewer bytes/caption).
  Trained on a random sample of at most ``train_size`` vectors, then filled shard by shard; the file opens
  memory-mapped.
- ``ivfpq``: ``IVF{nlist},PQ{D/8}`` with a flat coarse quantiser (the old default for large corpora).
- ``hnsw``: ``HNSW32`` graph over float16 vectors (a second copy, in the index).

Every approximate kind returns ``refine * k`` candidates that ``CaptionDatabase.search`` re-ranks with the
exact float16 embeddings, so similarities are exact and recall@k is that of the candidate list. ``nprobe``
(``efSearch`` for hnsw) is tuned at build time to the smallest value reaching ``recall_target`` on two query
sets, held-back database vectors (exact top-10 excluding the query itself, by brute force) and means of 8
random database vectors (off the data, like image queries), and recorded with the recalls in the manifest.
Image queries of a CLIP-like model can still need more: measure on yours (docs/databases.md).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import numpy as np

from vocabfree.database.fill import fill_ivf, float_blocks, index_dim, padded
from vocabfree.errors import InvalidInputError, require

INDEX_KINDS = ("auto", "flat", "ivf", "ivfpq", "hnsw")
log = logging.getLogger(__name__)

#: Tuning stops early once doubling nprobe/efSearch from at least PLATEAU_FROM gains less than PLATEAU_GAIN recall.
PLATEAU_FROM, PLATEAU_GAIN = 64, 0.002
#: Below this many captions ``auto`` searches exactly (measured: benchmarks/index_scale.py, docs/databases.md).
FLAT_MAX = 100_000


@dataclass(frozen=True)
class IndexConfig:
    """How the index is chosen and built (the resolved choice is stored in the manifest)."""

    kind: str = "auto"
    memory: int = 4 << 30  # bytes the index may take in RAM (``--index-memory``)
    flat_max: int = FLAT_MAX
    nlist: int = 0  # ivf/ivfpq lists; 0: a power of two near 4*sqrt(N), at most train_size/32
    codes: str = "auto"  # ivf codes: "sq8", "sq4", "pq{m}", "pq{m}x4fs" or auto (the finest that fits the budget)
    nprobe: int = 0  # 0: tuned at build to reach recall_target
    refine: int = 10  # candidates re-ranked per requested hit (doubled by tuning where the codes need it)
    max_refine: int = 40  # the most tuning may raise ``refine`` to
    recall_target: float = 0.95
    train_size: int = 262_144
    tuning_queries: int = 256
    hnsw_m: int = 32
    ef_search: int = 0  # hnsw; 0: tuned
    seed: int = 0


def _faiss():
    return require("faiss", "all")


def parse_size(text: str) -> int:
    """``4GB``, ``512MB``, ``1.5G``, ``1000000`` -> bytes (powers of 1024)."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    s = text.strip().upper().removesuffix("B").removesuffix("I")
    num = s.rstrip("KMGT")
    try:
        value = float(num) * units[s[len(num) :]]
    except (ValueError, KeyError) as exc:
        raise InvalidInputError(f"cannot read the size '{text}'; write e.g. 4GB, 512MB") from exc
    if value <= 0:
        raise InvalidInputError(f"size must be positive, got '{text}'")
    return int(value)


def resolve_kind(n: int, dim: int, config: IndexConfig) -> str:
    """The kind ``config`` gives for ``n`` vectors of ``dim``."""
    if config.kind not in INDEX_KINDS:
        raise InvalidInputError(f"unknown index kind '{config.kind}'; use one of {', '.join(INDEX_KINDS)}")
    if config.kind != "auto":
        return config.kind
    return "flat" if n <= config.flat_max and 2 * dim * n <= config.memory else "ivf"


def _nlist(n: int, config: IndexConfig, train_n: int) -> int:
    if config.nlist:
        return config.nlist
    target = 4 * math.sqrt(n)
    nlist = 2 ** max(4, round(math.log2(max(target, 1))))
    return int(max(1, min(nlist, train_n // 32, 65536)))


def _codes(n: int, dim: int, config: IndexConfig) -> str:
    if config.codes != "auto":
        return config.codes.upper().replace("X4FS", "x4fs")  # FAISS spells fast-scan "PQ{m}x4fs"
    per_vector = config.memory / max(n, 1) - 8  # 8 bytes of id per vector in the inverted lists
    if dim <= per_vector:
        return "SQ8"
    # 4 bits per dimension before 8-bit PQ: at 10M x 768 under 4 GB, PQ192 (2 bits per dimension) left
    # re-ranking too few true neighbours (recall@10 0.87 at nprobe 4096, docs/databases.md). Of the 4-bit codes,
    # PQ{D}x4fs scans ~5x faster than SQ4 at the same bytes (SIMD look-ups in 32-vector blocks) and matches its
    # recall once 40 candidates per hit are re-ranked (docs/databases.md), so ``auto`` takes fast-scan.
    if dim % 2 == 0 and dim // 2 <= per_vector:
        return f"PQ{dim}x4fs"
    for m in (dim // 4, dim // 8, dim // 16, dim // 32):
        if m >= 1 and dim % m == 0 and m <= per_vector:
            return f"PQ{m}"
    raise InvalidInputError(
        f"{n} vectors of {dim}-d do not fit an index in {config.memory} bytes; raise --index-memory"
    )


def factory_string(kind: str, n: int, dim: int, config: IndexConfig, train_n: int) -> str:
    if kind == "ivf":
        return f"IVF{_nlist(n, config, train_n)}_HNSW32,{_codes(n, dim, config)}"
    if kind == "ivfpq":
        m = max(d for d in range(1, max(1, dim // 8) + 1) if dim % d == 0)
        return f"IVF{_nlist(n, config, train_n)},PQ{m}"
    if kind == "hnsw":
        return f"HNSW{config.hnsw_m},SQfp16"
    raise InvalidInputError(f"no FAISS index for kind '{kind}'")


def set_search_params(index, params: dict) -> None:
    """Apply the tuned search parameters (nprobe, coarse efSearch, hnsw efSearch) to an opened index."""
    faiss = _faiss()
    if params["kind"] in ("ivf", "ivfpq"):
        ivf = faiss.extract_index_ivf(index)
        ivf.nprobe = int(params["nprobe"])
        if params["kind"] == "ivf":
            faiss.downcast_index(ivf.quantizer).hnsw.efSearch = max(64, 2 * int(params["nprobe"]))
    elif params["kind"] == "hnsw":
        faiss.downcast_index(index).hnsw.efSearch = int(params["ef_search"])


def candidates(index, params: dict, queries: np.ndarray, k: int) -> np.ndarray:
    """Candidate ids (Q, refine*k) from a FAISS index (-1 padded); queries get the index's zero columns."""
    _, ids = index.search(np.ascontiguousarray(padded(queries, index.d)), int(params.get("refine", 1)) * k)
    return ids


def rerank(
    vectors, queries: np.ndarray, ids: np.ndarray, k: int, *, release: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Exact re-ranking of candidate ``ids`` (Q, C) by inner product with the stored float16 embeddings:
    (sims, ids) of the best ``k``, best first; -1 ids (padding) sort last with similarity -inf.
    ``release``: a bulk re-ranking (tuning) gives the shards' pages back as it goes (``ShardSet.rows``)."""
    valid = ids >= 0
    emb = vectors.rows(np.where(valid, ids, 0), release=release)  # (Q, C, D)
    sims = np.einsum("qcd,qd->qc", emb, queries.astype(np.float32))
    sims = np.where(valid, sims, -np.inf).astype(np.float32)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sims, order, 1), np.take_along_axis(np.where(valid, ids, -1), order, 1)


def exact_topk(vectors, queries: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Exact top-``k`` ids by a blocked scan of every shard (float16 -> float32 per block), optionally
    excluding each query's own row id ``exclude[q]``. The reference for tuning and benchmarks."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    best_s = np.full((len(q), k), -np.inf, dtype=np.float32)
    best_i = np.full((len(q), k), -1, dtype=np.int64)
    for first, block in float_blocks(vectors):
        sims = q @ block.T
        ids = np.arange(first, first + len(block), dtype=np.int64)
        if exclude is not None:
            sims[ids[None, :] == np.asarray(exclude)[:, None]] = -np.inf
        all_s = np.concatenate([best_s, sims], axis=1)
        all_i = np.concatenate([best_i, np.broadcast_to(ids, sims.shape)], axis=1)
        top = np.argpartition(-all_s, k - 1, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(all_s, top, 1), np.take_along_axis(all_i, top, 1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_i, order, 1)


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of each row of ``truth`` present in the same row of ``found``."""
    k = truth.shape[1]
    return float(np.mean([len(set(f[:k].tolist()) & set(t.tolist())) / k for f, t in zip(found, truth, strict=True)]))


def _sample_ids(n: int, size: int, rng: np.random.Generator, exclude: np.ndarray | None = None) -> np.ndarray:
    pool = np.setdiff1d(np.arange(n), exclude) if exclude is not None and n <= 4 * size else None
    if pool is not None:
        return np.sort(rng.choice(pool, size=min(size, len(pool)), replace=False))
    ids = np.unique(rng.integers(0, n, size=size))
    return ids if exclude is None else np.setdiff1d(ids, exclude)


def build_index(vectors, config: IndexConfig, *, progress: bool = False):
    """Build the index over ``vectors`` (a ``ShardSet``): returns ``(faiss index or None, params dict)``;
    ``params`` (the manifest's ``index``) holds the kind, factory string, tuned values and measured recall."""
    n, dim = len(vectors), vectors.dim
    kind = resolve_kind(n, dim, config)
    if kind == "flat":
        return None, {"kind": "flat", "requested": config.kind, "flat_max": config.flat_max, "memory": config.memory}
    params = {**asdict(config), "kind": kind, "requested": config.kind}
    faiss = _faiss()
    rng = np.random.default_rng(config.seed)
    queries_n = min(config.tuning_queries, max(1, n // 10))
    held = np.sort(rng.choice(n, size=queries_n, replace=False))
    train_ids = _sample_ids(n, min(config.train_size, n), rng, exclude=held)
    factory = factory_string(kind, n, index_dim(dim), config, len(train_ids))
    if kind in ("ivf", "ivfpq") and len(train_ids) < 39 * _nlist(n, config, len(train_ids)) // 2:
        raise InvalidInputError(
            f"{kind} with {factory} needs more training vectors than {n} captions give; "
            "use --index flat (or auto) for small corpora"
        )
    index = faiss.index_factory(index_dim(dim), factory, faiss.METRIC_INNER_PRODUCT)
    if not index.is_trained:
        index.train(padded(vectors.rows(train_ids, release=True), index.d))
    if kind in ("ivf", "ivfpq"):
        fill_ivf(index, vectors, desc=f"fill index ({factory})", progress=progress)
    else:
        for _, block in float_blocks(vectors, dim=index.d):
            index.add(block)
    mix = vectors.rows(rng.integers(0, n, size=(len(held), 8)), release=True).sum(axis=1)  # off-distribution
    mix /= np.maximum(np.linalg.norm(mix, axis=1, keepdims=True), 1e-12)
    params.update(factory=factory, **_tune(index, vectors, held, mix, kind, config))
    set_search_params(index, params)
    return index, params


def _tune(index, vectors, held: np.ndarray, mix: np.ndarray, kind: str, config: IndexConfig) -> dict:
    """Smallest nprobe (efSearch for hnsw) whose re-ranked top-10 reaches the recall target on both query
    sets: held-out database vectors (their own row excluded) and normalised means of 8 random database
    vectors, which sit between the clusters as image queries do (CLIP's modality gap).

    When recall stops rising below the target (the codes, not the lists visited, limit the candidates), the
    number re-ranked doubles (``refine``, up to ``max_refine``) and nprobe is searched again: re-ranking 40
    candidates per hit costs far less than scanning many more lists (SQ4 codes at 10M x 768 density:
    recall 0.92 at nprobe 1,024 with refine 10, 0.97 at nprobe 64 with refine 40; docs/databases.md). Once the
    target is reached, ``refine`` still doubles where that at least halves nprobe. Deterministic: the same
    vectors and config give the same parameters (no timing enters the choice)."""
    k = min(10, len(vectors) - 1)
    sets = {"captions": (vectors.rows(held, release=True), held), "mixtures": (mix, None)}
    truth = {name: exact_topk(vectors, q, k, exclude=ex) for name, (q, ex) in sets.items()}
    knob = "ef_search" if kind == "hnsw" else "nprobe"
    fixed = config.ef_search if kind == "hnsw" else config.nprobe
    if kind == "hnsw":
        values = [fixed] if fixed else [16, 32, 64, 128, 256, 512, 1024]
    else:
        nlist = _faiss().extract_index_ivf(index).nlist
        values = [fixed] if fixed else sorted({min(2**i, nlist) for i in range(int(math.log2(nlist)) + 1)})

    def recall(value: int, refine: int) -> dict[str, float]:
        params = {"kind": kind, knob: value, "refine": refine}
        set_search_params(index, params)
        out = {}
        for name, (queries, exclude) in sets.items():
            ids = candidates(index, params, queries, k + 1)
            if exclude is not None:
                ids = np.where(ids == exclude[:, None], -1, ids)  # the query's own row is not a neighbour
            out[name] = recall_at(rerank(vectors, queries, ids, k, release=True)[1], truth[name])
        return out

    def ladder(refine: int, upto: float) -> tuple[int, dict[str, float], float, bool] | None:
        """Smallest value up to ``upto`` reaching the target at ``refine``, else where recall stopped rising
        (plateau) or the last value; None when ``upto`` ends the search first."""
        previous, found = -1.0, None
        for value in values:
            if value > upto:
                return found
            recalls = recall(value, refine)
            reached = min(recalls.values())
            # Doubling the lists visited no longer helps: going on would only make every query scan more of
            # the index (10M x 768 PQ192 went to half of it for +0.01).
            plateau = reached < config.recall_target and value >= PLATEAU_FROM and reached - previous < PLATEAU_GAIN
            found = (value, recalls, reached, plateau)
            if reached >= config.recall_target or plateau:
                return found
            previous = reached
        return found

    refine = config.refine
    value, recalls, reached, plateau = ladder(refine, math.inf)  # type: ignore[misc]
    while not fixed and refine * 2 <= config.max_refine:
        # Below the target the codes limit the candidates: re-rank more. At the target, re-rank more only where
        # that at least halves the lists scanned (a scanned list costs ~1k code look-ups, a re-ranked hit one
        # float16 row: 4-bit fast-scan codes at 10M x 768 density need refine 40 where SQ8 needs 10).
        trial = ladder(refine * 2, math.inf if reached < config.recall_target else value // 2)
        if trial is None or (reached >= config.recall_target and trial[2] < config.recall_target):
            break
        refine *= 2
        value, recalls, reached, plateau = trial
    if plateau:
        log.warning(
            "recall@10 stopped rising at %.3f (%s=%d, refine %d), below the target %.2f: the %s index's codes "
            "are too coarse for these vectors; raise --index-memory (finer codes)",
            reached,
            knob,
            value,
            refine,
            config.recall_target,
            kind,
        )
    return {
        knob: int(value),
        "refine": refine,
        "tuned_recall_at_10": round(reached, 4),
        "tuned_recall_by_queries": {name: round(r, 4) for name, r in recalls.items()},
        "tuning_queries": len(held),
        "tuning_plateau": plateau,
    }


def flat_index(vectors):
    """The exact in-memory index of a ``flat`` database: float16 codes, the same values as the shards."""
    faiss = _faiss()
    d = index_dim(vectors.dim)
    index = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    for _, block in float_blocks(vectors, dim=d):
        index.add(block)
    return index


def read_index(path: str, params: dict):
    """Open an index file read-only, memory-mapped where FAISS supports it, with its tuned parameters."""
    faiss = _faiss()
    try:
        index = faiss.read_index(path, faiss.IO_FLAG_READ_ONLY | faiss.IO_FLAG_MMAP)
    except RuntimeError:
        index = faiss.read_index(path)  # a FAISS build without mmap support for this index type
    set_search_params(index, params)
    return index
