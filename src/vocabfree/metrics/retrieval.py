"""Image-text retrieval recall: Recall@k in both directions, where an image may have several captions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def retrieval_recall(
    image: np.ndarray, text: np.ndarray, image_of_text: np.ndarray, ks: Sequence[int] = (1, 5)
) -> dict[str, float]:
    """Recall@k (in %) for text->image and image->text retrieval; an image hit counts any of its captions.

    ``image`` (M, D) and ``text`` (K, D) are embeddings compared by dot product; ``image_of_text`` (K,) gives
    each text's image. Returns ``t2i_r{k}``, ``i2t_r{k}`` for each k and their ``mean_recall``.
    """
    sim = np.asarray(text, np.float32) @ np.asarray(image, np.float32).T  # (K, M)
    return recall_from_scores(sim, image_of_text, ks)


def recall_from_scores(sim: np.ndarray, image_of_text: np.ndarray, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """``retrieval_recall`` from a (texts, images) score matrix, for scores that are not plain dot products
    (e.g. calibrated per text).

    Text->image: the rank of the true image counts only strictly higher scores (ties favour the truth).
    Image->text: an image's rank is the best rank among its captions (stable sort: ties go to the earlier
    text); images without a caption are left out.
    """
    n_texts, n_images = sim.shape
    out = {}
    t2i_rank = (sim > sim[np.arange(n_texts), image_of_text][:, None]).sum(axis=1)  # rank of the true image
    best_rank_i2t = np.full(n_images, np.iinfo(np.int64).max)
    order = np.argsort(-sim.T, axis=1, kind="stable")  # (M, K)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(n_texts)[None, :].repeat(n_images, 0), axis=1)
    for j, i in enumerate(image_of_text):
        best_rank_i2t[i] = min(best_rank_i2t[i], ranks[i, j])
    has_caption = best_rank_i2t < np.iinfo(np.int64).max
    for k in ks:
        out[f"t2i_r{k}"] = float(100 * np.mean(t2i_rank < k))
        out[f"i2t_r{k}"] = float(100 * np.mean(best_rank_i2t[has_caption] < k))
    out["mean_recall"] = float(np.mean([v for v in out.values()]))
    return out
