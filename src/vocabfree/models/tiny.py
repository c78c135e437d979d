"""``test-tiny``: a deterministic, dependency-free backend for tests and demos (timm's ``test_*`` idea).

It is not a learned model, but it is *aligned* in one useful way: the text embedding of a colour word equals
the image embedding of a solid image of that colour, so zero-shot and vocabulary-free pipelines have known
answers in tests ("a red square is red"). Other words get fixed pseudo-random vectors from a hash.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from vocabfree.images import ImageInput, load_image
from vocabfree.models._registry import register_backend
from vocabfree.models._runtime import Precision
from vocabfree.models.protocol import l2_normalize

COLOURS = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "cyan": (0, 255, 255),
    "magenta": (255, 0, 255),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
}
_GRID = 4  # images are summarised as a 4x4 grid of RGB means (48 numbers)


class TinyModel:
    """Deterministic colour-aware toy backend; see the module docstring."""

    def __init__(self, embed_dim: int = 32, seed: int = 0):
        self.name = "test-tiny"
        self.embed_dim = embed_dim
        self.logit_scale = 100.0
        self.image_size = _GRID  # its whole input is a 4 x 4 summary of the image
        rng = np.random.default_rng(seed)
        self._projection = rng.standard_normal((_GRID * _GRID * 3, embed_dim)).astype(np.float32)

    def _image_features(self, image) -> np.ndarray:
        small = np.asarray(image.resize((_GRID, _GRID)), dtype=np.float32) / 255.0 - 0.5
        return small.reshape(-1) @ self._projection

    def _word_vector(self, word: str) -> np.ndarray:
        if word in COLOURS:
            from PIL import Image

            return self._image_features(Image.new("RGB", (_GRID, _GRID), COLOURS[word]))
        seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
        return np.random.default_rng(seed).standard_normal(self.embed_dim).astype(np.float32)

    def encode_images(
        self, images: Sequence[ImageInput], *, batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        feats = [self._image_features(load_image(x)) for x in images]
        return l2_normalize(np.stack(feats) if feats else np.zeros((0, self.embed_dim)))

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 256, progress: bool = False) -> np.ndarray:
        rows = []
        for text in texts:
            words = re.findall(r"[a-z]+", text.lower()) or [""]
            # Colour words dominate so that "a photo of a red." still lands on red.
            rows.append(sum((4.0 if w in COLOURS else 1.0) * self._word_vector(w) for w in words))
        return l2_normalize(np.stack(rows) if rows else np.zeros((0, self.embed_dim)))


@register_backend("test-tiny", "deterministic toy backend for tests (colour words align with solid colours)")
def create_tiny(embed_dim: int = 32, device: str | None = None, precision: Precision = "auto") -> TinyModel:
    """``device`` and ``precision`` are accepted like every backend's and ignored: this is float32 numpy on CPU."""
    del device, precision
    return TinyModel(embed_dim=embed_dim)
