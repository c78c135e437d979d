"""Opening and searching: brute-force agreement, deduplication, model mismatch, corrupt folders."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vocabfree.database import CaptionDatabase, near_duplicate_mask
from vocabfree.errors import DatabaseError, IndexMismatchError, InvalidInputError


def test_search_matches_brute_force(tiny_db, tiny_model):
    queries = tiny_model.encode_texts(["red", "blue sea", "a cat", "green"])
    expected = np.argsort(-(queries @ np.asarray(tiny_db.embeddings, np.float32).T), axis=1, kind="stable")[:, :4]
    hits = tiny_db.search(queries, k=4)
    for row, h in zip(expected, hits, strict=True):
        np.testing.assert_array_equal(h.ids, row)
    for q, h in zip(queries, hits, strict=True):
        stored = np.asarray(tiny_db.embeddings, dtype=np.float32)[h.ids]
        np.testing.assert_allclose(h.similarities, stored @ q, rtol=1e-6, atol=1e-6)  # exact, from float16 rows
        np.testing.assert_array_equal(h.embeddings, stored)
        assert h.captions == tiny_db.captions(h.ids)
    assert len(tiny_db.search(queries[0], k=100)[0]) == len(tiny_db)  # k above the size: everything


def test_search_rejects_bad_queries(tiny_db):
    with pytest.raises(IndexMismatchError, match="32-d"):
        tiny_db.search(np.zeros((1, 7), np.float32))
    with pytest.raises(InvalidInputError, match=r"^k must be >= 1, got 0$"):
        tiny_db.search(np.zeros(32, np.float32), k=0)


def test_near_duplicates_are_merged_by_connected_components():
    # a~b (0.95) and b~c (0.95) but a, c at 0.81: one component, keep the best-ranked (a); d stays
    angle = np.arccos(0.95)
    rows = [[1, 0, 0], [np.cos(angle), np.sin(angle), 0], [np.cos(2 * angle), np.sin(2 * angle), 0], [0, 0, 1]]
    x = np.asarray(rows, np.float32)
    assert (x[0] @ x[2]) < 0.94
    assert near_duplicate_mask(x, 0.94).tolist() == [True, False, False, True]
    assert near_duplicate_mask(x[[3, 2, 1, 0]], 0.94).tolist() == [True, True, False, False]
    assert near_duplicate_mask(x, 0.99).all()


def test_search_with_dedup(tiny_db, tiny_model):
    # the tiny backend maps all "red ..." captions close together (colour words dominate)
    q = tiny_model.encode_texts(["red"])
    plain = tiny_db.search(q, k=5)[0]
    dedup = tiny_db.search(q, k=5, dedup_threshold=0.94)[0]
    assert len(dedup) < len(plain)
    mask = near_duplicate_mask(plain.embeddings, 0.94)
    assert dedup.captions == tuple(c for c, m in zip(plain.captions, mask, strict=True) if m)


def test_model_mismatch_is_refused(tiny_db):
    from vocabfree.models.tiny import TinyModel

    other = TinyModel(embed_dim=16)
    other.name = "another-model"
    with pytest.raises(IndexMismatchError, match="built with model 'test-tiny'.*another-model"):
        CaptionDatabase.open(tiny_db.path, model=other)


def test_missing_and_corrupt_databases(tiny_db, tmp_path):
    with pytest.raises(DatabaseError, match="not a directory"):
        CaptionDatabase.open(tmp_path / "nothing")
    path = tiny_db.path
    emb = path / "shards" / "000000.npy"
    good = emb.read_bytes()
    emb.write_bytes(good[:-64])  # truncated file
    with pytest.raises(DatabaseError, match="000000.npy is corrupt: .* bytes"):
        CaptionDatabase.open(path)
    emb.write_bytes(good)
    CaptionDatabase.open(path)
    (path / "shards" / "000000.arrow").unlink()
    with pytest.raises(DatabaseError, match="000000.arrow is missing"):
        CaptionDatabase.open(path)
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(DatabaseError, match="corrupt"):
        CaptionDatabase.open(path)
    (path / "manifest.json").unlink()
    with pytest.raises(DatabaseError, match="manifest.json is missing"):
        CaptionDatabase.open(path)


def test_same_size_corruption_is_detected(tiny_db, tiny_model):
    """Issue 15: a flipped byte in the embeddings (same size) used to be served as a different answer."""
    path = tiny_db.path
    emb = path / "shards" / "000000.npy"
    data = bytearray(emb.read_bytes())
    data[200] ^= 0x40
    emb.write_bytes(bytes(data))
    with pytest.raises(DatabaseError, match="000000.npy is corrupt: its SHA-256 differs"):
        CaptionDatabase.open(path, model=tiny_model)
    CaptionDatabase.open(path, verify="sizes")  # the explicit opt-out still opens it


@pytest.mark.parametrize("edit", ["list", "no-files", "files-not-dict", "empty-files", "format-1"])
def test_manifests_that_lie_are_refused(tiny_db, edit):
    path = tiny_db.path / "manifest.json"
    manifest = json.loads(path.read_text())
    if edit == "list":
        manifest = [manifest]
    elif edit == "no-files":
        del manifest["files"]
    elif edit == "files-not-dict":
        manifest["files"] = ["shards/000000.npy"]
    elif edit == "empty-files":
        manifest["files"] = {}
    else:
        manifest["format_version"] = 1
    path.write_text(json.dumps(manifest))
    expected = {"list": "not a JSON object", "format-1": "vocabfree db upgrade"}.get(edit, "lacks the 'files' table")
    with pytest.raises(DatabaseError, match=expected):
        CaptionDatabase.open(tiny_db.path)


def test_inconsistent_counts_are_detected(tiny_db):
    path = tiny_db.path
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["count"] = 11
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatabaseError, match="inconsistent"):
        CaptionDatabase.open(path)
    manifest["count"], manifest["shards"][0]["count"] = 10, 9
    manifest["shards"].append({"shard": 1, "count": 1})
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatabaseError, match="missing|inconsistent|unreadable"):
        CaptionDatabase.open(path)


def test_open_checksums_small_files_within_a_budget_and_verify_checks_all(tiny_db, monkeypatch):
    import vocabfree.database.store as store

    npy = tiny_db.path / "shards" / "000000.npy"
    data = bytearray(npy.read_bytes())
    data[-2] ^= 0x10
    npy.write_bytes(bytes(data))
    arrow_and_json = sum(e["bytes"] for n, e in tiny_db.manifest.files.items() if not n.endswith(".npy"))
    monkeypatch.setattr(store, "VERIFY_ON_OPEN_BYTES", arrow_and_json)  # the .npy is the biggest: not hashed
    CaptionDatabase.open(tiny_db.path)
    with pytest.raises(DatabaseError, match="000000.npy is corrupt"):
        CaptionDatabase.open(tiny_db.path, verify="all")
