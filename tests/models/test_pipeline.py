"""The input pipeline: order kept, bounded work in flight, the first failing item raised in its turn."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from vocabfree.errors import ImageLoadError, InvalidInputError
from vocabfree.models.pipeline import collate, lagged_outputs, length_batches, ordered_map, prepared_batches


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_ordered_map_keeps_input_order(workers):
    rng = np.random.default_rng(0)
    delays = rng.uniform(0, 0.004, 40)

    def slow_square(i):
        time.sleep(delays[i])  # later items often finish first
        return i * i

    assert list(ordered_map(slow_square, range(40), workers=workers, prefetch=8)) == [i * i for i in range(40)]


def test_ordered_map_bounds_work_in_flight():
    started, lock = [], threading.Lock()

    def record(i):
        with lock:
            started.append(i)
        return i

    results = ordered_map(record, range(100), workers=2, prefetch=5)
    assert next(results) == 0
    time.sleep(0.05)
    with lock:
        assert len(started) <= 6  # prefetch items submitted, plus the one just yielded
    assert list(results) == list(range(1, 100))


def test_the_first_failing_item_is_raised_in_its_turn():
    def load(i):
        if i in (7, 3):
            raise ImageLoadError(f"item-{i}.jpg: corrupt image data")
        return i

    seen = []
    with pytest.raises(ImageLoadError, match="item-3.jpg"):
        for value in ordered_map(load, range(20), workers=3, prefetch=6):
            seen.append(value)
    assert seen == [0, 1, 2]


def test_prepared_batches_sizes_and_order():
    chunks = list(prepared_batches(list(range(10)), lambda i: -i, batch_size=4, workers=2))
    assert chunks == [[0, -1, -2, -3], [-4, -5, -6, -7], [-8, -9]]
    with pytest.raises(InvalidInputError):
        list(prepared_batches([1], lambda i: i, batch_size=0, workers=1))


def test_length_batches_respect_the_budget_and_cover_every_item_once():
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 60, 500)
    groups = length_batches(lengths, token_budget=256, max_items=50)
    flat = np.concatenate(groups)
    assert sorted(flat.tolist()) == list(range(500))
    assert np.all(np.diff(lengths[flat]) <= 0)  # longest first
    for group in groups:
        assert len(group) <= 50
        assert len(group) == 1 or len(group) * lengths[group].max() <= 256
    assert [len(g) for g in length_batches([1000, 3], token_budget=10)] == [1, 1]  # over-long text: alone


def test_lagged_outputs_match_a_plain_loop():
    calls = []

    def forward(x):
        calls.append(("forward", x))
        return x * 2

    def fetch(y):
        calls.append(("fetch", y))
        return y + 1

    assert lagged_outputs([1, 2, 3], forward, fetch) == [3, 5, 7]
    # each fetch comes after the next forward was queued
    assert calls == [("forward", 1), ("forward", 2), ("fetch", 2), ("forward", 3), ("fetch", 4), ("fetch", 6)]
    assert lagged_outputs([], forward, fetch) == []


def test_collate_stacks_uint8_without_copying_dtype_wrong():
    arrays = [np.full((4, 5, 3), i, np.uint8) for i in range(3)]
    out = collate(arrays)
    assert out.dtype == torch.uint8 and out.shape == (3, 4, 5, 3)
    assert [int(out[i].max()) for i in range(3)] == [0, 1, 2]
    assert collate([np.ones(3, np.float32)]).dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_batches_are_pinned_and_normalised_on_the_device():
    from vocabfree.models.preprocess import HFImageTransform

    arrays = [np.full((8, 8, 3), 255, np.uint8), np.zeros((8, 8, 3), np.uint8)]
    batch = collate(arrays, pin_memory=True)
    assert batch.is_pinned()
    transform = HFImageTransform(None, None, 3, None, 1 / 255, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    pixels = transform.to_pixels(batch, "cuda")
    assert pixels.device.type == "cuda" and pixels.shape == (2, 3, 8, 8)
    assert pixels[0].min().item() == pytest.approx(1.0) and pixels[1].max().item() == pytest.approx(-1.0)
