"""Typed results shared by every classifier, the CLI and the HTTP service."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Prediction:
    """Top-k answer for one image: ``labels[i]`` has probability ``scores[i]``, best first."""

    labels: tuple[str, ...]
    scores: tuple[float, ...]
    source: str = ""  # the input's name (path) where known

    @property
    def label(self) -> str:
        return self.labels[0]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RetrievedCaption:
    """One caption retrieved from the database, with its cosine similarity to the image."""

    text: str
    similarity: float


@dataclass(frozen=True)
class Candidate:
    """A candidate class name with both CaSED scores and their mix."""

    name: str
    image_score: float  # softmax over candidates of the image-name similarity
    text_score: float  # softmax over candidates of the caption-centroid-name similarity
    score: float  # alpha * image_score + (1 - alpha) * text_score


@dataclass(frozen=True)
class VocabularyFreePrediction(Prediction):
    """A vocabulary-free answer with its evidence: the captions retrieved and every candidate scored."""

    captions: tuple[RetrievedCaption, ...] = field(default_factory=tuple)
    candidates: tuple[Candidate, ...] = field(default_factory=tuple)
