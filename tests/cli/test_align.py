"""``vocabfree align`` through the real entry point: exact exit codes and one-line errors for bad input, and a
seconds-long run on synthetic frozen features (the encoders are replaced; everything else is real)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from tests.cli.test_cli import run as run_cli
from vocabfree.models.efficientnet_lite import FEATURE_DIM
from vocabfree.models.protocol import l2_normalize


def run(monkeypatch, capsys, *args: object) -> tuple[int, str, str]:
    return run_cli(monkeypatch, capsys, "align", *map(str, args))


@pytest.fixture
def pairs_csv(tmp_path):
    rows = [f"train_{i}.jpg,caption {i},train" for i in range(16)] + [f"val_{i}.jpg,caption {i},val" for i in range(8)]
    path = tmp_path / "pairs.csv"
    path.write_text("path,caption,split\n" + "\n".join(rows) + "\n")
    return path


def test_missing_csv(monkeypatch, capsys, tmp_path):
    code, out, err = run(monkeypatch, capsys, tmp_path / "nope.csv", "--out", tmp_path / "head")
    assert (code, out, err) == (1, "", f"error: {tmp_path / 'nope.csv'}: no such CSV file\n")
    assert not (tmp_path / "head.json").exists()


def test_csv_without_the_needed_columns(monkeypatch, capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("file,text\na.jpg,a dog\n")
    code, out, err = run(monkeypatch, capsys, bad, "--out", tmp_path / "head")
    assert (code, out) == (1, "")
    assert err == f"error: {bad}: needs columns path and caption (or path and label), has ['file', 'text']\n"


def test_empty_training_split(monkeypatch, capsys, pairs_csv, tmp_path):
    code, _, err = run(monkeypatch, capsys, pairs_csv, "--out", tmp_path / "head", "--train-split", "test")
    assert (code, err) == (1, f"error: {pairs_csv}: no rows in split 'test'\n")


def test_validation_overlapping_training(monkeypatch, capsys, pairs_csv, tmp_path):
    code, _, err = run(monkeypatch, capsys, pairs_csv, "--out", tmp_path / "head", "--val-split", "train")
    assert (code, err) == (1, "error: validation images overlap the training images\n")


def test_unknown_head_kind(monkeypatch, capsys, pairs_csv, tmp_path):
    code, _, err = run(monkeypatch, capsys, pairs_csv, "--out", tmp_path / "head", "--kind", "transformer")
    assert (code, err) == (1, "error: head kind must be 'linear' or 'mlp', got 'transformer'\n")


def test_usage_errors_exit_2(monkeypatch, capsys, pairs_csv, tmp_path):
    code, _, err = run(monkeypatch, capsys, pairs_csv)
    assert (code, err) == (2, "error: Missing option '--out'.\n")
    code, _, err = run(monkeypatch, capsys, pairs_csv, "--out", tmp_path / "head", "--epochs", "0")
    assert (code, err) == (2, "error: Invalid value for '--epochs': Input should be greater than or equal to 1\n")


def _features(n_images: int, seed: int):
    from vocabfree.models.align_train import PairFeatures

    rng = np.random.default_rng(seed)
    conse = l2_normalize(rng.standard_normal((n_images, 384)).astype(np.float32))
    pooled = rng.standard_normal((n_images, FEATURE_DIM)).astype(np.float32)
    return PairFeatures(conse=conse, pooled=pooled, text=conse.copy(), image_of_text=np.arange(n_images))


@pytest.fixture
def synthetic_encoders(monkeypatch):
    """Replace the frozen encoders: 16 train and 8 val images with 384-d features, no weights loaded."""
    from vocabfree.models import align_train

    built = []

    def fake_build(arch, **kwargs):
        built.append((arch, kwargs))
        return SimpleNamespace(image_encoder=SimpleNamespace(runtime=SimpleNamespace(precision="fp32")))

    monkeypatch.setattr(align_train, "build_local", fake_build)
    monkeypatch.setattr(align_train, "pair_features", lambda m, pairs, *a, **k: _features(len(pairs.paths), 0))
    return built


def test_tiny_run_writes_head_and_card(monkeypatch, capsys, pairs_csv, tmp_path, synthetic_encoders):
    out = tmp_path / "head"
    args = (pairs_csv, "--out", out, "--epochs", "2", "--batch-size", "8", "--kind", "linear", "--top-t", "3")
    code, stdout, err = run(monkeypatch, capsys, *args, "--json", "--notes", "unit test")
    assert (code, err) == (0, "")
    card = json.loads(stdout)
    assert card["files"] == [str(out) + ".safetensors", str(out) + ".json"]
    assert card["training_data"] == {
        "train": f"{pairs_csv} (split train)",
        "train_images": 16,
        "train_captions": 16,
        "val": f"{pairs_csv} (split val)",
        "val_images": 8,
    }
    assert card["backend"] == "local (lite2 + all-MiniLM-L6-v2, ConSE T=3)" and card["notes"] == "unit test"
    assert card["train_config"]["epochs"] == 2 and card["loss_curve"]["epochs"] == 2
    assert card["metrics"]["val"]["epoch"] in (1, 2) and card["precision"] == "fp32"
    assert synthetic_encoders[0][0] == "lite2" and synthetic_encoders[0][1]["conse"].top_t == 3
    saved = json.loads((tmp_path / "head.json").read_text())
    assert saved["config"]["kind"] == "linear" and saved["metrics"] == card["metrics"]
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left

    code, stdout, err = run(monkeypatch, capsys, *args)  # the table, with one progress line per epoch
    assert code == 0
    assert [line.split("  loss")[0] for line in err.splitlines()] == ["epoch   1/2", "epoch   2/2"]
    assert "train images" in stdout and "val mean_recall" in stdout
