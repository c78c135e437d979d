"""Helpers for the HTTP service tests: solid-colour images, a stand-in captioner and vocabulary-free
classifier, and ``StandInLibrary``, which serves them (swapped in with
``app.dependency_overrides[get_library]``, see ``vocabfree.serve.dependencies``).

A module of its own (not conftest.py) so test files can import from it.
"""

from __future__ import annotations

import io
import re

import numpy as np
from PIL import Image

from vocabfree.classify.results import Candidate, RetrievedCaption, VocabularyFreePrediction
from vocabfree.serve.adapters import TaskLibrary

COLOUR_RGB = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0)}
CAPTIONS = [
    "a red car parked on the street",
    "a green field under the sun",
    "a blue boat on the lake",
    "a yellow taxi in the city",
    "a red apple on a table",
]


def image_bytes(colour: str | tuple[int, int, int] = "red", size: int = 32, fmt: str = "PNG") -> bytes:
    rgb = COLOUR_RGB[colour] if isinstance(colour, str) else colour
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), rgb).save(buffer, fmt)
    return buffer.getvalue()


class ColourCaptioner:
    """Stand-in for ``vocabfree.caption.Captioner``: names the nearest colour of the image's mean."""

    def __init__(self, delay_s: float = 0.0):
        self.delay_s = delay_s
        self.calls: list[int] = []  # batch sizes seen

    def generate(self, images, beam_size: int = 1) -> list[str]:
        import time

        self.calls.append(len(images))
        if self.delay_s:
            time.sleep(self.delay_s)
        out = []
        for image in images:
            mean = np.asarray(image, dtype=np.float32).reshape(-1, 3).mean(axis=0)
            name = min(COLOUR_RGB, key=lambda c: float(np.sum((np.array(COLOUR_RGB[c]) - mean) ** 2)))
            out.append(f"a {name} square")
        return out


class TinyVocabularyFree:
    """Stand-in for ``VocabularyFreeClassifier``: retrieves from ``CAPTIONS`` with the real test-tiny model
    and scores the colour words found in the retrieved captions, returning the real result dataclasses."""

    def __init__(self, model, captions: list[str] = CAPTIONS, k: int = 3):
        self.model, self.captions, self.k = model, captions, k
        self.caption_embeddings = model.encode_texts(captions)  # (M, D)

    def predict_embeddings(self, embeddings: np.ndarray, *, top_k: int = 5) -> list[VocabularyFreePrediction]:
        out = []
        for emb in np.asarray(embeddings):
            sims = self.caption_embeddings @ emb  # (M,)
            order = np.argsort(-sims)[: self.k]
            retrieved = [RetrievedCaption(self.captions[i], float(sims[i])) for i in order]
            words = list(dict.fromkeys(w for c in retrieved for w in re.findall(r"[a-z]+", c.text) if w in COLOUR_RGB))
            logits = self.model.logit_scale * (self.model.encode_texts(words) @ emb)
            probs = np.exp(logits - logits.max())
            probs /= probs.sum()
            ranked = sorted(zip(words, probs.tolist(), strict=True), key=lambda x: -x[1])
            candidates = tuple(Candidate(w, p, p, p) for w, p in ranked)
            out.append(
                VocabularyFreePrediction(
                    labels=tuple(w for w, _ in ranked[:top_k]),
                    scores=tuple(p for _, p in ranked[:top_k]),
                    captions=tuple(retrieved),
                    candidates=candidates,
                )
            )
        return out


class StandInLibrary(TaskLibrary):
    """The real library (test-tiny loads for real) with stand-ins for the captioner and the database:
    ``captioner`` is returned for any checkpoint; with ``database`` every path opens as a stand-in that
    ``TinyVocabularyFree`` classifies over. ``loaded`` records the models loaded, in order."""

    def __init__(self, captioner=None, *, database: bool = False):
        self.captioner = captioner
        self.database = database
        self.loaded: list[str] = []

    def load_model(self, name, device):
        self.loaded.append(name)
        return super().load_model(name, device)

    def load_captioner(self, checkpoint, model):
        if self.captioner is None:
            return super().load_captioner(checkpoint, model)
        return self.captioner

    def open_database(self, path, model):
        return "stand-in-database" if self.database else super().open_database(path, model)

    def build_vocabulary_free(self, model, database):
        if database == "stand-in-database":
            return TinyVocabularyFree(model)
        return super().build_vocabulary_free(model, database)
