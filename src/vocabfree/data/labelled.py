"""Labelled image sets: the ``path,label`` CSV format of the CoOp/CaSED splits, and ImageFolder trees."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vocabfree.errors import InvalidInputError
from vocabfree.images import IMAGE_EXTENSIONS


@dataclass(frozen=True)
class LabelledImages:
    """Image paths with one label each, in file order."""

    paths: tuple[Path, ...]
    labels: tuple[str, ...]
    name: str = ""

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def classes(self) -> list[str]:
        """The sorted distinct labels (the class list for zero-shot evaluation)."""
        return sorted(set(self.labels))

    def subset(self, limit: int | None = None, per_class: int | None = None) -> LabelledImages:
        """The first ``limit`` items, or the first ``per_class`` items of each class (for quick runs)."""
        keep: Sequence[int] = range(len(self))
        if per_class is not None:
            counts: dict[str, int] = {}
            chosen = []
            for i, label in enumerate(self.labels):
                if counts.get(label, 0) < per_class:
                    counts[label] = counts.get(label, 0) + 1
                    chosen.append(i)
            keep = chosen
        keep = list(keep)[:limit] if limit is not None else list(keep)
        return LabelledImages(tuple(self.paths[i] for i in keep), tuple(self.labels[i] for i in keep), self.name)


def read_labelled_csv(
    path: str | Path, *, path_column: str = "path", label_column: str = "label", check_files: bool = True
) -> LabelledImages:
    """Read a CSV with a header containing ``path`` and ``label``; paths are relative to the CSV's folder."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path}: dataset CSV not found")
    with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheet exports start with a BOM
        reader = csv.DictReader(f)
        missing = {path_column, label_column} - set(reader.fieldnames or [])
        if missing:
            raise InvalidInputError(f"{path}: missing column(s) {sorted(missing)}; found {reader.fieldnames}")
        rows = [(row[path_column] or "", row[label_column] or "") for row in reader]
        rows = [(p.strip(), label) for p, label in rows if p.strip() or label.strip()]  # blank lines: skipped
    if not rows:
        raise InvalidInputError(f"{path}: no rows")
    paths = tuple((path.parent / p).resolve() if not Path(p).is_absolute() else Path(p) for p, _ in rows)
    if check_files:
        absent = [str(p) for p in paths if not p.is_file()]
        if absent:
            raise InvalidInputError(f"{path}: {len(absent)} image file(s) missing, e.g. {absent[:3]}")
    labels = tuple((label or "").strip() for _, label in rows)
    if blank := [i + 2 for i, label in enumerate(labels) if not label]:
        raise InvalidInputError(f"{path}: empty label on line(s) {blank[:5]}")
    # The dataset's name: its folder (caltech101/test.csv -> caltech101); resolved, so ./test.csv is named too.
    return LabelledImages(paths, labels, name=path.resolve().parent.name or path.stem)


def read_image_folder(root: str | Path) -> LabelledImages:
    """Read ``root/<class>/<image>`` trees (torchvision ImageFolder layout); labels are folder names."""
    root = Path(root)
    if not root.is_dir():
        raise InvalidInputError(f"{root}: not a directory")
    items = [
        (p, cls.name.replace("_", " "))
        for cls in sorted(d for d in root.iterdir() if d.is_dir())
        for p in sorted(cls.rglob("*"))
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    ]
    if not items:
        raise InvalidInputError(f"{root}: no class folders with images")
    return LabelledImages(tuple(p for p, _ in items), tuple(label for _, label in items), name=root.name)


def read_labelled(path: str | Path) -> LabelledImages:
    """A labelled dataset from either layout the CLI accepts: a folder per class, or a ``path,label`` CSV."""
    path = Path(path)
    return read_image_folder(path) if path.is_dir() else read_labelled_csv(path)
