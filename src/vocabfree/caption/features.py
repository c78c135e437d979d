"""Image features a caption decoder is conditioned on, computed once per image and cached on disk.

Three kinds, recorded in the checkpoint so generation feeds the decoder what it was trained on:

- ``tokens``: the encoder's token sequence (N, T, D) (``vocabfree.models.tokens``; which layer and whether
  CLS is kept are in the checkpoint's ``tokens`` entry): what cross-attention and the LLaVA projector read;
- ``backbone``: one pooled vector per image from the backbone (``encode_image_features``, e.g. the ``local``
  EfficientNet-Lite's 1280-d vector: richer than the 384-d aligned embedding);
- ``embedding``: the aligned embedding (``encode_images``, e.g. CLIP), for models without the former.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vocabfree.errors import InvalidInputError
from vocabfree.models.protocol import ImageFeatures, VisionLanguageModel, capability

FeatureKind = Literal["backbone", "embedding", "tokens"]


def feature_kind(model: VisionLanguageModel) -> FeatureKind:
    """The pooled kind of a model: 'backbone' when it offers pooled backbone features, else 'embedding'."""
    features = capability(model, ImageFeatures)
    return "backbone" if features is not None else "embedding"


def _token_options(tokens: dict[str, Any] | None) -> dict[str, Any]:
    tokens = tokens or {}
    return {"layer": int(tokens.get("layer", -1)), "keep_cls": bool(tokens.get("keep_cls", True))}


def encode_for_caption(
    model: VisionLanguageModel,
    images: Sequence,
    kind: FeatureKind,
    *,
    batch_size: int = 32,
    tokens: dict[str, Any] | None = None,
) -> np.ndarray:
    """Features of in-memory images or paths, of the given kind: (N, F), or (N, T, D) for ``tokens``."""
    if kind == "tokens":
        from vocabfree.models.tokens import encode_image_tokens

        return encode_image_tokens(model, list(images), batch_size=batch_size, **_token_options(tokens))
    fn = model.encode_images
    if kind == "backbone":
        features = capability(model, ImageFeatures)
        if features is None:
            raise InvalidInputError(f"model '{model.name}' has no pooled backbone features (encode_image_features)")
        fn = features.encode_image_features
    return np.asarray(fn(list(images), batch_size=batch_size), dtype=np.float32)


def cached_features(
    model: VisionLanguageModel,
    paths: Sequence[str | Path],
    kind: FeatureKind,
    cache_dir: str | Path | None,
    *,
    progress: bool = False,
    tokens: dict[str, Any] | None = None,
) -> np.ndarray:
    """Features of image files, cached under ``cache_dir`` (resumable).

    Pooled kinds are keyed by model name, kind and the whole path list; tokens (float16) by image path, so
    any subset of already encoded images is read back without encoding.
    """
    if kind == "tokens":
        from vocabfree.models.tokens import cached_image_tokens

        return cached_image_tokens(model, list(paths), cache_dir, progress=progress, **_token_options(tokens))
    from vocabfree.models.cache import encode_images_cached

    if not paths:
        return np.zeros((0, 0), np.float32)
    features = "backbone" if kind == "backbone" else "embedding"
    return encode_images_cached(model, list(paths), cache_dir, progress=progress, features=features)
