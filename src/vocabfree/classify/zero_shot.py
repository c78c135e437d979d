"""Zero-shot classification over labels the user supplies.

Each label's classifier weight is the normalised mean of the normalised embeddings of the label written
into every prompt template (CLIP's prompt ensembling). Two optional refinements:

- *descriptions* ("classification by description"): a definition of the label ("monkshood: a poisonous
  herb ... having hooded blue-purple flowers"), from WordNet or given by the user, is embedded and added
  to the label's weight, for text encoders that do not know rare names;
- *calibration*: models whose image embeddings are mixtures of known points (ConSE) offer those points as
  ``reference_image_embeddings()``; each label's scores are then standardised by their mean and spread over
  the references, so a generic label that resembles everything cannot win every image (hubness).

``"auto"`` (the default for both) follows what the model asks for: on for ``local``, off for CLIP/SigLIP.
Probabilities are softmax(logit_scale * score). Label embeddings are cached per model object, so a service
answering many requests with overlapping label sets encodes each (label, template set) once.
"""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from vocabfree.classify._inputs import as_embeddings, check_fitted, default_sources, softmax
from vocabfree.classify.results import Prediction
from vocabfree.classify.templates import resolve_templates
from vocabfree.errors import InvalidInputError, MissingDependencyError
from vocabfree.models.protocol import (
    LabelDescriptions,
    ReferenceImages,
    VisionLanguageModel,
    capability,
    l2_normalize,
)

log = logging.getLogger(__name__)

# model -> {(templates, label): (D,) weight}. Weak keys: the cache dies with the model it belongs to.
_LABEL_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CACHE_LIMIT = 100_000  # entries per model; beyond it the oldest half is dropped


def clean_labels(labels: Sequence[str]) -> list[str]:
    """Strip labels and reject empty or duplicated ones, ignoring case (a duplicate would split its probability)."""
    if isinstance(labels, str):
        raise InvalidInputError("labels must be a list of strings, not one string")
    cleaned = [str(label).strip() for label in labels]
    if not cleaned:
        raise InvalidInputError("no labels given")
    if any(not label for label in cleaned):
        raise InvalidInputError("labels must be non-empty strings")
    # Case-insensitive: "cat" and "Cat" embed almost alike, so keeping both would split one class's probability.
    first: dict[str, str] = {}
    dupes = []
    for label in cleaned:
        key = label.casefold()
        if key in first:
            dupes.append(label if label == first[key] else f"{first[key]}/{label}")
        first.setdefault(key, label)
    if dupes:
        raise InvalidInputError(f"duplicate labels (case-insensitive): {', '.join(dict.fromkeys(dupes))}")
    return cleaned


