"""``vocabfree db build|info|search`` through typer's CliRunner with the tiny backend."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.cli.test_cli import run
from vocabfree.cli import app

from .conftest import CAPTIONS


def _json(output: str):
    return json.loads(output[min(i for i in (output.find("{"), output.find("[")) if i >= 0) :])


def test_db_build_info_search(tmp_path, monkeypatch, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join([*CAPTIONS, "", CAPTIONS[0]]), encoding="utf-8")
    out = tmp_path / "db"
    runner = CliRunner()
    built = runner.invoke(app, ["db", "build", str(corpus), "--model", "test-tiny", "--out", str(out), "--json"])
    assert built.exit_code == 0, built.output
    assert _json(built.output)["captions"] == len(CAPTIONS)

    info = runner.invoke(app, ["db", "info", str(out), "--json"])
    assert info.exit_code == 0 and _json(info.output)["model"] == "test-tiny"

    found = runner.invoke(app, ["db", "search", str(out), "--text", "red", "-k", "3", "--json"])
    assert found.exit_code == 0, found.output
    hits = _json(found.output)
    assert len(hits) == 3 and "red" in hits[0]["caption"] and hits[0]["similarity"] >= hits[1]["similarity"]

    again = run(monkeypatch, capsys, "db", "build", corpus, "--model", "test-tiny", "--out", out)
    assert again == (1, "", f"error: {out} already exists; pass --overwrite to replace it\n")


def test_db_build_needs_a_corpus(tmp_path, monkeypatch, capsys):
    out = tmp_path / "db"
    result = run(monkeypatch, capsys, "db", "build", "--model", "test-tiny", "--out", out)
    assert result == (2, "", "error: Invalid value: give corpus files and/or --corpus NAME (built-in: wordnet)\n")
    assert not out.exists() and not (tmp_path / "db.partial").exists()


def test_db_verify_names_the_bad_file(tmp_path):
    import subprocess
    import sys

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(CAPTIONS), encoding="utf-8")
    out = tmp_path / "db"
    runner = CliRunner()
    assert (
        runner.invoke(
            app, ["db", "build", str(corpus), "-m", "test-tiny", "-o", str(out), "--shard-size", "4", "--json"]
        ).exit_code
        == 0
    )
    ok = runner.invoke(app, ["db", "verify", str(out), "--json"])
    assert ok.exit_code == 0 and _json(ok.output)["ok"] is True and _json(ok.output)["files"] == 9
    npy = out / "shards" / "000001.npy"
    data = bytearray(npy.read_bytes())
    data[-1] ^= 1
    npy.write_bytes(bytes(data))
    code = "import sys; from vocabfree.cli import main; sys.argv[0] = 'vocabfree'; main()"
    bad = subprocess.run(
        [sys.executable, "-c", code, "db", "verify", str(out)], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 1 and "000001.npy is corrupt" in bad.stderr and "Traceback" not in bad.stderr


def test_db_import_cli_and_parquet_folder_build(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vocabfree.models import load_model

    emb = load_model("test-tiny").encode_texts(CAPTIONS)
    (tmp_path / "snap").mkdir()
    pq.write_table(pa.table({"alt": CAPTIONS, "embedding": list(emb)}), tmp_path / "snap" / "part-0.parquet")
    runner = CliRunner()
    imported = runner.invoke(
        app,
        [
            "db",
            "import",
            str(tmp_path / "snap"),
            "-m",
            "test-tiny",
            "-o",
            str(tmp_path / "imp"),
            "--caption-column",
            "alt",
            "--json",
        ],
    )
    assert imported.exit_code == 0, imported.output
    assert _json(imported.output)["captions"] == len(CAPTIONS)
    built = runner.invoke(
        app,
        [
            "db",
            "build",
            str(tmp_path / "snap"),
            "-m",
            "test-tiny",
            "-o",
            str(tmp_path / "b"),
            "--caption-column",
            "alt",
            "--index",
            "flat",
            "--json",
        ],
    )
    assert built.exit_code == 0, built.output
    info = runner.invoke(app, ["db", "info", str(tmp_path / "b"), "--json"])
    assert _json(info.output)["count"] == len(CAPTIONS)
