"""Image-caption pairs from a CSV: ``path,caption[,split]`` rows, or ``path,label`` rows turned into captions.

What alignment heads are trained and validated on (``vocabfree.models.align_train``).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vocabfree.errors import InvalidInputError

CAPTION_TEMPLATES = (  # labels -> captions when reading a labelled CSV
    "a photo of a {}.",
    "a picture of a {}.",
    "an image of a {}.",
    "a close-up photo of the {}.",
    "a photo of the {}.",
)


@dataclass(frozen=True)
class PairData:
    """Image-caption pairs: ``captions[i]`` describes ``paths[image_of_caption[i]]``."""

    paths: tuple[str, ...]  # distinct images
    captions: tuple[str, ...]
    image_of_caption: np.ndarray  # (K,) int index into paths
    source: str = ""  # where the pairs came from, for the model card


def has_split_column(csv_path: str | Path) -> bool:
    """Whether ``csv_path`` is a file whose header has a ``split`` column."""
    if not Path(csv_path).is_file():
        return False
    with Path(csv_path).open(newline="", encoding="utf-8") as handle:
        return "split" in (csv.DictReader(handle).fieldnames or ())


def read_pairs(
    csv_path: str | Path, *, split: str | None = None, templates: Sequence[str] = CAPTION_TEMPLATES
) -> PairData:
    """Pairs from a ``path,caption[,split]`` CSV, or from a ``path,label`` CSV (each label written into every
    template). Paths are relative to the CSV's folder. ``split`` keeps only rows of that split."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise InvalidInputError(f"{csv_path}: no such CSV file")
    with csv_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        rows = list(reader)
    if "path" not in columns or not ({"caption", "label"} & columns):
        raise InvalidInputError(
            f"{csv_path}: needs columns path and caption (or path and label), has {sorted(columns)}"
        )
    if split is not None:
        if "split" not in columns:
            raise InvalidInputError(f"{csv_path}: split '{split}' requested but the CSV has no split column")
        rows = [r for r in rows if r["split"] == split]
    if not rows:
        raise InvalidInputError(f"{csv_path}: no rows" + (f" in split '{split}'" if split else ""))
    index: dict[str, int] = {}
    captions: list[str] = []
    owner: list[int] = []
    for row in rows:
        path = str(csv_path.parent / row["path"])
        i = index.setdefault(path, len(index))
        texts = [row["caption"]] if "caption" in columns else [t.format(row["label"]) for t in templates]
        captions.extend(texts)
        owner.extend([i] * len(texts))
    source = f"{csv_path}" + (f" (split {split})" if split else "")
    return PairData(tuple(index), tuple(captions), np.asarray(owner, np.int64), source)
