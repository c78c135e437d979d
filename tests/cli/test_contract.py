"""The CLI contract (docs/cli.md): one-line errors and exit codes, checks before any model loads, one JSON
schema, JSONL streaming, models taken from artefacts, and bad images skipped cleanly."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.cli.test_cli import make_dataset, run
from tests.conftest import TINY_CAPTIONS, build_tiny_db, needs_wordnet
from tests.test_images import malformed_corpus
from vocabfree.models import load_model

ROOT = Path(__file__).resolve().parents[2]


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--labels", ""], "--labels is empty"),
        (["--labels", " , ,cat"], "empty entries"),
        (["--labels", "cat,Cat,dog"], "duplicate labels (case-insensitive): cat/Cat"),
        (["--labels", "cat"], "at least two labels"),
        (["--labels", "cat,dog", "--vocabulary-free", "--db", "x"], "--vocabulary-free names images without labels"),
        (["--vocabulary-free"], "--vocabulary-free needs --db"),
        ([], "give --labels"),
        (["--labels", "cat,dog", "--evidence"], "--evidence"),
        (["--labels", "cat,dog", "--templates", "nah"], "--templates: unknown templates 'nah'"),
        (["--labels", "cat,dog", "--describe", "missing.json"], "--describe"),
        (["--labels", "cat,dog", "--json", "--jsonl"], "--json or --jsonl"),
        (["--labels", "cat,dog", "--top-k", "0"], "--top-k"),
        (["--labels", "cat,dog", "--calibrate", "maybe"], "--calibrate"),
    ],
)
def test_usage_errors_are_one_line_exit_2_before_the_model_loads(monkeypatch, capsys, colour_images, args, message):
    # --model names no backend: had it been loaded first, the error would be "unknown model" with exit 1
    code, out, err = run(monkeypatch, capsys, "classify", colour_images["red"], "--model", "no-such-model", *args)
    assert code == 2 and out == "" and message in one_line(err)


def test_empty_labels_file_and_unknown_command(monkeypatch, capsys, colour_images, tmp_path):
    empty = tmp_path / "labels.txt"
    empty.write_text("\n  \n")
    code, _, err = run(monkeypatch, capsys, "classify", colour_images["red"], "--labels-file", empty)
    assert code == 2 and "has no labels" in one_line(err)
    code, _, err = run(monkeypatch, capsys, "no-such-command")
    assert code == 2 and "No such command" in one_line(err)


def test_help_is_plain_and_names_switches_without_types(monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "classify", "--help")
    assert code == 0 and "<bool>" not in out and "╭" not in out and "--skip-errors" in out and "--max-pixels" in out


def test_jsonl_streams_one_object_per_image_with_errors_in_place(monkeypatch, capsys, colour_images, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    code, out, err = run(
        monkeypatch,
        capsys,
        "classify",
        colour_images["red"],
        bad,
        colour_images["blue"],
        "--labels",
        "red,blue",
        "--model",
        "test-tiny",
        "--jsonl",
        "--skip-errors",
        "-k",
        "1",
        "--chunk-size",
        "1",
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [r["source"] for r in rows] == [str(colour_images["red"]), str(bad), str(colour_images["blue"])]
    assert [r["error"] is None for r in rows] == [True, False, True] and str(bad) in rows[1]["error"]
    assert [r["predictions"][0]["label"] for r in (rows[0], rows[2])] == ["red", "blue"]
    assert err.count(str(bad)) == 1


def test_chunked_results_match_one_batch(monkeypatch, capsys, tmp_path):
    rng = np.random.default_rng(0)
    for i in range(7):
        Image.fromarray(rng.integers(0, 255, (20 + i, 30, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    common = ["classify", tmp_path, "--labels", "red,green,blue", "--model", "test-tiny", "--json"]
    whole = json.loads(run(monkeypatch, capsys, *common, "--chunk-size", "64")[1])["results"]
    chunked = json.loads(run(monkeypatch, capsys, *common, "--chunk-size", "3")[1])["results"]
    assert [r["source"] for r in whole] == [r["source"] for r in chunked] and len(whole) == 7
    for a, b in zip(whole, chunked, strict=True):
        assert [p["label"] for p in a["predictions"]] == [p["label"] for p in b["predictions"]]
        np.testing.assert_allclose(
            [p["score"] for p in a["predictions"]], [p["score"] for p in b["predictions"]], rtol=1e-5
        )


def test_overlapping_folder_and_glob_classify_each_image_once(monkeypatch, capsys, colour_images):
    folder = colour_images["red"].parent
    code, out, _ = run(
        monkeypatch,
        capsys,
        "classify",
        folder,
        str(folder / "*.png"),
        "--labels",
        "red,blue",
        "--model",
        "test-tiny",
        "--json",
    )
    assert code == 0 and len(json.loads(out)["results"]) == 3


def test_malformed_images_are_skipped_and_all_failing_exits_1(monkeypatch, capsys, colour_images, tmp_path):
    corpus = sorted(malformed_corpus(tmp_path))
    code, out, err = run(
        monkeypatch,
        capsys,
        "classify",
        colour_images["green"],
        *corpus,
        "--labels",
        "red,green",
        "--model",
        "test-tiny",
        "--skip-errors",
        "--json",
    )
    results = json.loads(out)["results"]
    assert code == 0 and [r["source"] for r in results if r["error"] is None] == [str(colour_images["green"])]
    assert [r["source"] for r in results if r["error"]] == [str(p) for p in corpus]
    assert all(err.count(str(p)) == 1 for p in corpus) and "Traceback" not in err
    code, out, err = run(
        monkeypatch, capsys, "classify", *corpus, "--labels", "red,green", "--model", "test-tiny", "--skip-errors"
    )
    assert code == 1 and f"all {len(corpus)} input(s) failed" in err.strip().splitlines()[-1]
    code, _, err = run(monkeypatch, capsys, "classify", corpus[0], "--labels", "red,green", "--model", "test-tiny")
    assert code == 1 and str(corpus[0]) in one_line(err)


def test_max_pixels(monkeypatch, capsys, tmp_path):
    big = tmp_path / "big.png"
    Image.new("RGB", (200, 100), (0, 0, 255)).save(big)
    code, _, err = run(
        monkeypatch, capsys, "classify", big, "--labels", "red,blue", "--model", "test-tiny", "--max-pixels", "10000"
    )
    assert code == 1 and "exceeds the limit of 10,000" in one_line(err) and "--max-pixels" in err
    code, out, _ = run(
        monkeypatch,
        capsys,
        "classify",
        big,
        "--labels",
        "red,blue",
        "--model",
        "test-tiny",
        "--max-pixels",
        "20000",
        "--json",
    )
    assert code == 0 and json.loads(out)["results"][0]["predictions"][0]["label"] == "blue"


def test_bom_csv_and_dataset_name(monkeypatch, capsys, tmp_path):
    csv = make_dataset(tmp_path)
    csv.write_bytes(b"\xef\xbb\xbf" + csv.read_bytes())
    monkeypatch.chdir(tmp_path)
    code, out, err = run(
        monkeypatch, capsys, "eval", "zero-shot", "--dataset", "data.csv", "--model", "test-tiny", "--json"
    )
    result = json.loads(out)["results"][0]
    assert code == 0 and result["dataset"] == tmp_path.name and result["top1"] == 100.0, err


def test_vocabulary_free_takes_the_database_model(monkeypatch, capsys, colour_images, tmp_path, tiny_model):
    build_tiny_db(tmp_path / "db", tiny_model, TINY_CAPTIONS)
    code, out, _ = run(
        monkeypatch,
        capsys,
        "classify",
        colour_images["red"],
        "--vocabulary-free",
        "--db",
        tmp_path / "db",
        "--json",
        "-k",
        "2",
    )
    doc = json.loads(out)
    item = doc["results"][0]
    assert code == 0 and doc["model"] == "test-tiny" and item["mode"] == "vocabulary-free"
    assert "red" in item["captions"][0]["text"] and item["predictions"] and item["candidates"]
    assert set(item["candidates"][0]) == {"name", "image_score", "text_score", "score"}
    code, out, _ = run(
        monkeypatch,
        capsys,
        "classify",
        colour_images["red"],
        "--vocabulary-free",
        "--db",
        tmp_path / "db",
        "--evidence",
    )
    assert code == 0 and "caption" in out and item["captions"][0]["text"] in out
    code, _, err = run(
        monkeypatch,
        capsys,
        "classify",
        colour_images["red"],
        "--vocabulary-free",
        "--db",
        tmp_path / "db",
        "--model",
        "local",
    )
    assert code == 1 and "made with model 'test-tiny', not 'local'" in one_line(err)
    (tmp_path / "db" / "manifest.json").write_text("[1, 2]")
    code, _, err = run(
        monkeypatch, capsys, "classify", colour_images["red"], "--vocabulary-free", "--db", tmp_path / "db"
    )
    assert code == 1 and "not a JSON object" in one_line(err)


def test_offline_default_model_fails_fast_with_how_to_get_it(tmp_path, colour_images):
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        HF_HOME=str(tmp_path / "hf"),
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from vocabfree.cli import main; main()",
            "classify",
            str(colour_images["red"]),
            "--labels",
            "cat,dog",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = one_line(result.stderr)
    assert result.returncode == 1 and "hf:openai/clip-vit-base-patch32" in line and "HF_HUB_OFFLINE" in line
    assert "--model local" in line


def test_unreachable_hub_is_detected_without_retries(monkeypatch):
    from huggingface_hub import constants

    from vocabfree.models import _factory

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    assert "127.0.0.1 cannot be reached" in _factory._hub_offline_reason()


def test_model_for_artefact():
    from vocabfree.errors import IndexMismatchError
    from vocabfree.models import DEFAULT_MODEL, model_for_artefact

    assert model_for_artefact(None, None, "x") == DEFAULT_MODEL
    assert model_for_artefact("local", None, "x") == "local"
    assert model_for_artefact(None, "local", "x") == model_for_artefact("local", "local", "x") == "local"
    with pytest.raises(IndexMismatchError, match="drop --model"):
        model_for_artefact("test-tiny", "local", "probe p.npz")


def test_max_pixels_default_matches_the_library():
    from vocabfree.cli._output import DEFAULT_MAX_PIXELS
    from vocabfree.images import DEFAULT_MAX_PIXELS as LIBRARY_DEFAULT

    assert DEFAULT_MAX_PIXELS == LIBRARY_DEFAULT


def test_python_api_names_results_by_path(tiny_model, colour_images):
    from vocabfree.classify.zero_shot import ZeroShotClassifier

    clf = ZeroShotClassifier(tiny_model, templates="none").fit(None, ["red", "blue"])
    assert [p.source for p in clf.predict_topk([colour_images["red"], str(colour_images["blue"])], k=1)] == [
        str(colour_images["red"]),
        str(colour_images["blue"]),
    ]
    assert clf.predict_topk(tiny_model.encode_images([colour_images["red"]]), k=1)[0].source == ""


@pytest.mark.slow  # embeds WordNet's 27,779 glosses
@needs_wordnet
def test_demo_builds_once_then_reuses(monkeypatch, capsys, colour_images, tmp_path):
    args = ["demo", colour_images["red"], "--model", "test-tiny", "--db", tmp_path / "db", "--json"]
    code, out, err = run(monkeypatch, capsys, *args)
    assert code == 0 and "built" in err and json.loads(out)["results"][0]["mode"] == "vocabulary-free"
    stamp = (tmp_path / "db" / "manifest.json").stat().st_mtime_ns
    code, out2, err = run(monkeypatch, capsys, *args)
    assert code == 0 and "reusing" in err and (tmp_path / "db" / "manifest.json").stat().st_mtime_ns == stamp
    assert json.loads(out2) == json.loads(out)
    build_tiny_db(tmp_path / "other", load_model("test-tiny"), TINY_CAPTIONS)  # same model, another corpus
    code, _, err = run(
        monkeypatch, capsys, "demo", colour_images["red"], "--model", "test-tiny", "--db", tmp_path / "other"
    )
    assert code == 1 and "--rebuild" in one_line(err)
