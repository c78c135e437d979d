"""``MicroBatcher``: concurrent submits merge into batches, failures stay with their item, limits hold."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from vocabfree.serve.batching import MicroBatcher
from vocabfree.serve.errors import OverloadedError


@pytest.fixture
def executor():
    pool = ThreadPoolExecutor(max_workers=1)
    yield pool
    pool.shutdown(wait=True)


def run(coro):
    return asyncio.run(coro)


def test_concurrent_submits_form_batches(executor):
    seen: list[list[int]] = []

    def double(items):
        seen.append(list(items))
        time.sleep(0.02)  # a forward pass: others queue up meanwhile
        return [2 * x for x in items]

    async def main():
        batcher = MicroBatcher(double, executor=executor, max_batch=8, max_wait_s=0.02)
        results = await asyncio.gather(*(batcher.submit(i) for i in range(20)))
        await batcher.aclose()
        return results, batcher.stats

    results, stats = run(main())
    assert results == [2 * i for i in range(20)]  # every caller gets its own answer, in order
    assert max(len(b) for b in seen) == 8  # capped at max_batch
    assert stats.items == 20 and stats.batches == len(seen) <= 4


def test_max_batch_one_disables_batching(executor):
    async def main():
        batcher = MicroBatcher(lambda xs: xs, executor=executor, max_batch=1, max_wait_s=0.01)
        await asyncio.gather(*(batcher.submit(i) for i in range(5)))
        await batcher.aclose()
        return batcher.stats

    stats = run(main())
    assert (stats.batches, stats.max_seen) == (5, 1)


def test_a_failing_item_fails_alone(executor):
    def strict(items):
        if any(x < 0 for x in items):
            raise ValueError(f"negative input in {items}")
        return items

    async def main():
        batcher = MicroBatcher(strict, executor=executor, max_batch=4, max_wait_s=0.05)
        results = await asyncio.gather(*(batcher.submit(x) for x in (1, -1, 3)), return_exceptions=True)
        await batcher.aclose()
        return results

    ok1, bad, ok3 = run(main())
    assert (ok1, ok3) == (1, 3)
    assert isinstance(bad, ValueError) and "[-1]" in str(bad)


def test_wrong_result_count_is_an_error(executor):
    async def main():
        batcher = MicroBatcher(lambda xs: [], executor=executor, max_batch=1)
        try:
            await batcher.submit(1)
        finally:
            await batcher.aclose()

    with pytest.raises(RuntimeError, match="0 results for 1 inputs"):
        run(main())


def test_full_queue_answers_overloaded(executor):
    gate = threading.Event()

    def blocked(items):
        gate.wait(5)
        return items

    async def main():
        batcher = MicroBatcher(blocked, executor=executor, max_batch=1, max_queue=2)
        first = asyncio.ensure_future(batcher.submit(0))
        await asyncio.sleep(0.05)  # the worker took item 0 and is blocked on it
        queued = [asyncio.ensure_future(batcher.submit(i)) for i in (1, 2)]
        await asyncio.sleep(0.01)
        with pytest.raises(OverloadedError, match="busy"):
            await batcher.submit(3)
        gate.set()
        results = await asyncio.gather(first, *queued)
        await batcher.aclose()
        return results

    assert run(main()) == [0, 1, 2]


def test_abandoned_requests_are_not_computed(executor):
    computed: list[int] = []
    gate = threading.Event()

    def record(items):
        gate.wait(5)
        computed.extend(items)
        return items

    async def main():
        batcher = MicroBatcher(record, executor=executor, max_batch=1)
        first = asyncio.ensure_future(batcher.submit(0))
        await asyncio.sleep(0.05)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(batcher.submit(1), 0.01)  # the client gives up while queued
        gate.set()
        await first
        await asyncio.sleep(0.05)
        await batcher.aclose()

    run(main())
    assert computed == [0]


def test_close_fails_waiting_requests(executor):
    gate = threading.Event()

    async def main():
        batcher = MicroBatcher(lambda xs: (gate.wait(5), xs)[1], executor=executor, max_batch=1)
        asyncio.ensure_future(batcher.submit(0))
        await asyncio.sleep(0.05)
        waiting = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.01)
        await batcher.aclose()
        gate.set()
        with pytest.raises(OverloadedError, match="shutting down"):
            await waiting

    run(main())


@pytest.mark.parametrize("announced", [True, False])
def test_batch_waits_for_announced_incoming_items(executor, announced):
    """An item still decoding (counted by ``incoming``) is waited for, up to incoming_wait_s: one batch of two
    instead of two batches of one. Without the announcement the first item goes alone after max_wait_s."""
    seen: list[list[int]] = []
    incoming = [1 if announced else 0]

    def record(items):
        seen.append(list(items))
        return items

    async def main():
        batcher = MicroBatcher(
            record, executor=executor, max_batch=8, max_wait_s=0.001, incoming=lambda: incoming[0], incoming_wait_s=2.0
        )
        first = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.1)  # the second request is still decoding
        second = asyncio.ensure_future(batcher.submit(2))  # decoded: its submit runs on the next loop step
        incoming[0] = 0
        results = await asyncio.gather(first, second)
        await batcher.aclose()
        return results

    assert run(main()) == [1, 2]
    assert seen == ([[1, 2]] if announced else [[1], [2]])
