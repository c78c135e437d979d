"""Streaming corpus readers (every format, directories, globs, webdataset, gzip) and streaming exact dedup."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import numpy as np
import pytest

from vocabfree.database import corpus_from_texts, deduplicate, normalise, read_corpus, stream_unique
from vocabfree.database.readers import HashSet64, StreamStats, text_hashes
from vocabfree.errors import InvalidInputError


def test_normalise_and_deduplicate():
    assert normalise("  a\tred \u00a0car\n") == "a red car"
    assert deduplicate(["a  car", "", "   ", "a car", "b", "a car "]) == ["a car", "b"]


def test_read_each_format(tmp_path):
    (tmp_path / "c.txt").write_text("a dog\n\nthe cat\n", encoding="utf-8")
    (tmp_path / "c.csv").write_text('id,caption\n1,"a dog, running"\n2,cat\n', encoding="utf-8")
    (tmp_path / "c.tsv").write_text("text\tother\nbird\tx\n", encoding="utf-8")
    (tmp_path / "c.jsonl").write_text(json.dumps({"caption": "fish"}) + "\n\n" + json.dumps("owl") + "\n")
    with gzip.open(tmp_path / "g.txt.gz", "wt", encoding="utf-8") as fh:
        fh.write("zipped one\nzipped two\n")
    with gzip.open(tmp_path / "g.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"text": "zipped json"}) + "\n")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"sentence": ["horse", None]}), tmp_path / "c.parquet")
    assert list(read_corpus(tmp_path / "c.txt")) == ["a dog", "", "the cat"]
    assert list(read_corpus(tmp_path / "c.csv")) == ["a dog, running", "cat"]
    assert list(read_corpus(tmp_path / "c.tsv")) == ["bird"]
    assert list(read_corpus(tmp_path / "c.jsonl")) == ["fish", "owl"]
    assert list(read_corpus(tmp_path / "g.txt.gz")) == ["zipped one", "zipped two"]
    assert list(read_corpus(tmp_path / "g.jsonl.gz")) == ["zipped json"]
    assert list(read_corpus(tmp_path / "c.parquet")) == ["horse", ""]
    assert list(read_corpus(tmp_path / "c.csv", column="id")) == ["1", "2"]
    assert len(read_corpus(tmp_path / "c.txt").sha256) == 64


def test_parquet_directory_and_glob_stream_in_file_order(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    snapshot = tmp_path / "cc" / "data"
    snapshot.mkdir(parents=True)
    rows = [f"caption {i}" for i in range(30_000)]  # more than one record batch per file
    for part in range(3):
        pq.write_table(
            pa.table({"url": ["u"] * 10_000, "alt_text": rows[part * 10_000 : (part + 1) * 10_000]}),
            snapshot / f"train-{part:05d}-of-00003.parquet",
            row_group_size=4_000,
        )
    (snapshot / "README.md").write_text("not a corpus")
    whole = read_corpus(tmp_path / "cc", column="alt_text")
    assert len(whole.files) == 3 and list(whole) == rows
    globbed = read_corpus(str(snapshot / "train-0000[02]-*.parquet"), column="alt_text")
    assert list(globbed) == rows[:10_000] + rows[20_000:]
    with pytest.raises(InvalidInputError, match="--caption-column"):
        read_corpus(tmp_path / "cc")  # url and alt_text: which one?
    with pytest.raises(InvalidInputError, match="no corpus files match"):
        read_corpus(str(tmp_path / "nothing-*.parquet"))
    assert whole.sha256 != globbed.sha256


def _tar(path, members):
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_webdataset_shards(tmp_path):
    _tar(
        tmp_path / "shard-000.tar",
        [
            ("s/000.jpg", b"\xff\xd8"),
            ("s/000.txt", b"a dog on grass"),
            ("s/001.jpg", b"\xff\xd8"),
            ("s/001.json", json.dumps({"caption": "a red car", "w": 3}).encode()),
            ("s/002.jpg", b"\xff\xd8"),  # no caption: skipped
            ("s/003.txt", "ünïcode caption".encode()),
            ("s/003.json", b'{"caption": "ignored: txt wins"}'),
        ],
    )
    _tar(tmp_path / "shard-001.tar", [("004.json", json.dumps({"text": "from text key"}).encode())])
    assert list(read_corpus(tmp_path / "shard-000.tar")) == ["a dog on grass", "a red car", "ünïcode caption"]
    assert list(read_corpus(str(tmp_path / "shard-*.tar"))) == [
        "a dog on grass",
        "a red car",
        "ünïcode caption",
        "from text key",
    ]
    (tmp_path / "bad.tar").write_bytes(b"definitely not a tar file" * 40)
    with pytest.raises(InvalidInputError, match="not a readable tar"):
        list(read_corpus(tmp_path / "bad.tar"))


def test_streaming_dedup_matches_an_exact_set_across_batches():
    rng = np.random.default_rng(0)
    texts = [f"caption {i}" for i in rng.integers(0, 6_000, size=30_000)]  # many repeats, several batches
    stats = StreamStats()
    unique = list(
        stream_unique([corpus_from_texts("a", texts[:17_000]), corpus_from_texts("b", texts[17_000:])], stats)
    )
    assert unique == list(dict.fromkeys(texts))
    assert stats.unique == len(unique) and stats.duplicates == len(texts) - len(unique)
    assert stats.raw == {"a": 17_000, "b": 13_000}


def test_hash_set_is_compact_and_exact():
    hs = HashSet64()
    seen = set()
    rng = np.random.default_rng(1)
    for _ in range(50):
        batch = rng.integers(0, 40_000, size=1_000).astype(np.uint64)
        mask = hs.add_new(batch)
        expected = []
        for value in batch.tolist():
            expected.append(value not in seen)
            seen.add(value)
        assert mask.tolist() == expected
    assert len(hs) == len(seen)
    assert sum(r.nbytes for r in hs._runs) == 8 * len(seen)
    assert text_hashes(["a", "a", "b"]).dtype == np.uint64


def test_bad_inputs_name_the_problem(tmp_path):
    with pytest.raises(InvalidInputError, match="not found"):
        read_corpus(tmp_path / "missing.txt")
    (tmp_path / "c.xml").write_text("<a/>")
    with pytest.raises(InvalidInputError, match="unsupported corpus format"):
        read_corpus(tmp_path / "c.xml")
    (tmp_path / "c.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InvalidInputError, match="--caption-column"):
        read_corpus(tmp_path / "c.csv")
    with pytest.raises(InvalidInputError, match="no column 'zzz'"):
        read_corpus(tmp_path / "c.csv", column="zzz")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(InvalidInputError, match="not a readable parquet"):
        read_corpus(tmp_path / "bad.parquet")


def test_in_memory_source_hash_depends_on_texts():
    assert corpus_from_texts("a", ["x"]).sha256 != corpus_from_texts("a", ["y"]).sha256
