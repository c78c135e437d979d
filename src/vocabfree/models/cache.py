"""Resumable, chunked on-disk caching of embeddings for big image sets.

Encoding a few thousand images takes minutes on a CPU; a killed run should not start over. Items are
encoded in chunks; each finished chunk is written atomically (``vocabfree.atomic``) as ``.npy``, and a rerun
with the same key loads finished chunks and encodes only the rest.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from vocabfree.atomic import atomic_write
from vocabfree.errors import InvalidInputError
from vocabfree.models.protocol import ImageFeatures, VisionLanguageModel, capability

CACHED_FEATURES = ("embedding", "backbone")  # what encode_images_cached can cache


def cache_home() -> Path:
    """``$XDG_CACHE_HOME/vocabfree`` (``~/.cache/vocabfree``): demo databases, ONNX exports."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vocabfree"


def cache_key(*parts: object) -> str:
    """A short stable hash of the things that determine the embeddings (model name, inputs, options)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(repr(part).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:20]


def cached_encode(
    encode: Callable[[Sequence], np.ndarray],
    items: Sequence,
    cache_dir: str | Path | None,
    key: str,
    *,
    chunk_size: int = 256,
    progress: bool = False,
    desc: str = "encode",
) -> np.ndarray:
    """``encode(items)`` in chunks, caching each chunk under ``cache_dir/key``; no cache when dir is None."""
    from tqdm.auto import tqdm

    folder = Path(cache_dir) / key if cache_dir is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    parts = []
    with tqdm(total=len(items), desc=desc, unit="img", disable=not progress) as bar:
        for n, start in enumerate(range(0, len(items), chunk_size)):
            chunk = items[start : start + chunk_size]
            path = folder / f"chunk_{n:05d}_{len(chunk)}.npy" if folder is not None else None
            if path is not None and path.is_file():
                part = np.load(path)
            else:
                part = np.asarray(encode(chunk), dtype=np.float32)
                if path is not None:
                    atomic_write(path, functools.partial(np.save, arr=part))
            parts.append(part)
            bar.update(len(chunk))
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def output_fingerprint(encode: Callable[[Sequence], np.ndarray]) -> str:
    """Hash of what ``encode`` returns for a fixed synthetic image.

    A model's name does not pin its outputs (a backend's settings, head or weights can change under the same
    name), so cache keys include this: one extra forward pass, and a stale cache can never be reused.
    """
    from PIL import Image

    ramp = np.linspace(0, 255, 64 * 64 * 3, dtype=np.float64).reshape(64, 64, 3).astype(np.uint8)
    out = np.asarray(encode([Image.fromarray(ramp)]), dtype=np.float32)
    return cache_key(np.round(out, 3).tobytes())


def encode_images_cached(
    model: VisionLanguageModel,
    paths: Sequence[str | Path],
    cache_dir: str | Path | None,
    *,
    batch_size: int = 32,
    progress: bool = False,
    features: str = "embedding",
) -> np.ndarray:
    """Image embeddings (or backbone features with ``features='backbone'``, for models with the
    ``ImageFeatures`` capability) of ``paths``, resumable."""
    if features not in CACHED_FEATURES:
        raise InvalidInputError(f"features must be one of {', '.join(CACHED_FEATURES)}, got {features!r}")
    encode_fn: Callable[..., np.ndarray] = model.encode_images
    if features == "backbone":
        backbone = capability(model, ImageFeatures)
        if backbone is None:
            raise InvalidInputError(f"model '{model.name}' has no backbone features: use features='embedding'")
        encode_fn = backbone.encode_image_features
    key = ""
    if cache_dir is not None:
        key = cache_key(model.name, features, output_fingerprint(encode_fn), [str(p) for p in paths])
    return cached_encode(
        lambda chunk: encode_fn(list(chunk), batch_size=batch_size),
        list(paths),
        cache_dir,
        key,
        progress=progress,
        desc=f"encode images ({model.name})",
    )
