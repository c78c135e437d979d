"""Shared fixtures: the deterministic ``test-tiny`` backend, solid-colour images, random hf checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _has_wordnet() -> bool:
    from vocabfree.errors import MissingDependencyError
    from vocabfree.vocabulary.wordnet import find_wordnet_dir

    try:
        find_wordnet_dir()
    except MissingDependencyError:
        return False
    return True


needs_wordnet = pytest.mark.skipif(not _has_wordnet(), reason="WordNet not installed (apt-get install wordnet-base)")


@pytest.fixture(scope="session")
def tiny_model():
    from vocabfree.models import load_model

    return load_model("test-tiny")


@pytest.fixture
def colour_images(tmp_path) -> dict[str, Path]:
    """Solid red/green/blue PNGs of different sizes; the tiny backend knows their colour names."""
    out = {}
    for name, rgb, size in (
        ("red", (250, 10, 10), (40, 30)),
        ("green", (5, 240, 5), (32, 32)),
        ("blue", (0, 0, 255), (20, 50)),
    ):
        path = tmp_path / f"{name}.png"
        Image.new("RGB", size, rgb).save(path)
        out[name] = path
    return out


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory) -> Path:
    from vocabfree.models.random_checkpoint import save_random_checkpoint

    return save_random_checkpoint(tmp_path_factory.mktemp("tiny-clip"), "tiny-clip")


@pytest.fixture(scope="session")
def tiny_siglip_dir(tmp_path_factory) -> Path:
    from vocabfree.models.random_checkpoint import save_random_checkpoint

    return save_random_checkpoint(tmp_path_factory.mktemp("tiny-siglip"), "tiny-siglip")


#: The tests' tiny caption corpus: colour words the ``test-tiny`` backend aligns with solid-colour images.
TINY_CAPTIONS = [
    "a red car parked on the street",
    "red apples in a bowl",
    "a red door",
    "a blue sky over the sea",
    "blue water in the lake",
    "green grass in a field",
    "green leaves on a tree",
    "a black cat sleeping",
    "a white dog running",
    "a yellow taxi in the city",
]


def build_tiny_db(folder: Path, model, captions: list[str]):
    """Build and open a caption database of ``captions`` embedded by ``model`` (the tests' tiny fixture)."""
    from vocabfree.database import CaptionDatabase, build_database, corpus_from_texts

    build_database(model, [corpus_from_texts("tiny", captions)], folder)
    return CaptionDatabase.open(folder, model=model)


def noise_image(seed: int, size=(48, 40)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
