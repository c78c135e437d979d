"""Image features a caption decoder is conditioned on, computed once per image and cached on disk.

The decoder reads the backbone's pooled features where the model offers them (``encode_image_features``,
e.g. the ``local`` EfficientNet-Lite's 1280-d vector: richer than the 384-d aligned embedding), else its
aligned embedding (``encode_images``, e.g. CLIP). Which one was used is recorded in the checkpoint so
generation feeds the decoder the same kind of vector it was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

FeatureKind = Literal["backbone", "embedding"]


def feature_kind(model) -> FeatureKind:
    """'backbone' when the model exposes pooled backbone features, else 'embedding'."""
    return "backbone" if hasattr(model, "encode_image_features") else "embedding"


def encode_for_caption(model, images: Sequence, kind: FeatureKind, *, batch_size: int = 32) -> np.ndarray:
    """Features (N, F) float32 of in-memory images or paths, of the given kind."""
    fn = model.encode_image_features if kind == "backbone" else model.encode_images
    return np.asarray(fn(list(images), batch_size=batch_size), dtype=np.float32)


def cached_features(
    model,
    paths: Sequence[str | Path],
    kind: FeatureKind,
    cache_dir: str | Path | None,
    *,
    progress: bool = False,
) -> np.ndarray:
    """Features of image files, cached under ``cache_dir`` (resumable; keyed by model name, kind, paths)."""
    from vocabfree.models.cache import encode_images_cached

    if not paths:
        return np.zeros((0, 0), np.float32)
    features = "backbone" if kind == "backbone" else "embedding"
    return encode_images_cached(model, list(paths), cache_dir, progress=progress, features=features)
