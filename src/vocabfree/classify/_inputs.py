"""Shared input handling for classifiers: accept images or precomputed embeddings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeGuard

import numpy as np

from vocabfree.errors import InvalidInputError, NotFittedError
from vocabfree.images import ImageInput, describe
from vocabfree.models.protocol import VisionLanguageModel


def is_embedding_matrix(X) -> TypeGuard[np.ndarray]:
    """A 2-D float array is a batch of embeddings; images come as a sequence (a list of arrays included)."""
    return isinstance(X, np.ndarray) and X.ndim == 2 and np.issubdtype(X.dtype, np.floating)


def as_embeddings(
    model: VisionLanguageModel | None,
    X: Sequence[ImageInput] | np.ndarray,
    *,
    batch_size: int = 32,
    progress: bool = False,
):
    """Return (N, D) embeddings for ``X``: passed through if already embedded, else encoded with ``model``."""
    if is_embedding_matrix(X):
        if model is not None and X.shape[1] != model.embed_dim:
            raise InvalidInputError(f"embeddings have dimension {X.shape[1]}, model {model.name} has {model.embed_dim}")
        return np.asarray(X, dtype=np.float32)
    if model is None:
        raise InvalidInputError("images given but no model to encode them; pass a model or embeddings")
    if isinstance(X, str | bytes) or not isinstance(X, Sequence | np.ndarray):
        X = [X]  # a single image
    return model.encode_images(list(X), batch_size=batch_size, progress=progress)


def default_sources(X) -> list[str]:
    """Names for the results of ``X`` when the caller gives none: each image's path (or a short description);
    empty strings for precomputed embeddings, which have no name."""
    if is_embedding_matrix(X):
        return [""] * len(X)
    if isinstance(X, str | bytes) or not isinstance(X, Sequence | np.ndarray):
        X = [X]
    return [describe(x) for x in X]


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax in float64, returned as float32."""
    z = logits.astype(np.float64) - logits.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)


def check_fitted(estimator, attribute: str, message: str) -> None:
    """scikit-learn's ``check_is_fitted`` on ``attribute``, raising our ``NotFittedError(message)`` (which is
    also a ``ValueError`` and an ``AttributeError``, as sklearn's own)."""
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(estimator, attribute)
    except SklearnNotFittedError:
        raise NotFittedError(message) from None
