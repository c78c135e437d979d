"""``vocabfree caption ...`` end to end on the test-tiny backend."""

import json

import pytest
from typer.testing import CliRunner

from tests.cli.test_cli import run as run_main  # the real entry point: one-line errors, exit codes
from vocabfree.caption.captioner import Captioner
from vocabfree.caption.generation import DecodeConfig
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
    assert len(ok) == 6 and all(r["method"] == "generated" for r in ok)
    # the CLI's captions are the library's with the same options (beam 3), word for word
    captioner = Captioner.load(checkpoint, device="cpu", precision="fp32")
    paths = [r["source"] for r in ok]
    assert [r["caption"] for r in ok] == captioner.generate(paths, DecodeConfig(beam_size=3))
    assert all(r["caption"] and r["score"] < 0 for r in ok)  # a log-probability per caption
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


def test_caption_eval_errors_are_one_line_with_exit_1(checkpoint, tmp_path, monkeypatch, capsys):
    missing = tmp_path / "x.csv"
    code, out, err = run_main(monkeypatch, capsys, "caption", "eval", "--data", missing, "-c", checkpoint)
    assert (code, out, err.strip().splitlines()[-1]) == (1, "", f"error: caption file {missing} does not exist")


def test_caption_eval_unknown_baseline_is_named(colour_csv, monkeypatch, capsys):
    args = ("caption", "eval", "--data", colour_csv, "--baseline", "nope", "--image-model", "test-tiny")
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert (code, out, err.strip().splitlines()[-1]) == (1, "", "error: unknown baseline 'nope'; use image or text")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--beam", "3", "--top-p", "0.9"],
            "error: beam_size=3 and top_p=0.9 conflict: nucleus sampling draws one caption token by token; "
            "give beam_size 1 with top_p, or no top_p for beam search",
        ),
        (["--top-p", "1.5"], "error: top_p must be in (0, 1], got 1.5"),
        (["--top-p", "0.9", "--temperature", "0"], "error: temperature must be > 0, got 0.0"),
    ],
)
def test_conflicting_or_bad_decoding_options_are_usage_errors(options, message, monkeypatch, capsys):
    # checked before any image is read or model loaded: the image need not exist
    code, out, err = run_main(monkeypatch, capsys, "caption", "no-such-image.png", *options)
    assert (code, out, err.strip()) == (2, "", message)


def test_top_p_alone_samples_with_beam_one(checkpoint, colour_csv, monkeypatch, capsys):
    image = colour_csv.parent / "images" / "red.png"
    args = ("caption", image, "-c", checkpoint, "--top-p", "0.9", "--seed", "7", "--device", "cpu")
    code, out, _ = run_main(monkeypatch, capsys, *args, "--precision", "fp32", "--json")
    assert code == 0
    (row,) = json.loads(out)["results"]
    captioner = Captioner.load(checkpoint, device="cpu", precision="fp32")
    assert row["caption"] == captioner.generate([str(image)], DecodeConfig(top_p=0.9, seed=7))[0]


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
