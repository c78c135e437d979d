"""Optional capabilities are declared in models/protocol.py and asked for with ``capability``."""

import numpy as np

from vocabfree.models import load_model
from vocabfree.models.protocol import (
    ImageFeatures,
    ImageTokens,
    LabelDescriptions,
    ReferenceImages,
    VisionLanguageModel,
    capability,
)


class _WithFeatures:
    name, embed_dim, logit_scale = "with-features", 2, 1.0

    def encode_images(self, images, *, batch_size=32, progress=False):
        return np.zeros((len(images), 2), np.float32)

    def encode_texts(self, texts, *, batch_size=256, progress=False):
        return np.zeros((len(texts), 2), np.float32)

    def encode_image_features(self, images, *, batch_size=32, progress=False):
        return np.ones((len(images), 3), np.float32)


def test_tiny_model_offers_no_optional_capability() -> None:
    tiny = load_model("test-tiny")
    assert isinstance(tiny, VisionLanguageModel)
    for kind in (ImageFeatures, ImageTokens, LabelDescriptions, ReferenceImages):
        assert capability(tiny, kind) is None


def test_capability_returns_the_model_when_offered() -> None:
    model = _WithFeatures()
    features = capability(model, ImageFeatures)
    assert features is model
    assert features.encode_image_features(["a", "b"]).shape == (2, 3)
    assert capability(model, ReferenceImages) is None
