"""The CLI through its real entry point (``main``), checking output and exit codes."""

import json
import sys

import pytest
from PIL import Image

from vocabfree.cli import main


def run(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["vocabfree", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def test_classify_zero_shot_json(monkeypatch, capsys, colour_images):
    code, out, _ = run(
        monkeypatch,
        capsys,
        "classify",
        colour_images["red"],
        colour_images["blue"],
        "--labels",
        "red,green,blue",
        "--model",
        "test-tiny",
        "--json",
        "-k",
        "2",
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["command"] == "classify" and doc["model"] == "test-tiny"
    result = doc["results"]
    assert [r["source"] for r in result] == [str(colour_images["red"]), str(colour_images["blue"])]
    assert all(r["error"] is None and r["mode"] == "zero-shot" for r in result)
    assert [r["predictions"][0]["label"] for r in result] == ["red", "blue"]
    assert all(
        len(r["predictions"]) == 2 and r["predictions"][0]["score"] >= r["predictions"][1]["score"] for r in result
    )


def test_classify_table_from_directory_and_labels_file(monkeypatch, capsys, colour_images, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("red\ngreen\n\nblue\n")
    code, out, _ = run(
        monkeypatch,
        capsys,
        "classify",
        colour_images["red"].parent,
        "--labels-file",
        labels,
        "--model",
        "test-tiny",
        "--top-k",
        "1",
    )
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].split() == ["image", "rank", "label", "score"]
    assert [line.split()[2] for line in lines[2:]] == ["blue", "green", "red"]


def test_usage_errors_exit_2(monkeypatch, capsys, colour_images):
    code, _, err = run(monkeypatch, capsys, "classify", colour_images["red"], "--model", "test-tiny")
    assert code == 2 and "--labels" in err
    code, _, _ = run(monkeypatch, capsys, "classify", colour_images["red"], "--top-k", "0", "--labels", "a,b")
    assert code == 2
    code, _, _ = run(monkeypatch, capsys, "no-such-command")
    assert code == 2


def test_runtime_errors_exit_1_with_a_message(monkeypatch, capsys, colour_images, tmp_path):
    code, _, err = run(monkeypatch, capsys, "classify", colour_images["red"], "--labels", "a,b", "--model", "nope")
    assert code == 1 and "unknown model 'nope'" in err and "Traceback" not in err
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"garbage")
    code, _, err = run(monkeypatch, capsys, "classify", bad, "--labels", "a,b", "--model", "test-tiny")
    assert code == 1 and "broken.jpg" in err


def test_skip_errors_reports_and_continues(monkeypatch, capsys, colour_images, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"garbage")
    code, out, err = run(
        monkeypatch,
        capsys,
        "classify",
        colour_images["green"],
        bad,
        "--labels",
        "red,green",
        "--model",
        "test-tiny",
        "--skip-errors",
        "--json",
    )
    assert code == 0 and err.count("broken.jpg") == 1 and err.startswith("skipped: ")
    results = json.loads(out)["results"]
    assert [r["predictions"][0]["label"] for r in results if not r["error"]] == ["green"]
    assert [r["source"] for r in results if r["error"]] == [str(bad)] and "broken.jpg" in results[1]["error"]


def make_dataset(tmp_path, per_class=2):
    rows = ["path,label"]
    for colour, rgb in (("red", (255, 0, 0)), ("green", (0, 255, 0)), ("blue", (0, 0, 255))):
        for i in range(per_class):
            Image.new("RGB", (16 + i, 16), rgb).save(tmp_path / f"{colour}{i}.png")
            rows.append(f"{colour}{i}.png,{colour}")
    csv = tmp_path / "data.csv"
    csv.write_text("\n".join(rows) + "\n")
    return csv


def test_eval_zero_shot(monkeypatch, capsys, tmp_path):
    csv = make_dataset(tmp_path)
    code, out, _ = run(monkeypatch, capsys, "eval", "zero-shot", "--dataset", csv, "--model", "test-tiny", "--json")
    assert code == 0
    result = json.loads(out)["results"][0]
    assert result["source"] == str(csv) and result["dataset"] == tmp_path.name
    assert result["n_images"] == 6 and result["n_classes"] == 3
    assert result["top1"] == 100.0 and result["cluster_accuracy"] == 100.0


def test_fewshot_fit_then_predict(monkeypatch, capsys, tmp_path):
    csv = make_dataset(tmp_path)
    probe = tmp_path / "probe.npz"
    code, out, _ = run(
        monkeypatch, capsys, "fewshot", "fit", "--train", csv, "--out", probe, "--model", "test-tiny", "--json"
    )
    assert code == 0 and json.loads(out)["results"][0]["n_classes"] == 3 and probe.is_file()
    # no --model: the probe's own model
    code, out, _ = run(monkeypatch, capsys, "fewshot", "predict", tmp_path / "blue0.png", "--probe", probe, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["model"] == "test-tiny" and doc["results"][0]["predictions"][0]["label"] == "blue"
    code, _, err = run(
        monkeypatch, capsys, "fewshot", "predict", tmp_path / "blue0.png", "--probe", probe, "--model", "local"
    )
    assert code == 1 and err.count("\n") == 1 and "made with model 'test-tiny', not 'local'" in err


def test_models_list(monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "models", "list", "--json")
    assert code == 0 and "test-tiny" in [m["source"] for m in json.loads(out)["results"]]


@pytest.mark.parametrize("args", [["--help"], ["classify", "--help"], ["eval", "zero-shot", "--help"]])
def test_help(monkeypatch, capsys, args):
    code, out, _ = run(monkeypatch, capsys, *args)
    assert code == 0 and "Usage" in out


def test_classify_with_label_descriptions_and_calibration_flags(monkeypatch, capsys, colour_images, tmp_path):
    described = tmp_path / "descriptions.json"
    described.write_text(json.dumps({"apple": "a round red fruit", "sky": "the blue expanse above"}))
    code, out, _ = run(
        monkeypatch,
        capsys,
        "classify",
        colour_images["red"],
        colour_images["blue"],
        "--labels",
        "apple,sky",
        "--describe",
        described,
        "--templates",
        "none",
        "--model",
        "test-tiny",
        "--json",
        "-k",
        "1",
    )
    assert code == 0 and [r["predictions"][0]["label"] for r in json.loads(out)["results"]] == ["apple", "sky"]
    code, _, err = run(
        monkeypatch,
        capsys,
        "classify",
        colour_images["red"],
        "--labels",
        "a,b",
        "--model",
        "test-tiny",
        "--calibrate",
        "on",
    )
    assert code == 1 and "reference image embeddings" in err
    code, _, err = run(
        monkeypatch,
        capsys,
        "classify",
        colour_images["red"],
        "--labels",
        "a,b",
        "--model",
        "test-tiny",
        "--calibrate",
        "maybe",
    )
    assert code == 2 and "--calibrate" in err
