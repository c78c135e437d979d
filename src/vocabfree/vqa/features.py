"""Image tokens for VQA, computed once per distinct image file and cached on disk (float16)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vocabfree.models.tokens import cached_image_tokens


def tokens_by_image(
    model,
    paths: Sequence[str],
    cache_dir: str | Path | None,
    *,
    layer: int = -1,
    keep_cls: bool = True,
    progress: bool = False,
) -> tuple[np.ndarray, dict[str, int]]:
    """Tokens (M, T, D) float16 of the distinct images in ``paths`` (first-seen order) and path -> row."""
    unique = list(dict.fromkeys(str(p) for p in paths))
    tokens = cached_image_tokens(model, unique, cache_dir, layer=layer, keep_cls=keep_cls, progress=progress)
    return tokens, {p: i for i, p in enumerate(unique)}


def pool_tokens(tokens: np.ndarray, grid: int | None, *, has_cls: bool = True) -> np.ndarray:
    """Average-pool the square patch grid of (N, [1 +] h*w, D) tokens to ``grid x grid`` (CLS kept in front).

    A 9 x 9 EfficientNet map pooled to 3 x 3 keeps coarse layout (left/right, top/bottom) at an eighth of
    the sequence length, which is what makes training on two CPU cores affordable. ``grid=None``: unchanged.
    """
    if grid is None:
        return np.asarray(tokens, np.float32)
    import torch
    from torch.nn import functional as F

    from vocabfree.errors import InvalidInputError

    x = torch.from_numpy(np.asarray(tokens, np.float32))
    cls, patches = (x[:, :1], x[:, 1:]) if has_cls else (x[:, :0], x)
    side = int(round(patches.shape[1] ** 0.5))
    if side * side != patches.shape[1]:
        raise InvalidInputError(f"cannot pool {patches.shape[1]} patch tokens: not a square grid")
    fmap = patches.transpose(1, 2).reshape(len(x), -1, side, side)  # (N, D, h, w)
    pooled = F.adaptive_avg_pool2d(fmap, grid).flatten(2).transpose(1, 2)  # (N, grid*grid, D)
    return torch.cat([cls, pooled], dim=1).numpy()
