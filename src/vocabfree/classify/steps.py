"""CaSED as pure steps: embed -> retrieve -> candidates -> score -> answer.

Each function does one thing on plain arrays and strings, so each can be tested alone and reused by the
baselines. ``VocabularyFreeClassifier`` (``classify/vocabulary_free.py``) only chains them in batches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from vocabfree.classify.results import Candidate, RetrievedCaption, VocabularyFreePrediction
from vocabfree.errors import InvalidInputError
from vocabfree.images import ImageInput
from vocabfree.models.protocol import VisionLanguageModel, l2_normalize

if TYPE_CHECKING:  # types only: the CLI reads the defaults below without loading the database code
    from vocabfree.database.store import CaptionDatabase, SearchHits

# CaSED's published defaults, defined once: the classifiers, the baselines and the CLI options use these names.
K = 10  # captions retrieved per image
ALPHA = 0.7  # weight of the image view; 1 - ALPHA goes to the caption-centroid view
TAU = 1.0  # softmax temperature on top of the model's logit_scale
DEDUP_THRESHOLD = 0.94  # retrieved captions with inner product >= this are near-duplicates
PROMPT = "{}"  # template for encoding candidate names: the bare name
FALLBACK = "object"  # the candidate when extraction leaves nothing


def embed_images(
    model: VisionLanguageModel, images: Sequence[ImageInput], *, batch_size: int = 32, progress: bool = False
) -> np.ndarray:
    """Step 1: image embeddings (N, D), L2-normalised."""
    return model.encode_images(list(images), batch_size=batch_size, progress=progress)


def retrieve(
    database: CaptionDatabase,
    image_embeddings: np.ndarray,
    *,
    k: int = K,
    dedup_threshold: float | None = DEDUP_THRESHOLD,
) -> list[SearchHits]:
    """Step 2: the ``k`` captions nearest each image (N, D), near-duplicates (>= threshold) removed."""
    return database.search(image_embeddings, k, dedup_threshold=dedup_threshold)


def caption_centroid(caption_embeddings: np.ndarray) -> np.ndarray:
    """The L2-normalised mean (D,) of the retrieved captions' embeddings (k, D): the 'text view' of the image."""
    if len(caption_embeddings) == 0:
        raise InvalidInputError("cannot average zero caption embeddings")
    return l2_normalize(np.asarray(caption_embeddings, dtype=np.float32).mean(axis=0))


def extract_candidates(
    captions: Sequence[str], transform: Callable[[Sequence[str]], list[str]], *, fallback: str = FALLBACK
) -> list[str]:
    """Step 3: candidate class names from one image's captions; ``[fallback]`` when nothing survives."""
    words = list(dict.fromkeys(transform(list(captions))))
    return words or [fallback]


def softmax_scores(query: np.ndarray, candidates: np.ndarray, *, logit_scale: float, tau: float = TAU) -> np.ndarray:
    """Softmax over candidates (C, D) of ``logit_scale * cosine(query, candidate) / tau``; returns (C,)."""
    if tau <= 0:
        raise InvalidInputError(f"tau must be > 0, got {tau}")
    logits = (np.asarray(candidates, np.float64) @ np.asarray(query, np.float64)) * (logit_scale / tau)
    logits -= logits.max()
    p = np.exp(logits)
    return (p / p.sum()).astype(np.float32)


def mix_scores(p_image: np.ndarray, p_text: np.ndarray, alpha: float) -> np.ndarray:
    """Step 4: CaSED's blend ``alpha * p_image + (1 - alpha) * p_text``."""
    if not 0.0 <= alpha <= 1.0:
        raise InvalidInputError(f"alpha must be in [0, 1], got {alpha}")
    return (alpha * np.asarray(p_image) + (1.0 - alpha) * np.asarray(p_text)).astype(np.float32)


def answer(
    names: Sequence[str],
    p_image: np.ndarray,
    p_text: np.ndarray,
    p: np.ndarray,
    *,
    hits: SearchHits | None = None,
    top_k: int = 5,
    source: str = "",
) -> VocabularyFreePrediction:
    """Step 5: the top-k names by ``p`` with their scores, plus the evidence (captions, every candidate).

    Ties are broken by candidate order (stable sort), so the answer is deterministic.
    """
    if top_k < 1:
        raise InvalidInputError(f"top_k must be >= 1, got {top_k}")
    order = np.argsort(-np.asarray(p), kind="stable")
    top = order[:top_k]
    captions = (
        ()
        if hits is None
        else tuple(
            RetrievedCaption(text, float(sim)) for text, sim in zip(hits.captions, hits.similarities, strict=False)
        )
    )
    candidates = tuple(Candidate(names[i], float(p_image[i]), float(p_text[i]), float(p[i])) for i in order)
    return VocabularyFreePrediction(
        labels=tuple(names[i] for i in top),
        scores=tuple(float(p[i]) for i in top),
        source=source,
        captions=captions,
        candidates=candidates,
    )
