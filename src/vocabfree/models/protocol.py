"""The one interface every backend implements.

Tasks (classify, caption, database) see a model only through this protocol, so a Hugging Face CLIP, the
offline ``local`` model and the ``test-tiny`` backend are interchangeable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from vocabfree.images import ImageInput


@runtime_checkable
class VisionLanguageModel(Protocol):
    """An image encoder and a text encoder that share one embedding space.

    Both encoders return float32 arrays of shape (N, embed_dim) whose rows are L2-normalised, so a dot
    product is a cosine similarity. ``logit_scale`` is the multiplier applied to cosines before a softmax
    (CLIP's learned temperature, already exponentiated).
    """

    name: str
    embed_dim: int
    logit_scale: float

    def encode_images(
        self, images: Sequence[ImageInput], *, batch_size: int = 32, progress: bool = False
    ) -> np.ndarray: ...

    def encode_texts(
        self, texts: Sequence[str], *, batch_size: int = 256, progress: bool = False
    ) -> np.ndarray: ...


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Row-normalise to unit length as float32; zero rows stay zero instead of becoming NaN."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=axis, keepdims=True)
    return x / np.maximum(norm, 1e-12)
