"""Corpus readers: every supported format, normalisation and deduplication."""

from __future__ import annotations

import json

import pytest

from vocabfree.database import corpus_from_texts, deduplicate, normalise, read_corpus
from vocabfree.errors import InvalidInputError


def test_normalise_and_deduplicate():
    assert normalise("  a\tred \u00a0car\n") == "a red car"
    assert deduplicate(["a  car", "", "   ", "a car", "b", "a car "]) == ["a car", "b"]


def test_read_each_format(tmp_path):
    (tmp_path / "c.txt").write_text("a dog\n\nthe cat\n", encoding="utf-8")
    (tmp_path / "c.csv").write_text('id,caption\n1,"a dog, running"\n2,cat\n', encoding="utf-8")
    (tmp_path / "c.tsv").write_text("text\tother\nbird\tx\n", encoding="utf-8")
    (tmp_path / "c.jsonl").write_text(json.dumps({"caption": "fish"}) + "\n\n" + json.dumps("owl") + "\n")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"sentence": ["horse", None]}), tmp_path / "c.parquet")
    assert read_corpus(tmp_path / "c.txt").texts == ("a dog", "", "the cat")
    assert read_corpus(tmp_path / "c.csv").texts == ("a dog, running", "cat")
    assert read_corpus(tmp_path / "c.tsv").texts == ("bird",)
    assert read_corpus(tmp_path / "c.jsonl").texts == ("fish", "owl")
    assert read_corpus(tmp_path / "c.parquet").texts == ("horse", "")
    assert read_corpus(tmp_path / "c.csv", column="id").texts == ("1", "2")
    assert len(read_corpus(tmp_path / "c.txt").sha256) == 64


def test_bad_inputs_name_the_problem(tmp_path):
    with pytest.raises(InvalidInputError, match="not found"):
        read_corpus(tmp_path / "missing.txt")
    (tmp_path / "c.xml").write_text("<a/>")
    with pytest.raises(InvalidInputError, match="unsupported corpus format"):
        read_corpus(tmp_path / "c.xml")
    (tmp_path / "c.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InvalidInputError, match="--column"):
        read_corpus(tmp_path / "c.csv")
    with pytest.raises(InvalidInputError, match="no column 'zzz'"):
        read_corpus(tmp_path / "c.csv", column="zzz")


def test_in_memory_source_hash_depends_on_texts():
    assert corpus_from_texts("a", ["x"]).sha256 != corpus_from_texts("a", ["y"]).sha256
