"""Building databases: manifest and checksums, shards, resume after a kill, state checks, atomic publication."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vocabfree.database import (
    BuildConfig,
    CaptionDatabase,
    IndexConfig,
    build_database,
    corpus_from_texts,
    partial_dir,
    read_manifest,
)
from vocabfree.errors import DatabaseError, InvalidInputError

from .conftest import CAPTIONS


class Killed(Exception):
    """Stands in for SIGKILL / Ctrl-C in the middle of a build."""


class CountingModel:
    """Wraps a model; counts texts encoded and can die after ``die_after`` encode calls (one per shard)."""

    def __init__(self, model, die_after: int | None = None):
        self.model, self.die_after = model, die_after
        self.name, self.embed_dim, self.logit_scale = model.name, model.embed_dim, model.logit_scale
        self.calls, self.texts = 0, 0

    def encode_images(self, images, **kwargs):
        return self.model.encode_images(images, **kwargs)

    def encode_texts(self, texts, **kwargs):
        if self.die_after is not None and self.calls >= self.die_after:
            raise Killed
        self.calls += 1
        self.texts += len(texts)
        return self.model.encode_texts(texts, **kwargs)


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_build_writes_manifest_shards_and_dedups(tmp_path, tiny_model):
    source = corpus_from_texts("c", [*CAPTIONS, " a  red door ", "", CAPTIONS[0]])
    report = build_database(tiny_model, [source], tmp_path / "db", config=BuildConfig(shard_size=3))
    assert report.count == len(CAPTIONS) and report.encoded == len(CAPTIONS) and report.duplicates == 2
    manifest = read_manifest(tmp_path / "db")
    assert manifest.model == "test-tiny" and manifest.embed_dim == tiny_model.embed_dim
    assert manifest.count == len(CAPTIONS) and manifest.format_version == 2 and manifest.dtype == "float16"
    assert [s["count"] for s in manifest.shards] == [3, 3, 3, 1]
    assert manifest.corpora[0] == {"name": "c", "sha256": source.sha256, "texts": len(CAPTIONS) + 3}
    assert manifest.index["kind"] == "flat" and manifest.index["requested"] == "auto"
    files = sorted(p.relative_to(tmp_path / "db").as_posix() for p in (tmp_path / "db").rglob("*") if p.is_file())
    assert files == ["manifest.json"] + sorted(
        f"shards/00000{k}.{ext}" for k in range(4) for ext in ("arrow", "json", "npy")
    )
    assert sorted(manifest.files) == files[1:] and all(len(e["sha256"]) == 64 for e in manifest.files.values())
    assert not partial_dir(tmp_path / "db").exists()
    db = CaptionDatabase.open(tmp_path / "db")
    assert db.captions(range(len(CAPTIONS))) == tuple(CAPTIONS)
    assert db.embeddings.dtype == np.float16
    np.testing.assert_allclose(db.embeddings, tiny_model.encode_texts(CAPTIONS), atol=1e-3)


def test_kill_after_shard_k_then_resume_is_byte_identical(tmp_path, tiny_model):
    source = corpus_from_texts("c", CAPTIONS)
    config = BuildConfig(shard_size=3)  # 10 captions -> 4 shards
    out = tmp_path / "db"
    with pytest.raises(Killed):
        build_database(CountingModel(tiny_model, die_after=2), [source], out, config=config)
    assert not out.exists() and partial_dir(out).is_dir()  # nothing half-built is published
    with pytest.raises(DatabaseError, match="--resume"):
        build_database(tiny_model, [source], out, config=config)
    with pytest.raises(DatabaseError, match="not a complete caption database"):
        CaptionDatabase.open(partial_dir(out))
    second = CountingModel(tiny_model)
    report = build_database(second, [source], out, config=config, resume=True)
    assert second.calls == 2 and second.texts == 4 and report.shards_reused == 2 and report.encoded == 4
    fresh = tmp_path / "fresh"
    build_database(tiny_model, [source], fresh, config=config)
    resumed, uninterrupted = _files(out), _files(fresh)
    assert resumed.keys() == uninterrupted.keys()
    for name in resumed:
        if name != "manifest.json":  # differs only in its creation time
            assert resumed[name] == uninterrupted[name], name
    queries = tiny_model.encode_texts(["red", "a cat", "sea"])
    for a, b in zip(
        CaptionDatabase.open(out).search(queries, 5), CaptionDatabase.open(fresh).search(queries, 5), strict=True
    ):
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.similarities, b.similarities)
    assert not partial_dir(out).exists()


def test_resume_refuses_changed_inputs(tmp_path, tiny_model):
    out = tmp_path / "db"
    with pytest.raises(Killed):
        build_database(
            CountingModel(tiny_model, die_after=1),
            [corpus_from_texts("c", CAPTIONS)],
            out,
            config=BuildConfig(shard_size=3),
        )
    with pytest.raises(DatabaseError, match="corpora changed"):
        build_database(
            tiny_model, [corpus_from_texts("c", CAPTIONS[:5])], out, config=BuildConfig(shard_size=3), resume=True
        )
    with pytest.raises(DatabaseError, match="shard_size changed"):
        build_database(
            tiny_model, [corpus_from_texts("c", CAPTIONS)], out, config=BuildConfig(shard_size=4), resume=True
        )


def test_resume_after_the_manifest_still_checks_the_corpus(tmp_path, tiny_model, monkeypatch):
    """Issue 15: killed once the manifest existed, then resumed with another corpus: refused, nothing published."""
    import vocabfree.database.build as build

    out = tmp_path / "db"

    def killed_publish(plan):
        raise Killed

    monkeypatch.setattr(build, "publish", killed_publish)
    with pytest.raises(Killed):
        build_database(tiny_model, [corpus_from_texts("c", CAPTIONS)], out)
    monkeypatch.undo()
    assert (partial_dir(out) / "manifest.json").is_file() and not out.exists()
    with pytest.raises(DatabaseError, match="corpora changed"):
        build_database(tiny_model, [corpus_from_texts("c", CAPTIONS[:4])], out, resume=True)
    assert not out.exists()
    report = build_database(tiny_model, [corpus_from_texts("c", CAPTIONS)], out, resume=True)
    assert report.count == len(CAPTIONS) and len(CaptionDatabase.open(out)) == len(CAPTIONS)


def test_torn_or_corrupt_shard_is_re_encoded(tmp_path, tiny_model):
    out = tmp_path / "db"
    with pytest.raises(Killed):
        build_database(
            CountingModel(tiny_model, die_after=3),
            [corpus_from_texts("c", CAPTIONS)],
            out,
            config=BuildConfig(shard_size=3),
        )
    torn = partial_dir(out) / "shards" / "000001.npy"
    torn.write_bytes(torn.read_bytes()[:50])  # a crash mid-write on a filesystem without atomic rename
    flipped = partial_dir(out) / "shards" / "000002.npy"
    data = bytearray(flipped.read_bytes())
    data[-3] ^= 0xFF  # same size, different bytes
    flipped.write_bytes(bytes(data))
    model = CountingModel(tiny_model)
    build_database(model, [corpus_from_texts("c", CAPTIONS)], out, config=BuildConfig(shard_size=3), resume=True)
    assert model.calls == 3  # shards 1, 2 and the never-written 3
    CaptionDatabase.open(out, verify="all")


def test_dedup_across_shards_and_sources(tmp_path, tiny_model):
    first = corpus_from_texts("a", ["red car", "blue sky", "green tree", "red  car"])
    second = corpus_from_texts("b", ["blue sky", "black cat", "green tree", "white dog"])
    report = build_database(tiny_model, [first, second], tmp_path / "db", config=BuildConfig(shard_size=2))
    db = CaptionDatabase.open(tmp_path / "db")
    assert db.captions(range(len(db))) == ("red car", "blue sky", "green tree", "black cat", "white dog")
    assert report.duplicates == 3
    assert [c["texts"] for c in db.manifest.corpora] == [4, 4]


def test_existing_output_needs_overwrite(tmp_path, tiny_model):
    out = tmp_path / "db"
    build_database(tiny_model, [corpus_from_texts("c", CAPTIONS)], out)
    with pytest.raises(InvalidInputError, match="--overwrite"):
        build_database(tiny_model, [corpus_from_texts("c", CAPTIONS[:4])], out)
    build_database(tiny_model, [corpus_from_texts("c", CAPTIONS[:4])], out, overwrite=True)
    assert len(CaptionDatabase.open(out)) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db"]


def test_empty_corpus_is_an_error(tmp_path, tiny_model):
    with pytest.raises(InvalidInputError, match="no captions"):
        build_database(tiny_model, [corpus_from_texts("c", ["", "  "])], tmp_path / "db")


@pytest.mark.parametrize("kind", ["ivf", "ivfpq", "hnsw"])
def test_approximate_indexes_rerank_exactly(tmp_path, tiny_model, kind):
    # distinct letter-only words: unrelated random vectors under the tiny backend (it ignores digits)
    texts = [f"w{chr(97 + i // 26 % 26)}{chr(97 + i % 26)}" for i in range(600)]
    build_database(
        tiny_model,
        [corpus_from_texts("c", texts)],
        tmp_path / kind,
        config=BuildConfig(shard_size=128, index=IndexConfig(kind=kind, nlist=8, train_size=600)),
    )
    db = CaptionDatabase.open(tmp_path / kind, model=tiny_model)
    assert (tmp_path / kind / "index.faiss").is_file() and "index.faiss" in db.manifest.files
    params = json.loads((tmp_path / kind / "manifest.json").read_text())["index"]
    assert params["kind"] == kind and params["tuned_recall_at_10"] >= 0.95
    emb = np.asarray(db.embeddings, dtype=np.float32)
    hits = db.search(emb[:5], k=3)
    assert all(h.ids[0] == i for i, h in enumerate(hits))  # each caption finds itself first
    for q, h in zip(emb[:5], hits, strict=True):
        np.testing.assert_allclose(h.similarities, emb[h.ids] @ q, rtol=1e-6)


def test_replace_folder_publishes_and_restores_the_old_folder_on_failure(tmp_path):
    from vocabfree.database.build import replace_folder

    dst = tmp_path / "db"
    dst.mkdir()
    (dst / "manifest.json").write_text("old")
    with pytest.raises(FileNotFoundError):
        replace_folder(tmp_path / "missing", dst)  # fails inside the publication: the old folder is put back
    assert (dst / "manifest.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db"]

    new = tmp_path / "db.partial"
    (new / "shards").mkdir(parents=True)
    (new / "manifest.json").write_text("new")
    (new / "shards" / "000000.npy").write_bytes(b"\x01")
    replace_folder(new, dst)
    assert (dst / "manifest.json").read_text() == "new" and (dst / "shards" / "000000.npy").read_bytes() == b"\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db"]  # no partial, no old copy, no temporary
