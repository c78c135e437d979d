"""Fixtures for caption tests: a tiny captions CSV of solid-colour images (test-tiny sees colours)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PIL import Image

COLOUR_CAPTIONS = {
    "red": ("red", ["a red square", "a bright red block"]),
    "green": ("green", ["a green square", "a grassy green block"]),
    "blue": ("blue", ["a blue square", "a deep blue block"]),
    "yellow": ("yellow", ["a yellow square", "a sunny yellow block"]),
    "white": ("white", ["a white square", "a plain white block"]),
    "black": ("black", ["a black square", "a dark black block"]),
}


@pytest.fixture
def colour_csv(tmp_path: Path) -> Path:
    """captions.csv with six solid-colour images: four train, one val, one test (two captions each)."""
    splits = ["train", "train", "train", "train", "val", "test"]
    (tmp_path / "images").mkdir()
    rows = []
    for (name, (colour, captions)), split in zip(COLOUR_CAPTIONS.items(), splits, strict=True):
        Image.new("RGB", (16, 16), colour).save(tmp_path / "images" / f"{name}.png")
        rows += [(f"images/{name}.png", c, split, "toy") for c in captions]
    path = tmp_path / "captions.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "caption", "split", "source"])
        writer.writerows(rows)
    return path
