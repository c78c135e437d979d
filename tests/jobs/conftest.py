"""Images for the job tests: solid colours the ``test-tiny`` model names, plus broken inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

COLOURS = ["red", "green", "blue", "yellow", "cyan", "magenta", "white", "black"]
LABELS = ["red", "green", "blue", "yellow"]


def make_images(folder: Path, count: int = 11) -> Path:
    """``count`` solid-colour PNGs of varied sizes plus two broken files (one truncated, one not an image)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("RGB", (16 + i, 24 + 2 * i), COLOURS[i % len(COLOURS)]).save(folder / f"img{i:03d}.png")
    (folder / "img004x.png").write_bytes(b"this is not an image")
    good = (folder / "img000.png").read_bytes()
    (folder / "img007x.png").write_bytes(good[: len(good) // 2])
    return folder


@pytest.fixture
def image_dir(tmp_path) -> Path:
    return make_images(tmp_path / "images")
