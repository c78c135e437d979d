"""The honest baseline for a trained captioner: return the caption of the nearest training example.

If a decoder cannot beat copying the caption of the most similar training image, it has learned nothing
beyond retrieval. Two flavours, one function: keys can be training *image* features (one row per training
caption, so the copied caption is one of the nearest image's) or training *caption* embeddings in an aligned
space (cross-modal retrieval: the training caption that best matches the image).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vocabfree.errors import InvalidInputError


def nearest_caption(queries: np.ndarray, keys: np.ndarray, captions: Sequence[str]) -> list[str]:
    """For each query row (N, D), the caption of its most cosine-similar key row (M, D)."""
    if len(keys) != len(captions) or not len(keys):
        raise InvalidInputError(f"need one caption per key row, got {len(keys)} keys and {len(captions)} captions")
    q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    k = keys / np.maximum(np.linalg.norm(keys, axis=1, keepdims=True), 1e-12)
    best = (q @ k.T).argmax(axis=1)  # ties (the captions of one image share a key) go to the first caption
    return [captions[i] for i in best]
