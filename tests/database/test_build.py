"""Building databases: manifest, chunking, resume after a kill, atomic publication, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vocabfree.database import (
    BuildConfig,
    CaptionDatabase,
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
    """Wraps a model; counts texts encoded and can die after ``die_after`` encode calls."""

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


def test_build_writes_manifest_and_dedups(tmp_path, tiny_model):
    source = corpus_from_texts("c", [*CAPTIONS, " a  red door ", "", CAPTIONS[0]])
    report = build_database(tiny_model, [source], tmp_path / "db", config=BuildConfig(chunk_size=3))
    assert report.count == len(CAPTIONS) and report.encoded == len(CAPTIONS)
    manifest = read_manifest(tmp_path / "db")
    assert manifest.model == "test-tiny" and manifest.embed_dim == tiny_model.embed_dim
    assert manifest.count == len(CAPTIONS) and manifest.format_version == 1
    assert manifest.corpora[0]["sha256"] == source.sha256 and manifest.index["kind"] == "flat"
    assert manifest.normalisation and manifest.created.endswith("+00:00")
    assert sorted(p.name for p in (tmp_path / "db").iterdir()) == [
        "captions.arrow", "embeddings.npy", "index.faiss", "manifest.json"]
    assert not partial_dir(tmp_path / "db").exists()
    db = CaptionDatabase.open(tmp_path / "db")
    assert db.captions(range(len(CAPTIONS))) == tuple(CAPTIONS)
    np.testing.assert_allclose(db.embeddings, tiny_model.encode_texts(CAPTIONS), atol=1e-6)


def test_resume_after_a_kill_encodes_only_missing_chunks(tmp_path, tiny_model):
    source = corpus_from_texts("c", CAPTIONS)
    config = BuildConfig(chunk_size=3)  # 10 captions -> 4 chunks
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
    assert second.calls == 2 and second.texts == 4 and report.chunks_reused == 2 and report.encoded == 4
    fresh = tmp_path / "fresh"
    build_database(tiny_model, [source], fresh, config=config)
    np.testing.assert_array_equal(CaptionDatabase.open(out).embeddings, CaptionDatabase.open(fresh).embeddings)
    assert not partial_dir(out).exists()


def test_resume_refuses_changed_inputs(tmp_path, tiny_model):
    out = tmp_path / "db"
    with pytest.raises(Killed):
        build_database(CountingModel(tiny_model, die_after=1), [corpus_from_texts("c", CAPTIONS)], out,
                       config=BuildConfig(chunk_size=3))
    with pytest.raises(DatabaseError, match="changed"):
        build_database(tiny_model, [corpus_from_texts("c", CAPTIONS[:5])], out, config=BuildConfig(chunk_size=3),
                       resume=True)


def test_torn_chunk_is_re_encoded(tmp_path, tiny_model):
    out = tmp_path / "db"
    with pytest.raises(Killed):
        build_database(CountingModel(tiny_model, die_after=2), [corpus_from_texts("c", CAPTIONS)], out,
                       config=BuildConfig(chunk_size=3))
    chunk = partial_dir(out) / "chunks" / "000001.npy"
    chunk.write_bytes(chunk.read_bytes()[:50])  # a crash mid-write on a filesystem without atomic rename
    model = CountingModel(tiny_model)
    build_database(model, [corpus_from_texts("c", CAPTIONS)], out, config=BuildConfig(chunk_size=3), resume=True)
    assert model.calls == 3


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


@pytest.mark.parametrize("kind", ["ivfpq", "hnsw"])
def test_approximate_indexes(tmp_path, tiny_model, kind):
    from vocabfree.database import IndexConfig

    # distinct letter-only words: unrelated random vectors under the tiny backend (it ignores digits)
    texts = [f"w{chr(97 + i // 26 % 26)}{chr(97 + i % 26)}" for i in range(400)]
    build_database(tiny_model, [corpus_from_texts("c", texts)], tmp_path / kind,
                   config=BuildConfig(index=IndexConfig(kind=kind, nlist=4, nprobe=4)))
    db = CaptionDatabase.open(tmp_path / kind, model=tiny_model)
    hits = db.search(db.embeddings[:5], k=3)
    assert all(i in h.ids for i, h in enumerate(hits))  # each caption finds itself among its top 3
    assert json.loads((tmp_path / kind / "manifest.json").read_text())["index"]["kind"] == kind
