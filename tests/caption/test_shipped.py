"""The captioner shipped inside the package: its files, its model card, and captioning a real photo offline."""

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vocabfree.caption.shipped import SHIPPED_DIR, model_card, shipped_checkpoint

PHOTO = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "data"
    / "caltech101"
    / "images"
    / "dalmatian"
    / "image_0001.jpg"
)
needs_photo = pytest.mark.skipif(not PHOTO.is_file(), reason="shared data not present")


def test_shipped_files_are_small_float16_and_carded():
    from safetensors import safe_open

    folder = shipped_checkpoint()
    weights = folder / "model.safetensors"
    assert weights.stat().st_size <= 10 * 2**20
    with safe_open(str(weights), "pt") as f:
        assert {str(f.get_slice(k).get_dtype()) for k in f.keys()} == {"F16"}  # noqa: SIM118
    meta = json.loads((folder / "config.json").read_text())
    assert meta["feature_kind"] in ("tokens", "backbone") and meta["image_model"] == "local-conse"
    card = model_card()
    assert "Flickr8k" in card["training_data"]["name"] and card["training_data"]["split"] == "train"
    assert card["training_data"]["licence"] and card["licence"]
    test = card["metrics"]["flickr8k_test"]
    assert {"bleu4", "meteor", "cider", "clip_score"} <= set(test) and test["cider"] > 0
    assert folder == SHIPPED_DIR


@needs_photo
def test_shipped_captioner_captions_a_real_photo_deterministically():
    from vocabfree.caption.captioner import Captioner

    captioner = Captioner.load(device="cpu")  # no checkpoint argument: the shipped one
    first = captioner.generate([str(PHOTO)], beam_size=3)
    assert first == captioner.generate([str(PHOTO)], beam_size=3)
    caption = first[0]
    words = caption.split()
    assert len(words) >= 3 and re.fullmatch(r"[a-z][a-z ,.'-]*", caption.lower()), caption


@needs_photo
def test_cli_captions_with_the_shipped_captioner_as_json():
    from vocabfree.cli import app

    result = CliRunner().invoke(app, ["caption", str(PHOTO), "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout[result.stdout.index("{") :])
    assert data["command"] == "caption" and data["model"].startswith("shipped:")
    [row] = data["results"]
    assert row["source"] == str(PHOTO) and row["error"] is None and row["method"] == "generated"
    assert len(row["caption"].split()) >= 3
