import numpy as np
import pytest
from sklearn.base import clone

from vocabfree.classify.zero_shot import ZeroShotClassifier, build_zero_shot_weights, topk_predictions
from vocabfree.errors import InvalidInputError, NotFittedError
from vocabfree.models.protocol import l2_normalize


class CountingModel:
    """Wraps a backend and counts the texts it is asked to encode."""

    def __init__(self, inner):
        self.inner, self.name, self.embed_dim, self.logit_scale = inner, "counting", inner.embed_dim, 100.0
        self.encoded: list[str] = []

    def encode_texts(self, texts, **kw):
        self.encoded.extend(texts)
        return self.inner.encode_texts(texts, **kw)

    def encode_images(self, images, **kw):
        return self.inner.encode_images(images, **kw)


def test_weights_are_normalised_mean_of_normalised_template_embeddings(tiny_model):
    templates = ("a photo of a {}.", "a {} thing", "{}")
    weights = build_zero_shot_weights(tiny_model, ["cat", "dog"], templates)
    for row, label in zip(weights, ["cat", "dog"], strict=True):
        per_template = tiny_model.encode_texts([t.format(label) for t in templates])
        expected = l2_normalize(per_template.mean(axis=0))
        np.testing.assert_allclose(row, expected, atol=1e-6)
        assert abs(np.linalg.norm(row) - 1) < 1e-5


def test_known_answer_on_colours(tiny_model, colour_images):
    clf = ZeroShotClassifier(tiny_model, templates="openai-7").fit(None, ["red", "green", "blue"])
    paths = [colour_images[c] for c in ("green", "blue", "red")]
    assert list(clf.predict(paths)) == ["green", "blue", "red"]
    proba = clf.predict_proba(paths)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert clf.score(paths, ["green", "blue", "red"]) == 1.0


def test_topk_is_sorted_and_capped(tiny_model, colour_images):
    clf = ZeroShotClassifier(tiny_model, templates="none").fit(None, ["blue", "red", "green", "yellow"])
    (pred,) = clf.predict_topk([colour_images["red"]], k=10, sources=["r.png"])
    assert len(pred.labels) == 4 and pred.label == "red" and pred.source == "r.png"
    assert list(pred.scores) == sorted(pred.scores, reverse=True)
    with pytest.raises(InvalidInputError):
        clf.predict_topk([colour_images["red"]], k=0)


def test_topk_predictions_order_on_known_matrix():
    proba = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]])
    preds = topk_predictions(proba, np.array(["a", "b", "c"], dtype=object), 2)
    assert [p.labels for p in preds] == [("b", "c"), ("a", "c")]
    assert preds[0].scores == pytest.approx((0.6, 0.3))


def test_embeddings_and_images_give_the_same_answer(tiny_model, colour_images):
    clf = ZeroShotClassifier(tiny_model).fit(None, ["red", "green"])
    paths = list(colour_images.values())
    emb = tiny_model.encode_images(paths)
    np.testing.assert_allclose(clf.predict_proba(paths), clf.predict_proba(emb), atol=1e-6)


def test_label_embeddings_are_cached_per_model(tiny_model):
    model = CountingModel(tiny_model)
    ZeroShotClassifier(model, templates="photo").fit(None, ["cat", "dog"])
    ZeroShotClassifier(model, templates="photo").fit(None, ["dog", "bird"])
    assert model.encoded == ["a photo of a cat.", "a photo of a dog.", "a photo of a bird."]


def test_bad_labels_and_unfitted_use(tiny_model, colour_images):
    with pytest.raises(InvalidInputError, match="duplicate"):
        ZeroShotClassifier(tiny_model).fit(None, ["cat", "cat"])
    with pytest.raises(InvalidInputError, match="no labels"):
        ZeroShotClassifier(tiny_model).fit(None, [])
    with pytest.raises(InvalidInputError, match="non-empty"):
        ZeroShotClassifier(tiny_model).fit(None, ["cat", " "])
    with pytest.raises(NotFittedError):
        ZeroShotClassifier(tiny_model).predict([colour_images["red"]])


def test_sklearn_clone_and_params(tiny_model):
    clf = ZeroShotClassifier(tiny_model, templates="photo")
    assert clone(clf).get_params()["templates"] == "photo"
    assert clf.set_params(templates="none").templates == "none"
