"""The part every image job shares: decode each input once, keep going past bad ones, one row per input.

A subclass names its ``kind`` and implements ``options()`` (what goes in the job spec besides the model),
``prepare()`` (build the classifier once the model is loaded) and ``predict(images) -> pyarrow.Table`` (one
row per decoded image) with ``result_schema()``. The table a task returns has the columns
``source``, then the result columns (null where the input failed), then ``error`` (null where it worked).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vocabfree.errors import ImageLoadError
from vocabfree.images import DEFAULT_MAX_PIXELS

if TYPE_CHECKING:
    from PIL import Image


@dataclass
class ImageTask:
    """Base of the image jobs; picklable until ``setup()`` loads the model (in each worker)."""

    model: str
    device: str | None = None
    precision: str | None = None
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    kind = "images"

    def options(self) -> dict:
        return {}

    def spec(self) -> dict:
        """What the job computes (recorded in ``_job.json``; a resumed job must match it)."""
        return {"task": self.kind, "model": self.model, **self.options()}

    def setup(self) -> None:
        from vocabfree.models import load_model

        self.model_ = load_model(self.model, device=self.device, precision=self.precision)
        self.prepare()

    def prepare(self) -> None:
        """Build what ``predict`` needs from ``self.model_`` (called once per worker)."""

    def result_schema(self):
        raise NotImplementedError

    def predict(self, images):
        raise NotImplementedError

    def __call__(self, items: Sequence[str]):
        import pyarrow as pa

        from vocabfree.images import load_image

        images: list[Image.Image] = []
        where: list[int | None] = [None] * len(items)  # row of each input in ``results``; None: it failed
        errors: list[str | None] = [None] * len(items)
        for i, item in enumerate(items):
            try:
                images.append(load_image(item, max_pixels=self.max_pixels))
                where[i] = len(images) - 1
            except ImageLoadError as exc:
                errors[i] = str(exc)
        results = self.predict(images) if images else self.result_schema().empty_table()
        # take() with a null index yields a null row: failed inputs get nulls in every result column
        results = results.take(pa.array(where, pa.int64()))
        table = results.add_column(0, "source", pa.array([str(x) for x in items], pa.string()))
        return table.append_column("error", pa.array(errors, pa.string()))
