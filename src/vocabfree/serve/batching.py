"""Micro-batching: concurrent requests share one forward pass.

A forward pass over 16 images costs far less than 16 passes over one (the weights are read once and the
matrix multiplies are larger), so under load the service collects requests for up to ``max_wait_s`` (or until
``max_batch`` are waiting) and runs them together. One batch runs at a time per batcher; while it runs, new
requests queue up and form the next batch, so batches grow with load on their own and an idle server adds at
most ``max_wait_s`` of latency. ``max_batch=1`` turns batching off (every request is its own pass).

The model work runs on an executor, never on the event loop, so the server keeps accepting and answering
(health checks, errors, static files) while a batch computes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Generic, TypeVar

from vocabfree.serve.errors import OverloadedError

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger("vocabfree.serve")


@dataclass
class BatchStats:
    """Counters for /health and the load benchmark: how many batches ran and how full they were."""

    batches: int = 0
    items: int = 0
    max_seen: int = 0

    @property
    def mean_batch(self) -> float:
        return self.items / self.batches if self.batches else 0.0


class MicroBatcher(Generic[T, R]):
    """Run ``fn(items) -> results`` (one result per item, same order) over concurrent ``submit`` calls.

    If a whole batch fails, each item is retried alone so one bad input cannot fail its neighbours' requests;
    the bad one gets its own exception.
    """

    def __init__(
        self,
        fn: Callable[[list[T]], Sequence[R]],
        *,
        executor: Executor | None,
        max_batch: int = 16,
        max_wait_s: float = 0.005,
        max_queue: int = 256,
        max_queue_weight: int | None = None,
        weight: Callable[[T], int] | None = None,
        incoming: Callable[[], int] | None = None,
        incoming_wait_s: float = 0.0,
        name: str = "batcher",
    ):
        if max_batch < 1 or max_queue < 1 or max_wait_s < 0:
            raise ValueError("max_batch and max_queue must be >= 1 and max_wait_s >= 0")
        self.fn = fn
        self.executor = executor
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.max_queue_weight = max_queue_weight
        self.weight = weight or (lambda item: 0)
        self.incoming = incoming or (lambda: 0)
        self.incoming_wait_s = incoming_wait_s
        self.name = name
        self.running = False  # a batch is computing now
        self._queued_weight = 0
        self.stats = BatchStats()
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]]] | None = None
        self._worker: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    @property
    def busy(self) -> bool:
        """Work is waiting or computing (read from other threads: a momentary answer is all it needs)."""
        return self.running or self.pending > 0

    @property
    def queued_weight(self) -> int:
        return self._queued_weight

    def _ensure_worker(self) -> asyncio.Queue[tuple[T, asyncio.Future[R]]]:
        # Started lazily inside the running loop (the app's), so a batcher can be built outside any loop.
        if self._queue is None or self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._run(), name=f"vocabfree-{self.name}")
        return self._queue

    async def submit(self, item: T) -> R:
        """Queue one item and wait for its result (raises what ``fn`` raised for it)."""
        queue = self._ensure_worker()
        if queue.qsize() >= self.max_queue:
            raise OverloadedError(f"server busy: {queue.qsize()} requests are already waiting; retry shortly")
        weight = self.weight(item)
        budget = self.max_queue_weight
        if budget is not None and self._queued_weight and self._queued_weight + weight > budget:  # one always fits
            raise OverloadedError(
                f"server busy: {self._queued_weight:,} bytes of images are already waiting; retry shortly"
            )
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queued_weight += weight
        queue.put_nowait((item, future))
        try:
            return await future
        finally:
            if not future.done():
                future.cancel()  # the waiter timed out or left: the batch skips this item
            self._queued_weight -= weight

    async def aclose(self) -> None:
        """Stop the worker; requests still waiting fail instead of hanging."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        while self._queue is not None and not self._queue.empty():
            _, future = self._queue.get_nowait()
            if not future.done():
                future.set_exception(OverloadedError("server is shutting down"))

    async def _collect(self) -> list[tuple[T, asyncio.Future[R]]]:
        assert self._queue is not None
        batch = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        start = loop.time()
        waited_for_incoming = False
        while len(batch) < self.max_batch:
            if not self._queue.empty():  # already waiting: take without sleeping
                batch.append(self._queue.get_nowait())
                continue
            # Adaptive: requests already past the HTTP layer (their images decoding) will arrive in a moment;
            # waiting up to incoming_wait_s for them makes one full batch instead of two half ones.
            incoming = self.incoming() > 0
            wait = max(self.max_wait_s, self.incoming_wait_s) if incoming else self.max_wait_s
            remaining = start + wait - loop.time()
            if remaining <= 0:
                if waited_for_incoming and not incoming:  # a decode just ended: its submit is one step away
                    waited_for_incoming = False
                    await asyncio.sleep(0)
                    continue
                break
            waited_for_incoming |= incoming
            step = min(remaining, 0.002) if incoming else remaining  # re-check incoming (a decode can fail)
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), step))
            except TimeoutError:
                continue
        # A request that timed out (or whose client left) while queued is not computed at all.
        return [(item, future) for item, future in batch if not future.done()]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            if not batch:
                continue
            items = [item for item, _ in batch]
            self.stats.batches += 1
            self.stats.items += len(items)
            self.stats.max_seen = max(self.stats.max_seen, len(items))
            self.running = True
            try:
                await self._compute(loop, batch, items)
            finally:
                self.running = False

    async def _compute(self, loop: asyncio.AbstractEventLoop, batch: list, items: list[T]) -> None:
        """Run one batch; if it fails as a whole, retry its items one by one."""
        try:
            results = await loop.run_in_executor(self.executor, self._call, items)
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc=exc)
                return
            log.warning("%s: batch of %d failed (%s); retrying items one by one", self.name, len(batch), exc)
            for item, future in batch:
                try:
                    (result,) = await loop.run_in_executor(self.executor, self._call, [item])
                except Exception as item_exc:
                    _settle(future, exc=item_exc)
                else:
                    _settle(future, result=result)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result=result)

    def _call(self, items: list[T]) -> Sequence[R]:
        results = self.fn(items)
        if len(results) != len(items):
            raise RuntimeError(f"{self.name}: got {len(results)} results for {len(items)} inputs")
        return results


def _settle(future: asyncio.Future, *, result: object = None, exc: BaseException | None = None) -> None:
    if future.done():  # the waiter gave up (timeout, disconnect)
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