def _cached_embeddings(model: VisionLanguageModel, keys: Sequence[tuple], encode) -> np.ndarray:
    """Rows for ``keys`` from the model's label cache; ``encode(missing_keys) -> (M, D)`` fills the gaps."""
    cache = _LABEL_CACHE.setdefault(model, {})
    missing = [key for key in dict.fromkeys(keys) if key not in cache]
    if missing:
        rows = encode(missing)
        if len(cache) + len(missing) > _CACHE_LIMIT:
            for key in list(cache)[: len(cache) // 2]:
                del cache[key]
        cache.update(dict(zip(missing, rows, strict=True)))
    return np.stack([cache[key] for key in keys]).astype(np.float32)


def build_zero_shot_weights(
    model: VisionLanguageModel,
    labels: Sequence[str],
    templates: Sequence[str],
    *,
    batch_size: int = 256,
    progress: bool = False,
) -> np.ndarray:
    """Classifier weights (C, D): per label, the normalised mean of its normalised template embeddings."""
    templates = tuple(templates)

    def encode(keys: list[tuple]) -> np.ndarray:
        prompts = [t.format(label) for _, label in keys for t in templates]
        emb = model.encode_texts(prompts, batch_size=batch_size, progress=progress)  # (M*T, D)
        return l2_normalize(emb.reshape(len(keys), len(templates), -1).mean(axis=1))

    return _cached_embeddings(model, [(templates, label) for label in labels], encode)


def describe_labels(spec, labels: Sequence[str]) -> dict[str, list[str]]:
    """Descriptions per label from ``spec``: "wordnet", a mapping label -> text or list of texts, or a JSON
    file holding such a mapping. Labels without a description are left out of the result."""
    if isinstance(spec, str) and spec == "wordnet":
        from vocabfree.vocabulary.descriptions import WordNetDescriber

        found = WordNetDescriber().describe(labels)
        return {label: [text] for label, text in zip(labels, found, strict=True) if text}
    if isinstance(spec, (str, Path)):
        path = Path(spec)
        if not path.is_file():
            raise InvalidInputError(
                f"descriptions must be 'auto', 'none', 'wordnet' or a JSON file; no such file: {spec}"
            )
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInputError(f"descriptions file {path} is not valid JSON: {exc}") from exc
    if not isinstance(spec, Mapping):
        raise InvalidInputError(f"descriptions must map labels to texts, got {type(spec).__name__}")
    out: dict[str, list[str]] = {}
    for label in labels:
        texts = spec.get(label)
        texts = [texts] if isinstance(texts, str) else list(texts or [])
        if any(not isinstance(t, str) for t in texts):
            raise InvalidInputError(f"descriptions of '{label}' must be strings")
        if texts := [t.strip() for t in texts if t.strip()]:
            out[label] = texts
    return out


def add_descriptions(
    model: VisionLanguageModel,
    labels: Sequence[str],
    weights: np.ndarray,
    descriptions: Mapping[str, Sequence[str]],
    *,
    progress: bool = False,
) -> np.ndarray:
    """Weights (C, D) with each described label's weight replaced by normalise(weight + mean embedding of
    "label: description"): the name and its definition count equally."""
    keys = [("description", f"{label}: {text}") for label in labels for text in descriptions.get(label, ())]
    if not keys:
        return weights
    emb = _cached_embeddings(model, keys, lambda ks: model.encode_texts([k[1] for k in ks], progress=progress))
    out, row = weights.copy(), 0
    for i, label in enumerate(labels):
        if count := len(descriptions.get(label, ())):
            described = l2_normalize(emb[row : row + count].mean(axis=0, keepdims=True))[0]
            out[i] = l2_normalize((weights[i] + described)[None])[0]
            row += count
    return out


def calibration(weights: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-label (scale, bias) that standardise scores against ``reference`` image embeddings (R, D).

    score' = (score - mean_c) / std_c x mean(std): a z-score per label, rescaled by the average spread so that
    ``logit_scale`` keeps its meaning.
    """
    sims = weights @ reference.T  # (C, R)
    mean, std = sims.mean(axis=1), np.maximum(sims.std(axis=1), 1e-6)
    scale = std.mean() / std
    return scale.astype(np.float32), (-mean * scale).astype(np.float32)


class ZeroShotClassifier(ClassifierMixin, BaseEstimator):
    """scikit-learn-style zero-shot classifier: ``fit(None, labels)`` then ``predict``/``predict_proba``.

    ``X`` everywhere is either a sequence of images (paths, PIL images, arrays, bytes) or an (N, D) array of
    image embeddings from the same model.

    ``descriptions``: "auto" (what the model asks for), "none", "wordnet", a mapping label -> text(s), or a
    JSON file of one. ``calibrate``: "auto" (when the model offers reference embeddings), True or False.
    After ``fit``: ``descriptions_`` (label -> texts used), ``calibrated_``, ``score_scale_``/``intercept_``.
    """

    def __init__(
        self,
        model: VisionLanguageModel | None = None,
        *,
        templates: str | Sequence[str] = "openai",
        descriptions: str | Mapping | None = "auto",
        calibrate: bool | str = "auto",
        batch_size: int = 32,
        progress: bool = False,
    ):
        self.model = model
        self.templates = templates
        self.descriptions = descriptions
        self.calibrate = calibrate
        self.batch_size = batch_size
        self.progress = progress

    def _descriptions(self, labels: list[str]) -> dict[str, list[str]]:
        spec = self.descriptions
        auto = isinstance(spec, str) and spec == "auto"
        if auto:
            described = capability(self.model, LabelDescriptions)
            spec = described.label_descriptions if described is not None else None
        if spec is None or (isinstance(spec, str) and spec == "none"):
            return {}
        try:
            return describe_labels(spec, labels)
        except MissingDependencyError as exc:
            if not auto:
                raise
            log.warning("label descriptions are off: %s", exc)
            return {}

    def _calibration(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        if self.calibrate not in (True, False, "auto"):
            raise InvalidInputError(f"calibrate must be True, False or 'auto', got {self.calibrate!r}")
        if self.calibrate is False:
            return None
        references = capability(self.model, ReferenceImages)
        reference = references.reference_image_embeddings() if references is not None else None
        if reference is None:
            if self.calibrate is True:
                name = self.model.name if self.model is not None else None
                raise InvalidInputError(
                    f"model {name} offers no reference image embeddings to calibrate with; use calibrate=False"
                )
            return None
        return calibration(weights, reference)

    def fit(self, X=None, y: Sequence[str] | None = None) -> ZeroShotClassifier:
        """Set ``classes_`` to the labels ``y`` and compute ``class_embeddings_`` (C, D). ``X`` is ignored."""
        model = self._require_model()
        if y is None:
            raise InvalidInputError("zero-shot fit needs the class names: fit(None, labels)")
        labels = clean_labels(y)
        self.templates_ = resolve_templates(self.templates)
        self.classes_ = np.array(labels, dtype=object)
        weights = build_zero_shot_weights(model, labels, self.templates_, progress=self.progress)
        self.descriptions_ = self._descriptions(labels)
        if self.descriptions_:
            weights = add_descriptions(model, labels, weights, self.descriptions_, progress=self.progress)
        self.class_embeddings_ = weights
        calibrated = self._calibration(weights)
        self.score_scale_, self.intercept_ = calibrated or (
            np.ones(len(labels), np.float32),
            np.zeros(len(labels), np.float32),
        )
        self.calibrated_ = calibrated is not None
        return self

    def _require_model(self) -> VisionLanguageModel:
        if self.model is None:
            raise InvalidInputError("ZeroShotClassifier needs a model")
        return self.model

    def _check_fitted(self) -> None:
        check_fitted(self, "class_embeddings_", "ZeroShotClassifier is not fitted: call fit(None, labels) first")

    def decision_function(self, X) -> np.ndarray:
        """Logits (N, C): logit_scale x cosine similarity between images and class weights (calibrated)."""
        self._check_fitted()
        model = self._require_model()
        emb = as_embeddings(model, X, batch_size=self.batch_size, progress=self.progress)
        return model.logit_scale * ((emb @ self.class_embeddings_.T) * self.score_scale_ + self.intercept_)

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
        return topk_predictions(proba, self.classes_, k, sources=default_sources(X) if sources is None else sources)


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
