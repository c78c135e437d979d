"""Few-shot classification: a logistic-regression linear probe on frozen image embeddings.

This is the CLIP paper's linear-probe protocol: the encoder stays frozen, a multinomial logistic regression
is fitted on its features, and its inverse regularisation ``C`` is chosen by stratified cross-validation
over a small grid. With one example per class there is nothing to cross-validate, so ``C`` falls back to
``default_C``. Saved probes are ``.npz`` files (weights and metadata, no pickle: safe to load from others).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from vocabfree.atomic import atomic_path
from vocabfree.classify._inputs import as_embeddings, check_fitted, default_sources, softmax
from vocabfree.classify.results import Prediction
from vocabfree.classify.zero_shot import topk_predictions
from vocabfree.errors import IndexMismatchError, InvalidInputError
from vocabfree.models.protocol import ImageFeatures, VisionLanguageModel, capability

PROBE_FORMAT_VERSION = 1


def resolve_features(model: VisionLanguageModel | None, features: str) -> str:
    """``"auto"`` -> ``"backbone"`` when the model exposes pooled backbone features (``local``: 1280-d, far
    better for probing than its 395-d ConSE embedding), else ``"embedding"``."""
    if features == "auto":
        return "backbone" if capability(model, ImageFeatures) is not None else "embedding"
    return features


def encode_for_probe(
    model: VisionLanguageModel | None, X, features: str, batch_size: int, progress: bool
) -> np.ndarray:
    """Image features for the probe: the aligned embedding, or the backbone's pooled features (``features`` as
    ``resolve_features`` returns it)."""
    if features == "embedding" or isinstance(X, np.ndarray) and X.ndim == 2:
        return as_embeddings(model, X, batch_size=batch_size, progress=progress)
    if features == "backbone":
        backbone = capability(model, ImageFeatures)
        if backbone is None:
            name = model.name if model is not None else None
            raise InvalidInputError(f"model {name} exposes no backbone features; use features='embedding'")
        feats = backbone.encode_image_features(list(X), batch_size=batch_size, progress=progress)
        return np.asarray(feats, dtype=np.float32)
    raise InvalidInputError(f"features must be 'auto', 'embedding' or 'backbone', got '{features}'")


class FewShotClassifier(ClassifierMixin, BaseEstimator):
    """Linear probe (scikit-learn estimator) over a frozen ``VisionLanguageModel``'s image features.

    ``X`` is a sequence of images or a precomputed (N, D) feature array. ``features``: "auto" (backbone
    features where the model has them, else the embedding), "embedding" or "backbone"; ``features_`` is
    what ``fit`` used.
    """

    def __init__(
        self,
        model: VisionLanguageModel | None = None,
        *,
        Cs: Sequence[float] = (0.1, 1.0, 10.0, 100.0),
        default_C: float = 10.0,
        cv: int = 3,
        max_iter: int = 2000,
        features: str = "auto",
        batch_size: int = 32,
        random_state: int = 0,
        progress: bool = False,
    ):
        self.model = model
        self.Cs = Cs
        self.default_C = default_C
        self.cv = cv
        self.max_iter = max_iter
        self.features = features
        self.batch_size = batch_size
        self.random_state = random_state
        self.progress = progress

    def _features(self, X) -> np.ndarray:
        return encode_for_probe(self.model, X, self.features_, self.batch_size, self.progress)

    def fit(self, X, y: Sequence[str] | None) -> FewShotClassifier:
        """Fit the probe on images (or features) ``X`` and their labels ``y``; sets ``classes_``, ``coef_``,
        ``intercept_``, ``C_``, ``n_iter_``, ``n_features_in_``, ``features_`` and ``model_name_``."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GridSearchCV, StratifiedKFold

        if y is None:
            raise InvalidInputError("a probe needs labels: fit(X, y) requires y to be passed, but the target y is None")
        self.features_ = resolve_features(self.model, self.features)
        feats = self._features(X)
        labels = np.asarray([str(label) for label in y], dtype=object)
        if len(feats) != len(labels):
            raise InvalidInputError(f"{len(feats)} images but {len(labels)} labels")
        classes, counts = np.unique(labels, return_counts=True)
        if len(classes) < 2:
            raise InvalidInputError("a probe needs at least two classes")
        probe = LogisticRegression(max_iter=self.max_iter, random_state=self.random_state)
        folds = min(self.cv, int(counts.min()))
        if folds >= 2 and len(self.Cs) > 1:
            search = GridSearchCV(
                probe,
                {"C": list(self.Cs)},
                cv=StratifiedKFold(folds, shuffle=True, random_state=self.random_state),
                n_jobs=1,
            )
            search.fit(feats, labels)
            self.C_ = float(search.best_params_["C"])
        else:
            self.C_ = float(self.default_C)
        probe.set_params(C=self.C_).fit(feats, labels)
        self.classes_ = probe.classes_
        self.coef_, self.intercept_ = probe.coef_.astype(np.float32), probe.intercept_.astype(np.float32)
        self.n_iter_ = probe.n_iter_
        self.n_features_in_ = feats.shape[1]
        self.model_name_ = self.model.name if self.model is not None else ""
        return self

    def decision_function(self, X) -> np.ndarray:
        check_fitted(self, "coef_", "FewShotClassifier is not fitted: call fit(X, y) first")
        feats = self._features(X)
        if feats.shape[1] != self.n_features_in_:
            raise IndexMismatchError(f"probe expects {self.n_features_in_}-d features, got {feats.shape[1]}")
        logits = feats @ self.coef_.T + self.intercept_
        if logits.shape[1] == 1:  # binary: sklearn stores one row for the positive class
            logits = np.hstack([-logits, logits]) / 2
        return logits

    def predict_proba(self, X) -> np.ndarray:
        return softmax(self.decision_function(X))

    def predict(self, X) -> np.ndarray:
        logits = self.decision_function(X)
        return self.classes_[np.argmax(logits, axis=1)]

    def predict_topk(self, X, k: int = 5, *, sources=None) -> list[Prediction]:
        if k < 1:
            raise InvalidInputError(f"top-k must be >= 1, got {k}")
        return topk_predictions(
            self.predict_proba(X), self.classes_, k, sources=default_sources(X) if sources is None else sources
        )

    def save(self, path: str | Path) -> Path:
        """Write the fitted probe to ``path`` (.npz) atomically."""
        check_fitted(self, "coef_", "nothing to save: the probe is not fitted")
        path = Path(path)
        meta = {
            "format_version": PROBE_FORMAT_VERSION,
            "model": self.model_name_,
            "features": self.features_,
            "C": self.C_,
            "classes": [str(c) for c in self.classes_],
        }
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, coef=self.coef_, intercept=self.intercept_, meta=np.array(json.dumps(meta)))
        return path

    @classmethod
    def load(cls, path: str | Path, model: VisionLanguageModel | None = None) -> FewShotClassifier:
        """Load a probe saved with ``save``; ``model`` must be the one it was fitted on (checked by name)."""
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                coef, intercept = data["coef"], data["intercept"]
        except (OSError, KeyError, ValueError) as exc:
            raise InvalidInputError(f"{path}: not a vocabfree probe file ({exc})") from exc
        if meta.get("format_version") != PROBE_FORMAT_VERSION:
            raise InvalidInputError(f"{path}: unsupported probe format {meta.get('format_version')}")
        if model is not None and meta["model"] and model.name != meta["model"]:
            raise IndexMismatchError(f"{path} was fitted on model '{meta['model']}', not '{model.name}'")
        probe = cls(model, features=meta["features"])
        probe.features_ = meta["features"]
        probe.coef_, probe.intercept_, probe.C_ = coef, intercept, meta["C"]
        probe.classes_ = np.array(meta["classes"], dtype=object)
        probe.n_features_in_, probe.model_name_ = coef.shape[1], meta["model"]
        return probe
