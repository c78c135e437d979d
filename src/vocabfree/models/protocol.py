"""The one interface every backend implements.

Tasks (classify, caption, database) see a model only through this protocol, so a Hugging Face CLIP, the
offline ``local`` model and the ``test-tiny`` backend are interchangeable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar, runtime_checkable

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

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 256, progress: bool = False) -> np.ndarray: ...


# Optional capabilities. A backend offers one by having the member; tasks ask with ``capability(model, Kind)``
# (one isinstance check against the protocol) instead of probing names with getattr/hasattr.


@runtime_checkable
class ImageFeatures(Protocol):
    """Pooled backbone features, richer than the aligned embedding (``local``: EfficientNet's 1280-d vector):
    the better input for linear probes and caption decoders."""

    def encode_image_features(
        self, images: Sequence[ImageInput], *, batch_size: int = 32, progress: bool = False
    ) -> np.ndarray: ...  # (N, F) float32, L2-normalised


@runtime_checkable
class ImageTokens(Protocol):
    """Its own token sequence per image, for models that ``vocabfree.models.tokens`` cannot read generically."""

    def encode_image_tokens(
        self,
        images: Sequence[ImageInput],
        *,
        layer: int = -1,
        keep_cls: bool = True,
        batch_size: int = 32,
        progress: bool = False,
    ) -> np.ndarray: ...  # (N, T, D) float32


@runtime_checkable
class LabelDescriptions(Protocol):
    """The label descriptions zero-shot uses by default (``descriptions="auto"``): a source name such as
    ``"wordnet"``, or None for none."""

    label_descriptions: str | None


@runtime_checkable
class ReferenceImages(Protocol):
    """Embeddings of reference images that zero-shot calibration measures label scores against."""

    def reference_image_embeddings(self) -> np.ndarray | None: ...  # (R, D) float32, or None


C = TypeVar("C")


# ``kind`` is typed as a callable returning C, not ``type[C]``: mypy refuses protocol classes where ``type[C]``
# is expected ("Only concrete class can be given"), and a callable still lets it infer C from the protocol.
def capability(model: object, kind: Callable[..., C]) -> C | None:
    """``model`` as the capability ``kind`` (one of the protocols above) if it offers it, else None::

    features = capability(model, ImageFeatures)
    if features is not None:
        x = features.encode_image_features(images)
    """
    return model if isinstance(model, kind) else None  # type: ignore[arg-type, return-value]


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Row-normalise to unit length as float32; zero rows stay zero instead of becoming NaN."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=axis, keepdims=True)
    return x / np.maximum(norm, 1e-12)
