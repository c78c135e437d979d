"""``vocabfree caption ...`` end to end on the test-tiny backend."""

import json

import pytest
from typer.testing import CliRunner

from vocabfree.cli import app
from vocabfree.metrics import captioning

runner = CliRunner()


@pytest.fixture
def checkpoint(colour_csv, tmp_path):
    config = {
        "data": str(colour_csv),
        "out_dir": str(tmp_path / "ckpt"),
        "image_model": "test-tiny",
        "feature_cache": str(tmp_path / "cache"),
        "val_split": "",
        "vocab_size": 80,
        "epochs": 2,
        "batch_size": 4,
        "max_len": 6,
        "precision": "fp32",
        "model": {"n_layer": 1, "n_head": 2, "n_embd": 32, "prefix_len": 2, "block_size": 8},
    }
    path = tmp_path / "train.json"
    path.write_text(json.dumps(config))
    result = runner.invoke(app, ["caption", "train", "--config", str(path), "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{") :])
    assert len(summary["history"]) == 2
    return tmp_path / "ckpt"


def test_caption_images_shorthand_json_and_skip_errors(checkpoint, colour_csv):
    images = colour_csv.parent / "images"
    (images / "broken.png").write_bytes(b"not an image")
    result = runner.invoke(
        app,
        [
            "caption",
            str(images),
            "--checkpoint",
            str(checkpoint),
            "--beam",
            "3",
            "--skip-errors",
            "--device",
            "cpu",
            "--precision",
            "fp32",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout[result.stdout.index("{") :])
    assert data["command"] == "caption" and data["model"] == str(checkpoint)
    assert len(data["results"]) == 7
    ok = [r for r in data["results"] if r["error"] is None]
    assert len(ok) == 6 and all(isinstance(r["caption"], str) and r["method"] == "generated" for r in ok)
    failed = [r for r in data["results"] if r["error"] is not None]
    assert [r["source"].endswith("broken.png") for r in failed] == [True] and failed[0]["caption"] is None

    table = runner.invoke(
        app,
        [
            "caption",
            "generate",
            str(images / "red.png"),
            "-c",
            str(checkpoint),
            "--device",
            "cpu",
            "--precision",
            "fp32",
        ],
    )
    assert table.exit_code == 0 and "red.png" in table.stdout


def test_caption_eval_checkpoint_and_baseline(checkpoint, colour_csv, monkeypatch, tmp_path):
    monkeypatch.setattr(captioning, "java_available", lambda: False)  # fast path: no PTB/METEOR processes
    result = runner.invoke(
        app,
        [
            "caption",
            "eval",
            "--data",
            str(colour_csv),
            "--split",
            "test",
            "--split",
            "val",
            "-c",
            str(checkpoint),
            "--baseline",
            "image",
            "--clip-model",
            "test-tiny",
            "--feature-cache",
            str(tmp_path / "cache"),
            "--device",
            "cpu",
            "--precision",
            "fp32",
            "--json",
            "--examples",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout[result.stdout.index("[") :])
    assert [(r["split"], r["name"].split(" ")[0]) for r in rows] == [
        ("test", "ckpt"),
        ("val", "ckpt"),
        ("test", "nearest"),
        ("val", "nearest"),
    ]
    assert all(r["n_images"] == 1 and r["meteor"] is None and 0 <= r["clip_score"] <= 2.5 for r in rows)
    assert len(rows[0]["captions"]) == 1


def test_caption_errors_exit_nonzero(tmp_path):
    result = runner.invoke(app, ["caption", "eval", "--data", "x.csv"])
    assert result.exit_code != 0


def test_split_images_max_images_keeps_the_first_images_and_their_rows(colour_csv):
    from vocabfree.caption.evaluate import split_images

    all_images, images, refs, rows = split_images(colour_csv, "train")
    _, first, first_refs, first_rows = split_images(colour_csv, "train", max_images=2)
    assert len(images) == 4 and first == images[:2] and first_refs == refs[:2]
    assert [all_images[r] for r in first_rows] == first and list(first_rows) == list(rows[:2])


def test_missing_or_corrupt_checkpoint_folders_are_named(tmp_path):
    from vocabfree.caption.checkpoint import read_meta
    from vocabfree.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="no caption checkpoint at .*runs/own: no such directory"):
        read_meta(tmp_path / "runs" / "own")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="not a caption checkpoint"):
        read_meta(tmp_path / "empty")
    (tmp_path / "empty" / "config.json").write_text("[1, 2]")
    with pytest.raises(InvalidInputError, match="not a JSON object"):
        read_meta(tmp_path / "empty")
