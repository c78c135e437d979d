"""vocabfree.atomic: writes land whole or not at all."""

from pathlib import Path

import numpy as np
import pytest

from vocabfree.atomic import atomic_path, atomic_write_bytes, atomic_write_text, remove_stale_temporaries


def test_write_text_replaces_and_leaves_no_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "meta.json"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new ✓")
    assert target.read_text(encoding="utf-8") == "new ✓"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.json"]


def test_failed_writer_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "weights.bin"
    atomic_write_bytes(target, b"good")

    def crash(fh) -> None:
        fh.write(b"half")
        raise RuntimeError("killed mid-write")

    from vocabfree.atomic import atomic_write

    with pytest.raises(RuntimeError, match="killed mid-write"):
        atomic_write(target, crash)
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["weights.bin"]


def test_suffix_for_writers_that_append_an_extension(tmp_path: Path) -> None:
    target = tmp_path / "emb.npy"
    with atomic_path(target, suffix=".npy") as tmp:
        np.save(tmp, np.arange(3))  # np.save keeps a name that already ends in .npy
    np.testing.assert_array_equal(np.load(target), np.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["emb.npy"]


def test_directory_replaces_directory(tmp_path: Path) -> None:
    out = tmp_path / "ckpt"
    for version in ("1", "2"):
        with atomic_path(out) as tmp:
            tmp.mkdir()
            (tmp / "config.json").write_text(version)
    assert (out / "config.json").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_writer_that_writes_nothing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="wrote nothing"), atomic_path(tmp_path / "x"):
        pass
    assert not (tmp_path / "x").exists()


def test_stale_temporaries_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".part-00001.parquet.abc.tmp").write_bytes(b"x")
    (tmp_path / ".emb.npy.def.tmp.npy").write_bytes(b"x")
    (tmp_path / "part-00000.parquet").write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["part-00000.parquet"]
