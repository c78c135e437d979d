"""CaSED: each pure step on hand-made arrays, then the classifier end to end with ``test-tiny``."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.conftest import TINY_CAPTIONS, build_tiny_db
from vocabfree.classify import steps
from vocabfree.classify.methods import predict_vocabulary_free
from vocabfree.classify.vocabulary_free import VocabularyFreeClassifier
from vocabfree.errors import IndexMismatchError, InvalidInputError
from vocabfree.vocabulary import SetLexicon, TextCompose, ToLowercase

CAPTIONS = TINY_CAPTIONS[:8]  # without the white and yellow captions, which would change two expected answers


@pytest.fixture
def db(tmp_path, tiny_model):
    return build_tiny_db(tmp_path / "db", tiny_model, CAPTIONS)


def test_softmax_scores_use_logit_scale_and_tau():
    q = np.array([1.0, 0.0], np.float32)
    cands = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    p = steps.softmax_scores(q, cands, logit_scale=2.0)
    np.testing.assert_allclose(p, np.exp([2.0, 0.0]) / np.exp([2.0, 0.0]).sum(), rtol=1e-6)
    np.testing.assert_allclose(
        steps.softmax_scores(q, cands, logit_scale=2.0, tau=2.0),
        np.exp([1.0, 0.0]) / np.exp([1.0, 0.0]).sum(),
        rtol=1e-6,
    )
    with pytest.raises(InvalidInputError):
        steps.softmax_scores(q, cands, logit_scale=1.0, tau=0.0)


def test_alpha_mixes_image_and_caption_views():
    # candidate 0 agrees with the image, candidate 1 with the caption centroid
    image = np.array([1.0, 0.0, 0.0], np.float32)
    captions = np.array([[0.0, 1.0, 0.0], [0.0, 0.8, 0.6]], np.float32)
    centroid = steps.caption_centroid(captions)
    np.testing.assert_allclose(np.linalg.norm(centroid), 1.0, rtol=1e-6)
    cands = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32)
    p_img = steps.softmax_scores(image, cands, logit_scale=10.0)
    p_txt = steps.softmax_scores(centroid, cands, logit_scale=10.0)
    for alpha in (0.0, 0.3, 0.7, 1.0):
        np.testing.assert_allclose(steps.mix_scores(p_img, p_txt, alpha), alpha * p_img + (1 - alpha) * p_txt)
    assert steps.mix_scores(p_img, p_txt, 0.7).argmax() == 0  # the image view dominates at CaSED's 0.7
    assert steps.mix_scores(p_img, p_txt, 0.2).argmax() == 1
    with pytest.raises(InvalidInputError):
        steps.mix_scores(p_img, p_txt, 1.5)


def test_extract_candidates_falls_back_to_object():
    transform = TextCompose([ToLowercase()])
    assert steps.extract_candidates(["Dog dog Cat"], transform) == ["dog", "cat"]
    assert steps.extract_candidates([""], transform) == ["object"]
    assert steps.extract_candidates([""], transform, fallback="thing") == ["thing"]


def test_answer_orders_by_score_and_keeps_evidence():
    p_img, p_txt = np.array([0.2, 0.5, 0.3]), np.array([0.6, 0.2, 0.2])
    p = steps.mix_scores(p_img, p_txt, 0.5)
    result = steps.answer(["a", "b", "c"], p_img, p_txt, p, top_k=2, source="x.jpg")
    assert result.labels == ("a", "b") and result.scores == pytest.approx((0.4, 0.35))
    assert [c.name for c in result.candidates] == ["a", "b", "c"]
    assert result.candidates[0].image_score == pytest.approx(0.2) and result.source == "x.jpg"


def test_cased_names_solid_colours(db, tiny_model):
    lexicon = SetLexicon(adj=["red", "blue", "green", "black"], noun=["car", "sky", "grass", "cat", "water"])
    clf = VocabularyFreeClassifier(tiny_model, db, k=3, lexicon=lexicon)
    images = [Image.new("RGB", (8, 8), c) for c in [(255, 0, 0), (0, 0, 255), (0, 255, 0)]]
    preds = clf.predict(images, top_k=2)
    assert [p.label for p in preds] == ["red", "blue", "green"]
    first = preds[0]
    assert first.captions and all(c.similarity <= 1.0 + 1e-5 for c in first.captions)
    assert sum(c.score for c in first.candidates) == pytest.approx(1.0, abs=1e-5)
    for c in first.candidates:
        assert c.score == pytest.approx(0.7 * c.image_score + 0.3 * c.text_score, abs=1e-6)
    # the same answers from precomputed embeddings, in one batch or many
    emb = tiny_model.encode_images(images)
    one_by_one = VocabularyFreeClassifier(tiny_model, db, k=3, lexicon=lexicon, batch_size=1)
    again = one_by_one.predict_embeddings(emb, top_k=2)
    assert [p.labels for p in again] == [p.labels for p in preds]


def test_retrieval_dedup_is_applied(db, tiny_model):
    clf = VocabularyFreeClassifier(tiny_model, db, k=5, lexicon=None)
    red = tiny_model.encode_images([Image.new("RGB", (8, 8), (255, 0, 0))])
    with_dedup = clf.predict_embeddings(red)[0]
    clf.dedup_threshold = None
    without = clf.predict_embeddings(red)[0]
    assert len(with_dedup.captions) < len(without.captions) == 5


def test_arguments_are_validated_at_predict(db, tiny_model):
    emb = tiny_model.encode_images([Image.new("RGB", (8, 8), (255, 0, 0))])
    for bad in ({"k": 0}, {"alpha": 2.0}, {"lexicon": "flair"}):
        with pytest.raises(InvalidInputError):
            VocabularyFreeClassifier(tiny_model, db, **bad).predict_embeddings(emb)


def test_database_of_another_model_is_refused(db):
    from vocabfree.models.tiny import TinyModel

    other = TinyModel()
    other.name = "other"
    with pytest.raises(IndexMismatchError):
        VocabularyFreeClassifier(other, db).fit()


def test_predict_vocabulary_free_one_call(db, tiny_model):
    images = [Image.new("RGB", (8, 8), (0, 0, 255))]
    preds = predict_vocabulary_free(
        tiny_model, db.path, images, method="cased", top_k=3, sources=["b.png"], lexicon=None
    )
    assert preds[0].label == "blue" and preds[0].source == "b.png" and len(preds[0].labels) <= 3


def test_eval_cli_runs_on_a_tiny_dataset(db, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from vocabfree.cli import app

    rows = ["path,label"]
    for name, rgb in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        for i in range(2):
            Image.new("RGB", (8, 8), rgb).save(tmp_path / f"{name}{i}.png")
            rows.append(f"{name}{i}.png,{name}")
    (tmp_path / "test.csv").write_text("\n".join(rows) + "\n")

    class FakeEncoder:  # the real metric encoder (MiniLM) is not needed to test the command
        def encode(self, texts):
            return np.eye(len(texts), 4, dtype=np.float32)

    monkeypatch.setattr("vocabfree.models.sentence.load_sentence_encoder", lambda *a, **k: FakeEncoder())
    common = [
        "eval",
        "vocab-free",
        "--dataset",
        str(tmp_path / "test.csv"),
        "--db",
        str(db.path),
        "--model",
        "test-tiny",
        "--lexicon",
        "none",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    result = CliRunner().invoke(app, [*common, "--json"])
    assert result.exit_code == 0, result.output
    import json

    data = json.loads(result.output[result.output.index("{") :])["results"][0]
    assert data["cluster_accuracy"] == 100.0 and data["semantic_iou"] == 100.0 and data["n_images"] == 4
    table = CliRunner().invoke(app, [*common, "--table", "--method", "cased", "--method", "closest-caption"])
    assert table.exit_code == 0, table.output
    assert "closest-caption" in table.output and "CA" in table.output
