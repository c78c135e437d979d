import numpy as np
import pytest

from vocabfree.classify.few_shot import FewShotClassifier
from vocabfree.errors import IndexMismatchError, InvalidInputError, NotFittedError


def blobs(n_per_class: int, seed: int = 0, dim: int = 16, classes=("ant", "bee", "cat")):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).standard_normal((len(classes), dim)) * 3
    X = np.concatenate([c + rng.standard_normal((n_per_class, dim)) for c in centres]).astype(np.float32)
    y = [label for label in classes for _ in range(n_per_class)]
    return X, y


def test_separable_embeddings_are_learned():
    X, y = blobs(8)
    probe = FewShotClassifier(Cs=(0.1, 1.0, 10.0)).fit(X, y)
    Xt, yt = blobs(20, seed=1)
    assert probe.score(Xt, yt) > 0.95
    assert list(probe.classes_) == ["ant", "bee", "cat"]
    assert probe.C_ in (0.1, 1.0, 10.0)
    np.testing.assert_allclose(probe.predict_proba(Xt).sum(axis=1), 1.0, atol=1e-5)


def test_one_shot_uses_default_C():
    X, y = blobs(1)
    probe = FewShotClassifier(default_C=3.0).fit(X, y)
    assert probe.C_ == 3.0 and probe.predict(X).tolist() == y


def test_save_load_round_trip_is_exact(tmp_path, tiny_model):
    X, y = blobs(4, dim=tiny_model.embed_dim)
    probe = FewShotClassifier(tiny_model).fit(X, y)
    path = probe.save(tmp_path / "probe.npz")
    assert sorted(tmp_path.iterdir()) == [path]  # written atomically: no temporary left beside it
    loaded = FewShotClassifier.load(path, model=tiny_model)
    np.testing.assert_array_equal(loaded.predict_proba(X), probe.predict_proba(X))
    assert list(loaded.classes_) == list(probe.classes_)


def test_model_mismatch_and_bad_inputs(tmp_path, tiny_model):
    X, y = blobs(4, dim=tiny_model.embed_dim)
    path = FewShotClassifier(tiny_model).fit(X, y).save(tmp_path / "p.npz")

    class Other:
        name, embed_dim = "other", tiny_model.embed_dim

    with pytest.raises(IndexMismatchError, match="fitted on model 'test-tiny'"):
        FewShotClassifier.load(path, model=Other())
    with pytest.raises(InvalidInputError, match="3 labels"):
        FewShotClassifier().fit(X[:5], y[:3])
    with pytest.raises(InvalidInputError, match="requires y to be passed, but the target y is None"):
        FewShotClassifier().fit(X, None)
    with pytest.raises(InvalidInputError, match="two classes"):
        FewShotClassifier().fit(X[:3], ["a", "a", "a"])
    with pytest.raises(NotFittedError):
        FewShotClassifier().predict(X)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(InvalidInputError, match="not a vocabfree probe"):
        FewShotClassifier.load(tmp_path / "junk.npz")


def test_fit_on_images_through_the_model(tiny_model, colour_images):
    paths = [colour_images[c] for c in ("red", "green", "blue")] * 2
    labels = ["red", "green", "blue"] * 2
    probe = FewShotClassifier(tiny_model).fit(paths, labels)
    assert list(probe.predict(paths)) == labels


def test_auto_features_use_the_backbone_where_the_model_has_one(tmp_path, tiny_model, colour_images):
    class WithBackbone:
        """The tiny model plus a 'backbone' of 5-d features (as ``local`` offers 1280-d pooled features)."""

        name, embed_dim, logit_scale = "with-backbone", tiny_model.embed_dim, 100.0
        encode_images = staticmethod(tiny_model.encode_images)

        @staticmethod
        def encode_image_features(images, **_):
            return tiny_model.encode_images(images)[:, :5]

    images = [colour_images[c] for c in ("red", "green", "blue", "red", "green", "blue")]
    labels = ["r", "g", "b", "r", "g", "b"]
    probe = FewShotClassifier(WithBackbone()).fit(images, labels)
    assert probe.features_ == "backbone" and probe.n_features_in_ == 5
    loaded = FewShotClassifier.load(probe.save(tmp_path / "p.npz"), model=WithBackbone())
    assert loaded.features_ == "backbone" and list(loaded.predict(images)) == labels
    assert FewShotClassifier(tiny_model).fit(images, labels).features_ == "embedding"
