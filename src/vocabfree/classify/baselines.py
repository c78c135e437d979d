"""Baselines of the CaSED paper, with the same interface as ``VocabularyFreeClassifier``.

- ``StaticVocabularyClassifier``: score the image against every name of a large fixed vocabulary and
  answer the best ones (CLIP + WordNet nouns, CLIP + English words, CLIP + ImageNet class names). The
  vocabulary's text embeddings are cached on disk per model (``cache_dir``), since WordNet's 117,798 nouns
  take minutes to encode on a CPU.
- ``ClosestCaptionClassifier``: the nearest caption in the database *is* the answer.

Both return ``VocabularyFreePrediction`` with ``labels``/``scores`` and their evidence; for a static
vocabulary only the top-k candidates are listed (``text_score`` is 0: there is no caption view). Both
implement ``classify.methods.VocabularyFreeMethod``; ``classify.methods.make_classifier`` builds any by name.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vocabfree.atomic import atomic_path
from vocabfree.classify import steps
from vocabfree.classify.results import Candidate, VocabularyFreePrediction
from vocabfree.database.store import CaptionDatabase, check_model
from vocabfree.errors import InvalidInputError
from vocabfree.images import ImageInput, describe
from vocabfree.models.protocol import VisionLanguageModel


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


def encode_vocabulary(
    model: VisionLanguageModel,
    names: Sequence[str],
    *,
    prompt: str = steps.PROMPT,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 512,
    progress: bool = False,
) -> np.ndarray:
    """Text embeddings (V, D) of ``prompt.format(name)`` for every name; cached as ``.npy`` under
    ``cache_dir/<model>/<hash of names and prompt>.npy`` when ``cache_dir`` is given (written atomically)."""
    if not names:
        raise InvalidInputError("the vocabulary is empty")
    texts = [prompt.format(n) for n in names]
    path = None
    if cache_dir is not None:
        key = hashlib.sha256(("\n".join(texts)).encode("utf-8")).hexdigest()[:16]
        path = Path(cache_dir) / _slug(model.name) / f"vocab-{len(texts)}-{key}.npy"
        if path.is_file():
            emb = np.load(path)
            if emb.shape == (len(texts), model.embed_dim):
                return emb
    emb = model.encode_texts(texts, batch_size=batch_size, progress=progress)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".npy") as tmp:
            np.save(tmp, emb)
    return emb


class _ImagesMixin:
    """``predict(images)`` = encode the images in batches, then ``predict_embeddings``."""

    model: VisionLanguageModel
    batch_size: int

    def predict(
        self,
        images: Sequence[ImageInput],
        *,
        top_k: int = 5,
        sources: Sequence[str] | None = None,
        progress: bool = False,
    ) -> list[VocabularyFreePrediction]:
        emb = steps.embed_images(self.model, images, batch_size=self.batch_size, progress=progress)
        return self.predict_embeddings(emb, top_k=top_k, sources=sources or [describe(x) for x in images])

    def predict_embeddings(
        self,
        image_embeddings: np.ndarray,
        *,
        top_k: int = 5,
        sources: Sequence[str] | None = None,
        progress: bool = False,
    ) -> list[VocabularyFreePrediction]:
        raise NotImplementedError  # each classifier below defines it


class StaticVocabularyClassifier(_ImagesMixin):
    """Zero-shot over a fixed vocabulary: softmax of ``logit_scale * cosine / tau`` over all ``names``.

    ``fit()`` (or the first predict) encodes the vocabulary; ``classes_`` and ``class_embeddings_`` (V, D)
    are then set.
    """

    def __init__(
        self,
        model: VisionLanguageModel,
        names: Sequence[str],
        *,
        method: str = "static",
        prompt: str = steps.PROMPT,
        tau: float = steps.TAU,
        cache_dir: str | os.PathLike | None = None,
        batch_size: int = 32,
        chunk: int = 64,
    ):
        self.model = model
        self.names = names
        self.method = method
        self.prompt = prompt
        self.tau = tau
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self.chunk = chunk

    def fit(self, X=None, y=None, *, progress: bool = False) -> StaticVocabularyClassifier:  # noqa: N803
        """Encode the vocabulary (from the cache when it is there); ``X`` and ``y`` are ignored. Returns self."""
        self.classes_ = tuple(self.names)
        self.class_embeddings_ = encode_vocabulary(
            self.model, self.classes_, prompt=self.prompt, cache_dir=self.cache_dir, progress=progress
        )
        return self

    @property
    def num_candidates(self) -> int:
        """Every image is scored against the whole vocabulary."""
        return len(self.names)

    def predict_embeddings(
        self,
        image_embeddings: np.ndarray,
        *,
        top_k: int = 5,
        sources: Sequence[str] | None = None,
        progress: bool = False,
    ) -> list[VocabularyFreePrediction]:
        if not hasattr(self, "class_embeddings_"):
            self.fit(progress=progress)
        if self.tau <= 0:
            raise InvalidInputError(f"tau must be > 0, got {self.tau}")
        emb = np.atleast_2d(np.asarray(image_embeddings, dtype=np.float32))
        sources = list(sources) if sources is not None else [""] * len(emb)
        scale = float(self.model.logit_scale) / self.tau
        out = []
        for start in range(0, len(emb), self.chunk):  # (chunk, V) logits at a time: V can be 235k
            logits = (emb[start : start + self.chunk] @ self.class_embeddings_.T) * np.float32(scale)
            k = min(top_k, logits.shape[1])
            top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
            top = np.take_along_axis(top, np.argsort(-np.take_along_axis(logits, top, 1), 1, kind="stable"), 1)
            peak = logits.max(1, keepdims=True)
            logz = np.log(np.exp(logits - peak, dtype=np.float64).sum(1)) + peak[:, 0]
            for row, idx, lz, source in zip(logits, top, logz, sources[start : start + self.chunk], strict=False):
                p = np.exp(row[idx] - lz)
                out.append(
                    VocabularyFreePrediction(
                        labels=tuple(self.classes_[i] for i in idx),
                        scores=tuple(float(x) for x in p),
                        source=source,
                        candidates=tuple(
                            Candidate(self.classes_[i], float(x), 0.0, float(x)) for i, x in zip(idx, p, strict=True)
                        ),
                    )
                )
        return out


def wordnet_classifier(model: VisionLanguageModel, **kwargs) -> StaticVocabularyClassifier:
    """Baseline: every WordNet 3.0 noun lemma (117,798) as the vocabulary."""
    from vocabfree.vocabulary import wordnet_nouns

    return StaticVocabularyClassifier(model, wordnet_nouns(), method="wordnet", **kwargs)


def english_words_classifier(model: VisionLanguageModel, **kwargs) -> StaticVocabularyClassifier:
    """Baseline: every word of the ``english-words`` ``web2`` list (~234k) as the vocabulary."""
    from vocabfree.vocabulary import english_words

    return StaticVocabularyClassifier(model, english_words(), method="english-words", **kwargs)


def imagenet_classifier(model: VisionLanguageModel, **kwargs) -> StaticVocabularyClassifier:
    """Baseline: the 1000 ImageNet-1k class names (a closed vocabulary, as in the paper's table)."""
    from vocabfree.models.imagenet import imagenet_classnames
    from vocabfree.vocabulary import clean_names

    return StaticVocabularyClassifier(model, clean_names(imagenet_classnames()), method="imagenet", **kwargs)


class ClosestCaptionClassifier(_ImagesMixin):
    """Baseline: the nearest caption is the label. Scores: softmax over the (deduplicated) retrieved captions."""

    method = "closest-caption"

    def __init__(
        self,
        model: VisionLanguageModel,
        database: CaptionDatabase,
        *,
        k: int = steps.K,
        tau: float = steps.TAU,
        dedup_threshold: float | None = steps.DEDUP_THRESHOLD,
        batch_size: int = 32,
    ):
        self.model = model
        self.database = database
        self.k = k
        self.tau = tau
        self.dedup_threshold = dedup_threshold
        self.batch_size = batch_size

    num_candidates = None  # the retrieved captions, per image

    def fit(self, X=None, y=None, *, progress: bool = False) -> ClosestCaptionClassifier:  # noqa: N803
        """Nothing to prepare (the database is searched per image); returns self."""
        return self

    def predict_embeddings(
        self,
        image_embeddings: np.ndarray,
        *,
        top_k: int = 5,
        sources: Sequence[str] | None = None,
        progress: bool = False,
    ) -> list[VocabularyFreePrediction]:
        check_model(self.database.manifest, self.model, self.database.path)
        emb = np.atleast_2d(np.asarray(image_embeddings, dtype=np.float32))
        sources = list(sources) if sources is not None else [""] * len(emb)
        out = []
        for start in range(0, len(emb), 256):
            block = emb[start : start + 256]
            for image, hits, source in zip(
                block,
                steps.retrieve(self.database, block, k=self.k, dedup_threshold=self.dedup_threshold),
                sources[start : start + 256],
                strict=False,
            ):
                p = steps.softmax_scores(
                    image, hits.embeddings, logit_scale=float(self.model.logit_scale), tau=self.tau
                )
                out.append(
                    steps.answer(list(hits.captions), p, np.zeros_like(p), p, hits=hits, top_k=top_k, source=source)
                )
        return out
