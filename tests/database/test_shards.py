"""ShardSet: caption lookup by global row id and memory-mapped embeddings whose pages a scan gives back."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from vocabfree.database.shards import ShardSet, map_npy, write_shard

COUNTS = [700, 1000, 0, 300]  # an empty shard in the middle must not shift the ids after it
DIM = 512  # 1 KiB of float16 per row: every row has its own pages


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> tuple[Path, list[str], np.ndarray]:
    folder = tmp_path_factory.mktemp("shards")
    rng = np.random.default_rng(0)
    captions, rows = [], []
    for k, count in enumerate(COUNTS):
        caps = [f"caption {k}-{i} é" for i in range(count)]
        emb = rng.standard_normal((count, DIM)).astype(np.float16)
        write_shard(folder, k, caps, emb, {"model": "test"})
        captions += caps
        rows.append(emb)
    return folder, captions, np.concatenate(rows)


def test_texts_and_rows_follow_global_ids_across_shards(shards):
    folder, captions, emb = shards
    vectors = ShardSet(folder, COUNTS)
    rng = np.random.default_rng(1)
    few = rng.integers(0, len(captions), 37)  # the per-row path (a search's hits), unsorted, with repeats
    many = rng.permutation(len(captions))  # the vectorised path
    for ids in (few, many, np.array([699, 700, 1699, 1700, 1999]), np.array([], np.int64)):
        assert vectors.texts(ids) == [captions[i] for i in ids]
        np.testing.assert_array_equal(vectors.rows(ids), emb[ids].astype(np.float32))


def test_map_npy_matches_np_load(shards, tmp_path):
    folder, _, _ = shards
    array, _ = map_npy(folder / "000001.npy")
    np.testing.assert_array_equal(array, np.load(folder / "000001.npy"))
    assert not array.flags.writeable
    np.save(tmp_path / "f.npy", np.asfortranarray(np.ones((3, 2))))
    with pytest.raises(ValueError, match="C-ordered"):
        map_npy(tmp_path / "f.npy")


def _resident_kib(folder: Path) -> int:
    """Resident KiB of this process's mappings of ``folder``'s files (Linux /proc/self/smaps)."""
    total, ours = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if "-" in line.split(" ", 1)[0] and len(line.split()) >= 5:  # a mapping's header line
            ours = str(folder) in line
        elif ours and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_scans_do_not_keep_the_shards_resident(shards):
    folder, _, emb = shards
    vectors = ShardSet(folder, COUNTS)
    size_kib = emb.nbytes // 1024
    total = sum(float(block.astype(np.float32).sum()) for _, block in vectors.blocks())  # a full scan
    assert total == pytest.approx(float(emb.astype(np.float32).sum()), rel=1e-5)
    assert _resident_kib(folder) < size_kib // 4  # each shard given back after its turn
    vectors.rows(np.arange(len(emb)))  # random access to every row: all resident ...
    assert _resident_kib(folder) >= size_kib * 9 // 10
    vectors.release()  # ... until released; the data stays readable
    assert _resident_kib(folder) < size_kib // 4
    np.testing.assert_array_equal(vectors.rows(np.array([5, 1500])), emb[[5, 1500]].astype(np.float32))
    bulk = vectors.rows(np.arange(len(emb))[::-1], release=True)  # a bulk read gives each shard back
    np.testing.assert_array_equal(bulk, emb[::-1].astype(np.float32))
    assert _resident_kib(folder) < size_kib // 4
