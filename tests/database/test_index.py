"""The ``auto`` index at a size where it is approximate: recall@10 against exact search, exact similarities."""

from __future__ import annotations

import numpy as np
import pytest

from vocabfree.database import BuildConfig, CaptionDatabase, IndexConfig, parse_size
from vocabfree.database.importer import _Source, import_rows
from vocabfree.database.index import factory_string, resolve_kind
from vocabfree.errors import InvalidInputError


def clustered(n: int, dim: int, seed: int, clusters: int = 200) -> np.ndarray:
    """Unit vectors around fixed random cluster centres (caption embeddings are clustered, not uniform)."""
    centres = np.random.default_rng(1234).standard_normal((clusters, dim)).astype(np.float32)
    rng = np.random.default_rng(seed)
    x = centres[rng.integers(0, clusters, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def ivf_db(tmp_path_factory):
    n, dim = 50_000, 64
    x = clustered(n, dim, seed=0)
    batches = (
        (f"synthetic {i}", [f"caption {j}" for j in range(i, i + 10_000)], x[i : i + 10_000])
        for i in range(0, n, 10_000)
    )
    out = tmp_path_factory.mktemp("ivf") / "db"
    config = BuildConfig(shard_size=8192, index=IndexConfig(kind="auto", flat_max=20_000))
    import_rows(batches, [_Source("synthetic", "0" * 64)], out, model_name="synthetic", embed_dim=dim, config=config)
    return CaptionDatabase.open(out), x


def test_auto_index_recall_and_exact_similarities(ivf_db):
    db, _ = ivf_db
    params = db.manifest.index
    assert params["kind"] == "ivf" and params["factory"].startswith("IVF") and "_HNSW32," in params["factory"]
    assert params["tuned_recall_at_10"] >= 0.95 and params["nprobe"] >= 1
    stored = db.embeddings.astype(np.float32)
    queries = clustered(300, 64, seed=1)  # unseen queries from the same distribution
    truth = np.argsort(-(queries @ stored.T), axis=1, kind="stable")[:, :10]
    hits = db.search(queries, k=10)
    recall = np.mean([len(set(h.ids.tolist()) & set(t.tolist())) / 10 for h, t in zip(hits, truth, strict=True)])
    assert recall >= 0.95
    for q, h in zip(queries, hits, strict=True):
        np.testing.assert_allclose(h.similarities, stored[h.ids] @ q, rtol=1e-6, atol=1e-6)
        assert np.all(np.diff(h.similarities) <= 0)


def test_fast_scan_codes_when_sq8_does_not_fit(tmp_path):
    """A budget below SQ8's D bytes/caption gives 4-bit PQ fast-scan codes (D/2 bytes), filled in their
    32-vector blocks; re-ranking keeps recall@10 >= 0.95 on unseen queries and the similarities exact."""
    n, dim = 30_000, 64
    x = clustered(n, dim, seed=7)
    memory = n * (8 + dim // 2 + 8)  # 48 bytes/caption: SQ8 (64 + 8 of id) does not fit, PQ64x4fs (32 + 8) does
    config = BuildConfig(shard_size=8192, index=IndexConfig(kind="auto", flat_max=10_000, memory=memory))
    batches = [("synthetic", [f"c{i}" for i in range(n)], x)]
    import_rows(
        batches, [_Source("synthetic", "0" * 64)], tmp_path / "db", model_name="synthetic", embed_dim=dim, config=config
    )
    db = CaptionDatabase.open(tmp_path / "db")
    params = db.manifest.index
    assert params["factory"].endswith(",PQ64x4fs") and params["tuned_recall_at_10"] >= 0.95
    assert params["refine"] in (10, 20, 40)
    stored = db.embeddings.astype(np.float32)
    queries = clustered(300, dim, seed=8)
    truth = np.argsort(-(queries @ stored.T), axis=1, kind="stable")[:, :10]
    hits = db.search(queries, k=10)
    recall = np.mean([len(set(h.ids.tolist()) & set(t.tolist())) / 10 for h, t in zip(hits, truth, strict=True)])
    assert recall >= 0.95
    for q, h in zip(queries[:20], hits[:20], strict=True):
        np.testing.assert_allclose(h.similarities, stored[h.ids] @ q, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("kind", "codes", "tail"), [("flat", "auto", None), ("ivf", "auto", ",SQ8"), ("ivf", "pq48x4fs", ",PQ48x4fs")]
)
def test_odd_dimensions_are_padded_to_simd_lanes_and_stay_exact(tmp_path, kind, codes, tail):
    """``local`` embeds in 395-d, off FAISS's 16-float SIMD lanes (scalar kernels, ~15x slower): indexes are
    built at the dimension rounded up to 16 with zero columns, and search gives what unpadded exact search gives."""
    n, dim = 12_000, 45
    x = clustered(n, dim, seed=3, clusters=60)
    config = BuildConfig(shard_size=5000, index=IndexConfig(kind=kind, codes=codes, nlist=64, train_size=n))
    batches = [("synthetic", [f"c{i}" for i in range(n)], x)]
    out = tmp_path / "db"
    import_rows(batches, [_Source("synthetic", "0" * 64)], out, model_name="synthetic", embed_dim=dim, config=config)
    db = CaptionDatabase.open(out)
    assert db._index.d == 48 and db.embed_dim == dim
    assert tail is None or db.manifest.index["factory"].endswith(tail)
    stored = db.embeddings.astype(np.float32)
    queries = clustered(100, dim, seed=4, clusters=60)
    truth = np.argsort(-(queries @ stored.T), axis=1, kind="stable")[:, :10]
    hits = db.search(queries, k=10)
    recall = np.mean([len(set(h.ids.tolist()) & set(t.tolist())) / 10 for h, t in zip(hits, truth, strict=True)])
    assert recall == 1.0 if kind == "flat" else recall >= 0.95
    for q, h in zip(queries, hits, strict=True):
        np.testing.assert_allclose(h.similarities, stored[h.ids] @ q, rtol=1e-6, atol=1e-6)


def test_index_file_is_memory_mapped_and_checksummed(ivf_db):
    db, _ = ivf_db
    assert "index.faiss" in db.manifest.files
    assert db.manifest.files["index.faiss"]["bytes"] < 64 * 50_000 * 2  # SQ8 codes, smaller than the vectors


def test_resolve_kind_and_sizes():
    assert resolve_kind(1_000, 512, IndexConfig()) == "flat"
    assert resolve_kind(10_000_000, 512, IndexConfig()) == "ivf"
    assert resolve_kind(50_000, 768, IndexConfig(memory=parse_size("64MB"))) == "ivf"  # flat would not fit
    assert resolve_kind(10, 8, IndexConfig(kind="hnsw")) == "hnsw"
    assert parse_size("4GB") == 4 << 30 and parse_size("512mb") == 512 << 20 and parse_size("1.5G") == 3 << 29
    with pytest.raises(InvalidInputError, match=r"^cannot read the size 'lots'; write e\.g\. 4GB, 512MB$"):
        parse_size("lots")
    with pytest.raises(InvalidInputError, match="unknown index kind"):
        resolve_kind(10, 8, IndexConfig(kind="annoy"))


def test_auto_codes_take_the_finest_that_fits_the_budget():
    budget = IndexConfig()  # 4 GB: what every 10M database gets by default
    assert factory_string("ivf", 10_000_000, 384, budget, 262_144) == "IVF8192_HNSW32,SQ8"  # 384 B/caption
    assert factory_string("ivf", 10_000_000, 768, budget, 262_144) == "IVF8192_HNSW32,PQ768x4fs"  # SQ8: 7.7 GB
    small = IndexConfig(memory=parse_size("1GB"))  # 99 B/caption left for codes
    assert factory_string("ivf", 10_000_000, 768, small, 262_144) == "IVF8192_HNSW32,PQ96"
    assert factory_string("ivf", 10_000_000, 768, IndexConfig(codes="sq8"), 262_144).endswith(",SQ8")  # asked for
    with pytest.raises(InvalidInputError, match="raise --index-memory"):
        factory_string("ivf", 10_000_000, 768, IndexConfig(memory=parse_size("50MB")), 262_144)


def test_tuning_stops_when_recall_stops_rising(tmp_path, caplog):
    """Codes too coarse for the target: tuning doubles the candidates re-ranked (1 -> 2 -> 4), then records the
    plateau and warns, instead of probing every list."""
    n, dim = 30_000, 64
    x = clustered(n, dim, seed=5)
    config = BuildConfig(
        shard_size=8192,
        index=IndexConfig(kind="ivf", codes="pq2", refine=1, max_refine=4, nlist=1024, train_size=65_536),
    )
    import_rows(
        [("synthetic", [f"c{i}" for i in range(n)], x)],
        [_Source("synthetic", "0" * 64)],
        tmp_path / "db",
        model_name="synthetic",
        embed_dim=dim,
        config=config,
    )
    params = CaptionDatabase.open(tmp_path / "db").manifest.index
    assert params["tuning_plateau"] is True and params["tuned_recall_at_10"] < 0.95
    assert params["refine"] == 4  # escalated to max_refine before giving up
    assert 64 <= params["nprobe"] < 1024
    assert "stopped rising" in caplog.text


def test_tuning_reranks_more_where_that_halves_the_lists_scanned(tmp_path):
    """At the target with refine 10, tuning still doubles refine when that reaches the target with at most half
    the lists (coarse PQ8 codes here)."""
    n, dim = 30_000, 64
    x = clustered(n, dim, seed=7)

    def tuned(max_refine: int, name: str) -> dict:
        config = BuildConfig(shard_size=8192, index=IndexConfig(kind="ivf", codes="pq8", max_refine=max_refine))
        rows = [("synthetic", [f"c{i}" for i in range(n)], x)]
        import_rows(
            rows,
            [_Source("synthetic", "0" * 64)],
            tmp_path / name,
            model_name="synthetic",
            embed_dim=dim,
            config=config,
        )
        return CaptionDatabase.open(tmp_path / name).manifest.index

    only10, free = tuned(10, "a"), tuned(40, "b")
    assert only10["refine"] == 10 and only10["tuned_recall_at_10"] >= 0.95
    assert free["refine"] > 10 and free["tuned_recall_at_10"] >= 0.95
    assert free["nprobe"] <= only10["nprobe"] // 2


def test_nprobe_override_at_open(ivf_db):
    db, _ = ivf_db
    nlist = int(db.manifest.index["factory"].split("_")[0][3:])
    full = CaptionDatabase.open(db.path, nprobe=nlist)  # every list: only the SQ8 pre-selection is approximate
    stored = db.embeddings.astype(np.float32)
    queries = clustered(100, 64, seed=2)
    truth = np.argsort(-(queries @ stored.T), axis=1, kind="stable")[:, :10]
    hits = full.search(queries, k=10)
    assert np.mean([len(set(h.ids.tolist()) & set(t.tolist())) / 10 for h, t in zip(hits, truth, strict=True)]) >= 0.99
    assert db.manifest.index["nprobe"] < nlist  # the override does not touch the manifest
    with pytest.raises(InvalidInputError, match="nprobe"):
        CaptionDatabase.open(db.path, nprobe=0)


@pytest.mark.parametrize("factory", ["IVF64_HNSW32,SQ8", "IVF64_HNSW32,SQ4", "IVF64_HNSW32,PQ32x4fs", "IVF32,PQ8"])
def test_presized_fill_equals_faiss_add(tmp_path, factory):
    """``fill_ivf`` writes the index ``index.add`` builds, byte for byte (lists, ids, codes, order)."""
    import faiss

    from vocabfree.database.index import fill_ivf
    from vocabfree.database.shards import ShardSet, write_shard

    x = clustered(5000, 32, seed=3, clusters=40).astype(np.float16)
    counts = [2000, 0, 3000]  # an empty shard must not shift the ids
    for k, (a, b) in enumerate([(0, 2000), (2000, 2000), (2000, 5000)]):
        write_shard(tmp_path, k, [f"c{i}" for i in range(a, b)], x[a:b], {"model": "test"})
    vectors = ShardSet(tmp_path, counts)
    reference = faiss.index_factory(32, factory, faiss.METRIC_INNER_PRODUCT)
    reference.train(x.astype(np.float32))
    presized = faiss.clone_index(reference)
    reference.add(x.astype(np.float32))
    fill_ivf(presized, vectors)
    assert presized.ntotal == reference.ntotal == 5000
    assert bytes(faiss.serialize_index(presized)) == bytes(faiss.serialize_index(reference))
