"""``vocabfree embed images`` and ``vocabfree classify --output`` through the real entry point."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from tests.cli.test_cli import run


def test_embed_images_writes_parts_and_a_rerun_resumes(monkeypatch, capsys, image_dir, tmp_path):
    out = tmp_path / "emb"
    args = ("embed", "images", image_dir, "--output", out, "--model", "test-tiny", "--shard-size", 5, "--json")
    code, stdout, _ = run(monkeypatch, capsys, *args)
    assert code == 0
    report = json.loads(stdout)
    assert (report["inputs"], report["shards"], report["rows"], report["errors"]) == (13, 3, 13, 2)
    table = pq.read_table(out)
    assert table.num_rows == 13 and table["embedding"].type.list_size == 32
    code, stdout, _ = run(monkeypatch, capsys, *args)
    assert code == 0 and (json.loads(stdout)["shards_skipped"], json.loads(stdout)["rows"]) == (3, 0)


def test_classify_output_has_the_rows_the_table_mode_prints(monkeypatch, capsys, colour_images, tmp_path):
    common = ("classify", colour_images["red"].parent, "--labels", "red,green,blue", "--model", "test-tiny", "-k", 2)
    code, stdout, _ = run(monkeypatch, capsys, *common, "--json")
    assert code == 0
    expected = json.loads(stdout)["results"]
    out = tmp_path / "results.parquet"
    code, stdout, _ = run(monkeypatch, capsys, *common, "--output", out)
    assert code == 0 and "3 rows written (0 failed inputs)" in stdout
    rows = pq.read_table(out).to_pylist()
    assert [r["source"] for r in rows] == [e["source"] for e in expected]
    assert [r["labels"] for r in rows] == [[p["label"] for p in e["predictions"]] for e in expected]


def test_engine_options_are_checked(monkeypatch, capsys, colour_images, tmp_path):
    base = ("classify", colour_images["red"], "--labels", "red,blue", "--model", "test-tiny")
    code, _, err = run(monkeypatch, capsys, *base, "--output", tmp_path / "o", "--engine", "spark")
    assert (code, err) == (2, "error: Invalid value: --engine must be one of local, ray, not 'spark'\n")
    code, _, err = run(monkeypatch, capsys, *base, "--engine", "ray")
    assert (code, err) == (
        2,
        "error: Invalid value: --engine ray writes its results to a folder: give --output results.parquet\n",
    )
    code, _, err = run(monkeypatch, capsys, *base, "--output", tmp_path / "o", "--ray-address", "127.0.0.1:1")
    assert (code, err) == (2, "error: Invalid value: --ray-address needs --engine ray\n")
