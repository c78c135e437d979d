"""Zero-shot classification over labels the user supplies.

Each label's classifier weight is the normalised mean of the normalised embeddings of the label written
into every prompt template (CLIP's prompt ensembling). Probabilities are softmax(logit_scale * cosine).
Label embeddings are cached per model object, so a service answering many requests with overlapping label
sets encodes each (label, template set) once.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from vocabfree.classify._inputs import as_embeddings, softmax
from vocabfree.classify.results import Prediction
from vocabfree.classify.templates import resolve_templates
from vocabfree.errors import InvalidInputError, NotFittedError
from vocabfree.models.protocol import VisionLanguageModel, l2_normalize

# model -> {(templates, label): (D,) weight}. Weak keys: the cache dies with the model it belongs to.
_LABEL_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CACHE_LIMIT = 100_000  # entries per model; beyond it the oldest half is dropped


def clean_labels(labels: Sequence[str]) -> list[str]:
    """Strip labels and reject empty or duplicated ones (a duplicate would split its probability in two)."""
    if isinstance(labels, str):
        raise InvalidInputError("labels must be a list of strings, not one string")
    cleaned = [str(label).strip() for label in labels]
    if not cleaned:
        raise InvalidInputError("no labels given")
    if any(not label for label in cleaned):
        raise InvalidInputError("labels must be non-empty strings")
    seen, dupes = set(), []
    for label in cleaned:
        if label in seen:
            dupes.append(label)
        seen.add(label)
    if dupes:
        raise InvalidInputError(f"duplicate labels: {sorted(set(dupes))}")
    return cleaned


def build_zero_shot_weights(
    model: VisionLanguageModel, labels: Sequence[str], templates: Sequence[str], *, batch_size: int = 256,
    progress: bool = False,
) -> np.ndarray:
    """Classifier weights (C, D): per label, the normalised mean of its normalised template embeddings."""
    templates = tuple(templates)
    cache = _LABEL_CACHE.setdefault(model, {})
    missing = [label for label in dict.fromkeys(labels) if (templates, label) not in cache]
    if missing:
        prompts = [t.format(label) for label in missing for t in templates]
        emb = model.encode_texts(prompts, batch_size=batch_size, progress=progress)  # (M*T, D)
        per_label = l2_normalize(emb.reshape(len(missing), len(templates), -1).mean(axis=1))
        if len(cache) + len(missing) > _CACHE_LIMIT:
            for key in list(cache)[: len(cache) // 2]:
                del cache[key]
        cache.update({(templates, label): w for label, w in zip(missing, per_label, strict=True)})
    return np.stack([cache[(templates, label)] for label in labels]).astype(np.float32)


class ZeroShotClassifier(ClassifierMixin, BaseEstimator):
    """scikit-learn-style zero-shot classifier: ``fit(None, labels)`` then ``predict``/``predict_proba``.

    ``X`` everywhere is either a sequence of images (paths, PIL images, arrays, bytes) or an (N, D) array of
    image embeddings from the same model.
    """

    def __init__(self, model: VisionLanguageModel | None = None, *, templates: str | Sequence[str] = "openai",
                 batch_size: int = 32, progress: bool = False):
        self.model = model
        self.templates = templates
        self.batch_size = batch_size
        self.progress = progress

    def fit(self, X=None, y: Sequence[str] | None = None) -> ZeroShotClassifier:
        """Set ``classes_`` to the labels ``y`` and compute ``class_embeddings_`` (C, D). ``X`` is ignored."""
        if self.model is None:
            raise InvalidInputError("ZeroShotClassifier needs a model")
        if y is None:
            raise InvalidInputError("zero-shot fit needs the class names: fit(None, labels)")
        labels = clean_labels(y)
        self.templates_ = resolve_templates(self.templates)
        self.classes_ = np.array(labels, dtype=object)
        self.class_embeddings_ = build_zero_shot_weights(self.model, labels, self.templates_, progress=self.progress)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "class_embeddings_"):
            raise NotFittedError("ZeroShotClassifier is not fitted: call fit(None, labels) first")

    def decision_function(self, X) -> np.ndarray:
        """Logits (N, C): logit_scale x cosine similarity between images and class weights."""
        self._check_fitted()
        emb = as_embeddings(self.model, X, batch_size=self.batch_size, progress=self.progress)
        return self.model.logit_scale * (emb @ self.class_embeddings_.T)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (N, C), columns in ``classes_`` order."""
        return softmax(self.decision_function(X))

    def predict(self, X) -> np.ndarray:
        logits = self.decision_function(X)
        return self.classes_[np.argmax(logits, axis=1)]

    def predict_topk(self, X, k: int = 5, *, sources: Sequence[str] | None = None) -> list[Prediction]:
        """Top-``k`` labels with probabilities per image, best first (k is capped at the number of classes)."""
        if k < 1:
            raise InvalidInputError(f"top-k must be >= 1, got {k}")
        proba = self.predict_proba(X)
        return topk_predictions(proba, self.classes_, k, sources=sources)


def topk_predictions(proba: np.ndarray, classes: np.ndarray, k: int, *, sources=None) -> list[Prediction]:
    """Turn a probability matrix (N, C) into ranked ``Prediction``s; ties keep class order (stable sort)."""
    k = min(k, proba.shape[1])
    order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
    return [
        Prediction(
            labels=tuple(str(classes[j]) for j in row),
            scores=tuple(float(proba[i, j]) for j in row),
            source=sources[i] if sources is not None else "",
        )
        for i, row in enumerate(order)
    ]
