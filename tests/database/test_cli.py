"""``vocabfree db build|info|search`` through typer's CliRunner with the tiny backend."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from vocabfree.cli import app

from .conftest import CAPTIONS


def _json(output: str):
    return json.loads(output[min(i for i in (output.find("{"), output.find("[")) if i >= 0):])


def test_db_build_info_search(tmp_path):
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

    again = runner.invoke(app, ["db", "build", str(corpus), "--model", "test-tiny", "--out", str(out)])
    assert again.exit_code != 0 and "--overwrite" in str(again.exception)


def test_db_build_needs_a_corpus(tmp_path):
    result = CliRunner().invoke(app, ["db", "build", "--model", "test-tiny", "--out", str(tmp_path / "db")])
    assert result.exit_code != 0
