"""``evaluate_zero_shot``: known accuracies on solid-colour images that ``test-tiny`` names exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vocabfree.data import LabelledImages
from vocabfree.errors import InvalidInputError
from vocabfree.evaluation import evaluate_zero_shot
from vocabfree.models.tiny import TinyModel

RGB = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


def colour_dataset(folder: Path, items: list[tuple[str, str]], name: str = "colours") -> LabelledImages:
    """One solid image per (colour, label) pair: a pair whose label differs from its colour is a known error."""
    paths = []
    for i, (colour, _) in enumerate(items):
        path = folder / f"{i}-{colour}.png"
        Image.new("RGB", (12, 10), RGB[colour]).save(path)
        paths.append(path)
    return LabelledImages(tuple(paths), tuple(label for _, label in items), name=name)


@pytest.fixture
def three_of_four(tmp_path) -> LabelledImages:
    # the second blue image is labelled green: the tiny model answers blue, so top-1 is exactly 3/4
    return colour_dataset(tmp_path, [("red", "red"), ("green", "green"), ("blue", "blue"), ("blue", "green")])


def test_known_accuracies_and_every_metric_key(tiny_model, three_of_four):
    result = evaluate_zero_shot(tiny_model, three_of_four)
    timings = {key: result.pop(key) for key in ("encode_seconds", "images_per_second", "seconds")}
    assert result == {
        "dataset": "colours",
        "model": "test-tiny",
        "templates": "openai",
        "described_labels": 0,
        "calibrated": False,
        "n_images": 4,
        "n_classes": 3,
        "top1": 75.0,
        "top5": 100.0,  # three classes: the true one is always within the top 5
        "cluster_accuracy": 75.0,  # one name per class: blue can be credited to blue or green, not both
    }
    assert all(value is None or value >= 0 for value in timings.values())


def test_three_classes_top1_and_cluster_accuracy_differ(tiny_model, tmp_path):
    # answers red, red, blue, blue for labels red, blue, blue, green: top-1 2/4, best one-to-one matching 3/4
    data = colour_dataset(tmp_path, [("red", "red"), ("red", "blue"), ("blue", "blue"), ("blue", "green")])
    data = LabelledImages(data.paths, data.labels, name="mixed")
    result = evaluate_zero_shot(tiny_model, data, templates=["a photo of a {}.", "{}"])
    assert (result["top1"], result["top5"], result["n_classes"]) == (50.0, 100.0, 3)
    assert result["cluster_accuracy"] == 50.0  # red->red, blue->blue: one-to-one, so 2 of 4
    assert result["templates"] == "2 custom"


def test_descriptions_and_calibration_follow_the_model(tiny_model, three_of_four, tmp_path):
    class Calibrated(TinyModel):
        """The tiny model plus reference image embeddings: calibration turns on with ``calibrate="auto"``."""

        def reference_image_embeddings(self) -> np.ndarray:
            return self.encode_images([Image.new("RGB", (4, 4), rgb) for rgb in RGB.values()])

    result = evaluate_zero_shot(Calibrated(), three_of_four, descriptions={"red": "the colour of blood"})
    assert result["calibrated"] is True and result["described_labels"] == 1 and result["top1"] == 75.0
    with pytest.raises(InvalidInputError, match="offers no reference image embeddings"):
        evaluate_zero_shot(tiny_model, three_of_four, calibrate=True)


def test_cached_embeddings_give_the_same_result(tiny_model, three_of_four, tmp_path):
    first = evaluate_zero_shot(tiny_model, three_of_four, cache_dir=tmp_path / "cache")
    assert any((tmp_path / "cache").rglob("*"))
    second = evaluate_zero_shot(tiny_model, three_of_four, cache_dir=tmp_path / "cache")
    for key in ("top1", "top5", "cluster_accuracy", "n_images"):
        assert first[key] == second[key]
