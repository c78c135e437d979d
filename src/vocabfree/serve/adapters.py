"""``TaskLibrary``: the only place the service names other packages' task APIs.

A running server reaches models, classifiers, the caption database and the captioner only through one
``TaskLibrary`` (``Services.build(settings, library)``), so a renamed library API is one edit here. The app
gets its library from the ``get_library`` dependency (``serve/dependencies.py``); tests swap it with
``app.dependency_overrides[get_library] = lambda: StandIns()``, a subclass that overrides a method or two.
Heavy packages are imported inside the methods: importing the service pulls no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from vocabfree.classify.results import Prediction, VocabularyFreePrediction

if TYPE_CHECKING:
    from vocabfree.caption.captioner import Captioner
    from vocabfree.classify.vocabulary_free import VocabularyFreeClassifier
    from vocabfree.classify.zero_shot import ZeroShotClassifier
    from vocabfree.database import CaptionDatabase
    from vocabfree.models import VisionLanguageModel


class TaskLibrary:
    """The library calls a server makes, one method each (stateless: one instance may serve many apps)."""

    def load_model(self, name: str, device: str | None) -> VisionLanguageModel:
        from vocabfree.models import load_model

        return load_model(name, device=device)

    def fit_zero_shot(self, model: VisionLanguageModel, labels: Sequence[str], templates: str) -> ZeroShotClassifier:
        from vocabfree.classify.zero_shot import ZeroShotClassifier

        return ZeroShotClassifier(model, templates=templates).fit(None, list(labels))

    def predict_zero_shot(self, classifier: ZeroShotClassifier, embeddings: np.ndarray, top_k: int) -> list[Prediction]:
        """``embeddings``: (N, D) image embeddings from the same model the classifier was fitted with."""
        return classifier.predict_topk(embeddings, k=top_k)

    def open_database(self, path: str, model: VisionLanguageModel) -> CaptionDatabase:
        from vocabfree.database import CaptionDatabase

        # A server answers from this database for a long time: check every file's checksum once at start, so
        # same-size corruption is refused here instead of being served (``vocabfree db verify`` does the same).
        return CaptionDatabase.open(path, model=model, verify="all")

    def build_vocabulary_free(self, model: VisionLanguageModel, database: CaptionDatabase) -> VocabularyFreeClassifier:
        from vocabfree.classify.vocabulary_free import VocabularyFreeClassifier

        return VocabularyFreeClassifier(model, database)

    def predict_vocabulary_free(
        self, classifier: VocabularyFreeClassifier, embeddings: np.ndarray, top_k: int
    ) -> list[VocabularyFreePrediction]:
        return classifier.predict_embeddings(embeddings, top_k=top_k)

    def load_captioner(self, checkpoint: str | None, model: VisionLanguageModel) -> Captioner:
        """A trained checkpoint (for ``model``), or with ``None`` the captioner shipped in the package, which
        runs on the offline image model it was trained with (shared with ``model`` when that is the same one)."""
        from vocabfree.caption.captioner import Captioner

        if checkpoint is None:
            from vocabfree.caption.checkpoint import read_meta
            from vocabfree.caption.shipped import shipped_checkpoint

            trained_on = read_meta(shipped_checkpoint())["image_model"]
            return Captioner.load(None, model=model if model.name == trained_on else None)
        return Captioner.load(checkpoint, model=model)

    def offers_shipped_captioner(self, model: VisionLanguageModel) -> bool:
        """The shipped captioner needs the offline weights; a server of an ``OFFLINE_MODEL*`` model has them."""
        from vocabfree.models import OFFLINE_MODEL

        return model.name.startswith(OFFLINE_MODEL)

    def generate_captions(self, captioner: Captioner, images: list[Image.Image]) -> list[str]:
        """Greedy captions (the service exposes no decoding options)."""
        return list(captioner.generate(images))
