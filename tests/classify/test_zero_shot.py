import numpy as np
import pytest
from sklearn.base import clone

from vocabfree.classify.zero_shot import ZeroShotClassifier, build_zero_shot_weights, topk_predictions
from vocabfree.errors import InvalidInputError, MissingDependencyError, NotFittedError
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


# ------------------------------------------------------------------- descriptions and calibration


class DescribedModel(CountingModel):
    """A backend that asks for WordNet descriptions and offers reference embeddings (as ``local`` does)."""

    label_descriptions = "wordnet"

    def __init__(self, inner, reference):
        super().__init__(inner)
        self.reference = reference

    def reference_image_embeddings(self):
        return self.reference


def test_descriptions_give_meaning_to_unknown_names(tiny_model, colour_images):
    labels = ["apple", "sky"]  # hashed words: no relation to colours in the tiny model
    described = {"apple": "a round red fruit", "sky": ["the blue expanse above", "blue air"]}
    clf = ZeroShotClassifier(tiny_model, templates="none", descriptions=described).fit(None, labels)
    assert list(clf.predict([colour_images["red"], colour_images["blue"]])) == ["apple", "sky"]
    assert clf.descriptions_ == {"apple": ["a round red fruit"], "sky": ["the blue expanse above", "blue air"]}
    plain = ZeroShotClassifier(tiny_model, templates="none", descriptions="none").fit(None, labels)
    assert plain.descriptions_ == {} and not np.allclose(plain.class_embeddings_, clf.class_embeddings_)
    np.testing.assert_allclose(np.linalg.norm(clf.class_embeddings_, axis=1), 1.0, atol=1e-5)


def test_descriptions_from_a_json_file(tiny_model, tmp_path):
    path = tmp_path / "descriptions.json"
    path.write_text('{"apple": "a round red fruit"}')
    from_file = ZeroShotClassifier(tiny_model, descriptions=str(path)).fit(None, ["apple", "sky"])
    from_dict = ZeroShotClassifier(tiny_model, descriptions={"apple": "a round red fruit"}).fit(None, ["apple", "sky"])
    np.testing.assert_allclose(from_file.class_embeddings_, from_dict.class_embeddings_, atol=1e-6)
    path.write_text("{not json")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        ZeroShotClassifier(tiny_model, descriptions=str(path)).fit(None, ["apple"])
    with pytest.raises(InvalidInputError, match="JSON file"):
        ZeroShotClassifier(tiny_model, descriptions=str(tmp_path / "missing.json")).fit(None, ["apple"])
    with pytest.raises(InvalidInputError, match="must be strings"):
        ZeroShotClassifier(tiny_model, descriptions={"apple": [3]}).fit(None, ["apple"])


def test_auto_descriptions_degrade_with_a_warning_without_wordnet(tiny_model, monkeypatch, caplog):
    import vocabfree.vocabulary.descriptions as descriptions

    def missing(path=None):
        raise MissingDependencyError("WordNet not found; apt-get install wordnet-base")

    monkeypatch.setattr(descriptions, "find_wordnet_dir", missing)
    model = DescribedModel(tiny_model, reference=None)
    clf = ZeroShotClassifier(model).fit(None, ["rose", "tulip"])
    assert clf.descriptions_ == {} and "descriptions are off" in caplog.text
    with pytest.raises(MissingDependencyError):
        ZeroShotClassifier(model, descriptions="wordnet").fit(None, ["rose", "tulip"])


def test_calibration_standardises_each_label_over_the_references(tiny_model, colour_images):
    reference = tiny_model.encode_images(list(colour_images.values()))
    model = DescribedModel(tiny_model, reference)
    labels = ["red", "green", "blue", "white"]
    clf = ZeroShotClassifier(model, descriptions="none").fit(None, labels)  # calibrate="auto": reference offered
    assert clf.calibrated_
    scores = clf.decision_function(reference) / model.logit_scale  # (R, C)
    np.testing.assert_allclose(scores.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(scores.std(axis=0), scores.std(axis=0).mean(), rtol=1e-4)
    assert list(clf.predict([colour_images["red"], colour_images["blue"]])) == ["red", "blue"]
    off = ZeroShotClassifier(model, descriptions="none", calibrate=False).fit(None, labels)
    assert not off.calibrated_ and np.all(off.intercept_ == 0)
    assert not ZeroShotClassifier(tiny_model).fit(None, labels).calibrated_  # auto: no reference, no calibration
    with pytest.raises(InvalidInputError, match="reference"):
        ZeroShotClassifier(tiny_model, calibrate=True).fit(None, labels)
    with pytest.raises(InvalidInputError, match="calibrate"):
        ZeroShotClassifier(tiny_model, calibrate="sometimes").fit(None, labels)
