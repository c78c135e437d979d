"""Image–caption pairs: the project's CSV format and the Karpathy-split JSON of Flickr8k/30k and COCO.

Readers return ``CaptionPair`` rows with absolute image paths, so everything downstream (feature caching,
training, evaluation) is independent of where the dataset file lives.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vocabfree.errors import InvalidInputError

KARPATHY_SPLITS = {"restval": "train"}  # Karpathy's COCO "restval" images are training images


@dataclass(frozen=True)
class CaptionPair:
    """One caption of one image."""

    image: str  # absolute path
    caption: str
    split: str  # train / val / test / test_coco / ...
    source: str = ""  # dataset name


def read_caption_csv(path: str | Path, splits: Iterable[str] | None = None) -> list[CaptionPair]:
    """Rows of a ``path,caption,split,source`` CSV (image paths relative to the CSV), optionally filtered."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"caption file {path} does not exist")
    wanted = set(splits) if splits is not None else None
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"path", "caption", "split"} - set(reader.fieldnames or ())
        if missing:
            raise InvalidInputError(f"{path}: missing column(s) {sorted(missing)}; expected path,caption,split,source")
        rows = []
        for r in reader:
            image = str((path.parent / r["path"]).resolve())
            rows.append(CaptionPair(image, r["caption"].strip(), r["split"], r.get("source") or ""))
    return [r for r in rows if wanted is None or r.split in wanted]


def read_karpathy_json(
    path: str | Path, image_root: str | Path, splits: Iterable[str] | None = None, source: str = ""
) -> list[CaptionPair]:
    """Rows of a ``dataset_karpathy.json`` (Flickr8k/30k, COCO).

    Fields read: images[].filepath (optional), .filename, .split, .sentences[].raw.

    Image paths are ``image_root/filepath/filename`` (``filepath`` is COCO's ``train2014`` etc., absent for
    Flickr). Karpathy's ``restval`` split counts as ``train``.
    """
    path, root = Path(path), Path(image_root)
    if not path.is_file():
        raise InvalidInputError(f"Karpathy split file {path} does not exist")
    data = json.loads(path.read_text(encoding="utf-8"))
    if "images" not in data:
        raise InvalidInputError(f"{path}: not a Karpathy split file (no 'images' list)")
    wanted = set(splits) if splits is not None else None
    source = source or str(data.get("dataset", ""))
    rows: list[CaptionPair] = []
    for image in data["images"]:
        split = KARPATHY_SPLITS.get(image["split"], image["split"])
        if wanted is not None and split not in wanted:
            continue
        file = (root / image.get("filepath", "") / image["filename"]).resolve()
        rows.extend(CaptionPair(str(file), s["raw"].strip(), split, source) for s in image["sentences"])
    return rows


def read_pairs(path: str | Path, splits: Iterable[str] | None = None, image_root: str | Path | None = None):
    """Dispatch on the file type: ``.csv`` or Karpathy ``.json`` (images under ``image_root``)."""
    if str(path).endswith(".json"):
        if image_root is None:
            raise InvalidInputError("a Karpathy JSON needs image_root (the folder holding the images)")
        return read_karpathy_json(path, image_root, splits)
    return read_caption_csv(path, splits)


def group_by_image(pairs: Sequence[CaptionPair]) -> tuple[list[str], list[list[str]]]:
    """(unique image paths in first-seen order, the captions of each): what metrics and baselines want."""
    index: dict[str, int] = {}
    images: list[str] = []
    refs: list[list[str]] = []
    for p in pairs:
        if p.image not in index:
            index[p.image] = len(images)
            images.append(p.image)
            refs.append([])
        refs[index[p.image]].append(p.caption)
    return images, refs
