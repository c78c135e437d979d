"""``vocabfree eval``, ``classify --vocabulary-free`` and ``fewshot``: exit codes, messages and known answers."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tests.cli.test_cli import run
from tests.conftest import TINY_CAPTIONS, build_tiny_db
from tests.test_evaluation_vocab import ExactMatchEncoder

VALID = "cased, closest-caption, wordnet, english-words, imagenet"
RGB = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


@pytest.fixture
def csv(tmp_path):
    """Four solid images; the last (green) is labelled blue, so the tiny model gets exactly 3 of 4."""
    rows = ["path,label"]
    for i, (colour, label) in enumerate((("red", "red"), ("green", "green"), ("blue", "blue"), ("green", "blue"))):
        Image.new("RGB", (12, 10), RGB[colour]).save(tmp_path / f"{i}.png")
        rows.append(f"{i}.png,{label}")
    path = tmp_path / "data.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def db(tmp_path, tiny_model):
    return build_tiny_db(tmp_path / "db", tiny_model, TINY_CAPTIONS).path


@pytest.fixture
def exact_match(monkeypatch):
    """The metric's sentence encoder (MiniLM) replaced: semantic similarity = share of exact matches."""
    monkeypatch.setattr("vocabfree.models.sentence.load_sentence_encoder", lambda *a, **k: ExactMatchEncoder())


def test_eval_zero_shot_known_accuracy(monkeypatch, capsys, csv):
    code, out, err = run(monkeypatch, capsys, "eval", "zero-shot", "--dataset", csv, "--model", "test-tiny", "--json")
    result = json.loads(out)["results"][0]
    assert code == 0 and err == ""
    assert (result["top1"], result["top5"], result["cluster_accuracy"]) == (75.0, 100.0, 75.0)
    assert (result["n_images"], result["n_classes"], result["calibrated"]) == (4, 3, False)


def test_eval_vocab_free_cased_known_answers(monkeypatch, capsys, csv, db, exact_match, tmp_path):
    args = ["eval", "vocab-free", "--dataset", csv, "--db", db, "--lexicon", "none", "-k", "3"]
    code, out, _ = run(monkeypatch, capsys, *args, "--cache-dir", tmp_path / "cache", "--json")
    doc = json.loads(out)
    result = doc["results"][0]
    assert code == 0 and doc["command"] == "eval vocab-free" and doc["model"] == "test-tiny"  # the db's model
    assert (result["method"], result["database"], result["n_images"]) == ("cased", str(db), 4)
    assert (result["cluster_accuracy"], result["semantic_similarity"], result["semantic_iou"]) == (75.0, 75.0, 75.0)
    assert [e["prediction"] for e in result["examples"]] == ["red", "green", "blue", "green"]


def test_eval_vocab_free_static_vocabulary_needs_no_database(monkeypatch, capsys, csv, exact_match, tmp_path):
    args = ["eval", "vocab-free", "--dataset", csv, "--method", "imagenet", "--model", "test-tiny"]
    code, out, _ = run(monkeypatch, capsys, *args, "--cache-dir", tmp_path / "cache", "--json")
    result = json.loads(out)["results"][0]
    assert code == 0 and result["database"] is None and result["avg_candidates"] == 998.0
    assert [e["prediction"] for e in result["examples"]][:3] == ["red fox", "green mamba", "little blue heron"]
    assert len(list((tmp_path / "cache" / "vocab" / "test-tiny").glob("vocab-*.npy"))) == 1


def test_eval_vocab_free_table(monkeypatch, capsys, csv, db, exact_match, tmp_path):
    args = ["eval", "vocab-free", "--dataset", csv, "--db", db, "--lexicon", "none", "-k", "3", "--table"]
    code, out, _ = run(monkeypatch, capsys, *args, "--method", "cased", "--method", "imagenet", "--cache-dir", tmp_path)
    lines = out.splitlines()
    name = tmp_path.name
    assert code == 0 and lines[0].split() == ["method", name, "CA", name, "SS", name, "IoU", "candidates"]
    assert lines[2].split() == ["cased", "75.0", "75.0", "75.0", lines[2].split()[-1]]
    assert lines[3].split()[0] == "imagenet" and lines[3].split()[-1] == "998.0"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "nope"], f"unknown method(s) ['nope']; use {VALID}"),
        (["--method", "cased", "--method", "wordnet"], "several --dataset/--method values need --table"),
        (["--lexicon", "spacy"], "--lexicon must be wordnet or none"),
    ],
)
def test_eval_vocab_free_usage_errors(monkeypatch, capsys, tmp_path, extra, message):
    code, out, err = run(monkeypatch, capsys, "eval", "vocab-free", "--dataset", tmp_path / "none.csv", *extra)
    assert (code, out, err) == (2, "", f"error: {message}\n")


def test_eval_vocab_free_help_lists_the_methods(monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "eval", "vocab-free", "--help")
    assert code == 0 and " ".join(out.split()).count(VALID) == 1


def test_classify_vocabulary_free_static_vocabulary(monkeypatch, capsys, csv):
    images = [csv.parent / "0.png", csv.parent / "2.png"]
    args = ["classify", *images, "--vocabulary-free", "--method", "imagenet", "--model", "test-tiny", "--json"]
    code, out, _ = run(monkeypatch, capsys, *args)
    labels = [r["predictions"][0]["label"] for r in json.loads(out)["results"]]
    assert code == 0 and labels == ["red fox", "little blue heron"]


def test_classify_vocabulary_free_closest_caption(monkeypatch, capsys, csv, db):
    args = ["classify", csv.parent / "2.png", "--vocabulary-free", "--db", db, "--method", "closest-caption", "--json"]
    code, out, _ = run(monkeypatch, capsys, *args)
    assert code == 0 and json.loads(out)["results"][0]["predictions"][0]["label"] == "blue water in the lake"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "nope"], f"unknown --method 'nope'; use one of {VALID}"),
        (["--method", "closest-caption"], "--vocabulary-free needs --db DIR (build one with 'vocabfree db build')"),
        ([], "--vocabulary-free needs --db DIR (build one with 'vocabfree db build')"),
    ],
)
def test_classify_vocabulary_free_usage_errors(monkeypatch, capsys, tmp_path, extra, message):
    code, out, err = run(monkeypatch, capsys, "classify", tmp_path / "x.png", "--vocabulary-free", *extra)
    assert (code, out, err) == (2, "", f"error: {message}\n")


def test_fewshot_usage_and_runtime_errors(monkeypatch, capsys, csv, tmp_path):
    args = ["fewshot", "fit", "--train", csv, "--out", tmp_path / "p.npz", "--features", "pixels"]
    code, out, err = run(monkeypatch, capsys, *args)
    assert (code, out, err) == (2, "", "error: --features must be auto, embedding or backbone, not 'pixels'\n")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"junk")
    code, out, err = run(monkeypatch, capsys, "fewshot", "predict", csv.parent / "0.png", "--probe", junk)
    assert code == 1 and out == "" and err.startswith(f"error: {junk}: not a vocabfree probe file (")
    assert err.count("\n") == 1
