"""``classify`` as a batch job: zero-shot over labels, or vocabulary-free over a caption database.

The task wraps the classifiers of ``vocabfree.classify`` as they are: the job hands them decoded images a
batch at a time. Columns: ``source``, ``label``/``score`` (the top answer), ``labels``/``scores`` (top-k,
best first), ``error``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vocabfree.errors import InvalidInputError
from vocabfree.jobs.image_task import ImageTask

if TYPE_CHECKING:
    from vocabfree.classify.results import Prediction


@dataclass
class ClassifyImagesTask(ImageTask):
    """Zero-shot when ``labels`` are given, else vocabulary-free with ``db`` (``method``: cased or a
    baseline). The other fields are the classifiers' own options."""

    labels: list[str] = field(default_factory=list)
    db: str | None = None
    method: str = "cased"
    templates: str = "openai"
    descriptions: str = "auto"
    calibrate: bool | str = "auto"
    top_k: int = 5
    batch_size: int = 32
    kind = "classify"

    def __post_init__(self):
        if bool(self.labels) == (self.db is not None):
            raise InvalidInputError("classify needs either labels (zero-shot) or a caption database (db)")
        if self.top_k < 1:
            raise InvalidInputError(f"top-k must be >= 1, got {self.top_k}")
        if self.db is not None:
            self.db = str(Path(self.db).resolve())  # workers may run elsewhere: one absolute path

    def options(self) -> dict:
        if self.labels:
            return {
                "labels": list(self.labels),
                "templates": str(self.templates),
                "descriptions": str(self.descriptions),
                "calibrate": str(self.calibrate),
                "top_k": self.top_k,
            }
        return {"db": self.db, "method": self.method, "top_k": self.top_k}

    def prepare(self) -> None:
        if self.labels:
            from vocabfree.classify.zero_shot import ZeroShotClassifier

            self.zero_shot_ = ZeroShotClassifier(
                self.model_,
                templates=self.templates,
                descriptions=self.descriptions,
                calibrate=self.calibrate,
                batch_size=self.batch_size,
            ).fit(None, self.labels)
        else:
            from vocabfree.classify.methods import make_classifier
            from vocabfree.database.store import CaptionDatabase

            assert self.db is not None  # __post_init__: no labels, so a database
            database = (
                CaptionDatabase.open(self.db, model=self.model_)
                if self.method in ("cased", "closest-caption")
                else None
            )
            self.classifier_ = make_classifier(  # either task's classifier
                self.method, self.model_, database, batch_size=self.batch_size
            )

    def result_schema(self):
        import pyarrow as pa

        return pa.schema(
            [
                ("label", pa.string()),
                ("score", pa.float32()),
                ("labels", pa.list_(pa.string())),
                ("scores", pa.list_(pa.float32())),
            ]
        )

    def predict(self, images):
        import pyarrow as pa

        predictions: Sequence[Prediction]
        if self.labels:
            predictions = self.zero_shot_.predict_topk(images, k=self.top_k)
        else:
            predictions = self.classifier_.predict(images, top_k=self.top_k)
        return pa.table(
            {
                "label": [p.labels[0] for p in predictions],
                "score": [p.scores[0] for p in predictions],
                "labels": [list(p.labels) for p in predictions],
                "scores": [list(p.scores) for p in predictions],
            },
            schema=self.result_schema(),
        )
