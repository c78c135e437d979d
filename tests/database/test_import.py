"""``db import`` (clip-retrieval layout, parquet with embeddings) equals ``db build``; ``db upgrade`` of format 1."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vocabfree.database import BuildConfig, CaptionDatabase, build_database, corpus_from_texts
from vocabfree.database.importer import import_database, upgrade_database
from vocabfree.errors import DatabaseError, IndexMismatchError, InvalidInputError

from .conftest import CAPTIONS

ROWS = [*CAPTIONS[:6], CAPTIONS[1], "", *CAPTIONS[6:], CAPTIONS[0]]  # duplicates and an empty caption


def _shard_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted((folder / "shards").iterdir())}


def _clip_retrieval(folder, model, rows, scale=1.0, dtype=np.float32):
    (folder / "text_emb").mkdir(parents=True)
    (folder / "metadata").mkdir()
    emb = model.encode_texts([r or "nothing" for r in rows]) * scale
    for part, (lo, hi) in enumerate([(0, 7), (7, len(rows))]):
        np.save(folder / "text_emb" / f"text_emb_{part}.npy", emb[lo:hi].astype(dtype))
        pq.write_table(
            pa.table({"url": ["u"] * (hi - lo), "caption": rows[lo:hi]}),
            folder / "metadata" / f"metadata_{part}.parquet",
        )
    return folder


def test_clip_retrieval_import_equals_build(tmp_path, tiny_model):
    config = BuildConfig(shard_size=4)
    build_database(tiny_model, [corpus_from_texts("c", ROWS)], tmp_path / "built", config=config)
    src = _clip_retrieval(tmp_path / "laion", tiny_model, ROWS)
    report = import_database(
        src, tmp_path / "imported", model_name=tiny_model.name, embed_dim=tiny_model.embed_dim, config=config
    )
    assert report.count == len(CAPTIONS) and report.duplicates == 2
    assert _shard_bytes(tmp_path / "built") == _shard_bytes(tmp_path / "imported")
    built, imported = CaptionDatabase.open(tmp_path / "built"), CaptionDatabase.open(tmp_path / "imported")
    assert imported.manifest.model == built.manifest.model and imported.manifest.index == built.manifest.index
    queries = tiny_model.encode_texts(["red", "a dog", "water"])
    for a, b in zip(built.search(queries, 4), imported.search(queries, 4), strict=True):
        assert a.captions == b.captions
        np.testing.assert_array_equal(a.similarities, b.similarities)


def test_norms_are_fixed_or_checked_and_dims_checked(tmp_path, tiny_model):
    src = _clip_retrieval(tmp_path / "laion", tiny_model, ROWS, scale=3.0, dtype=np.float16)
    with pytest.raises(InvalidInputError, match="not L2-normalised"):
        import_database(src, tmp_path / "a", model_name="test-tiny", embed_dim=32, norms="check")
    import_database(src, tmp_path / "b", model_name="test-tiny", embed_dim=32)
    db = CaptionDatabase.open(tmp_path / "b")
    np.testing.assert_allclose(np.linalg.norm(db.embeddings.astype(np.float32), axis=1), 1.0, atol=2e-3)
    np.testing.assert_allclose(db.embeddings, tiny_model.encode_texts(db.captions(range(len(db)))), atol=2e-3)
    with pytest.raises(IndexMismatchError, match="32-d.*gives 64-d|64-d vectors"):
        import_database(src, tmp_path / "c", model_name="other", embed_dim=64)
    (src / "metadata" / "metadata_1.parquet").unlink()
    with pytest.raises(InvalidInputError, match="differ"):
        import_database(src, tmp_path / "d", model_name="test-tiny", embed_dim=32)


def test_parquet_with_an_embedding_column(tmp_path, tiny_model):
    emb = tiny_model.encode_texts(CAPTIONS)
    pq.write_table(pa.table({"text": CAPTIONS, "embedding": list(emb)}), tmp_path / "emb.parquet")
    import_database(tmp_path / "emb.parquet", tmp_path / "db", model_name="test-tiny", embed_dim=32)
    build_database(tiny_model, [corpus_from_texts("c", CAPTIONS)], tmp_path / "built")
    assert _shard_bytes(tmp_path / "db") == _shard_bytes(tmp_path / "built")
    pq.write_table(pa.table({"text": CAPTIONS}), tmp_path / "noemb.parquet")
    with pytest.raises(InvalidInputError, match="--embedding-column"):
        import_database(tmp_path / "noemb.parquet", tmp_path / "x", model_name="test-tiny", embed_dim=32)


def test_upgrade_a_format_1_database(tmp_path, tiny_model):
    old = tmp_path / "old"
    old.mkdir()
    emb = tiny_model.encode_texts(CAPTIONS).astype(np.float32)
    np.save(old / "embeddings.npy", emb)
    table = pa.table({"caption": pa.array(CAPTIONS, type=pa.large_string())})
    with pa.OSFile(str(old / "captions.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    manifest = {
        "model": "test-tiny",
        "embed_dim": 32,
        "count": len(CAPTIONS),
        "index": {"kind": "flat"},
        "normalisation": "",
        "corpora": [],
        "created": "",
        "files": {"embeddings.npy": 1},
        "format_version": 1,
    }
    (old / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatabaseError, match=f"vocabfree db upgrade {old}"):
        CaptionDatabase.open(old)
    upgrade_database(old)
    db = CaptionDatabase.open(old, model=tiny_model, verify="all")
    assert db.captions(range(len(db))) == tuple(CAPTIONS) and db.manifest.format_version == 2
    np.testing.assert_allclose(db.embeddings, emb, atol=1e-3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]
    with pytest.raises(InvalidInputError, match="nothing to upgrade"):
        upgrade_database(old)


def test_reindex_a_database_by_importing_it(tmp_path, tiny_model):
    texts = [f"w{chr(97 + i // 26 % 26)}{chr(97 + i % 26)}" for i in range(600)]
    build_database(tiny_model, [corpus_from_texts("c", texts)], tmp_path / "flat", config=BuildConfig(shard_size=256))
    from vocabfree.database import IndexConfig

    config = BuildConfig(shard_size=256, index=IndexConfig(kind="hnsw"))
    import_database(tmp_path / "flat", tmp_path / "hnsw", model_name="test-tiny", embed_dim=32, config=config)
    assert _shard_bytes(tmp_path / "flat") == _shard_bytes(tmp_path / "hnsw")
    assert CaptionDatabase.open(tmp_path / "hnsw").manifest.index["kind"] == "hnsw"
    with pytest.raises(IndexMismatchError, match="not of 'other'"):
        import_database(tmp_path / "flat", tmp_path / "x", model_name="other", embed_dim=32)


def test_killed_import_resumes_to_identical_shards(tmp_path, tiny_model):
    from vocabfree.database.importer import _Source, import_rows

    emb = tiny_model.encode_texts(CAPTIONS)
    config = BuildConfig(shard_size=3)

    def batches(die_at=None):
        for i in range(len(CAPTIONS)):
            if i == die_at:
                raise KeyboardInterrupt
            yield "rows", [CAPTIONS[i]], emb[i : i + 1]

    source = [_Source("rows", "f" * 64)]
    with pytest.raises(KeyboardInterrupt):
        import_rows(batches(die_at=7), source, tmp_path / "db", model_name="test-tiny", embed_dim=32, config=config)
    assert not (tmp_path / "db").exists()
    report = import_rows(
        batches(), source, tmp_path / "db", model_name="test-tiny", embed_dim=32, config=config, resume=True
    )
    assert report.shards_reused == 2 and report.encoded == 4
    import_rows(batches(), source, tmp_path / "fresh", model_name="test-tiny", embed_dim=32, config=config)
    assert _shard_bytes(tmp_path / "db") == _shard_bytes(tmp_path / "fresh")
