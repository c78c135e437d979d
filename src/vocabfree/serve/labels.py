"""Text work (label sets for zero-shot, ``/v1/embed`` texts) kept off the image path, bounded and cancellable.

Encoding a never-seen label costs far more than an image (dozens of prompt templates, a definition), so one
request with a thousand new labels must not stall everyone else's images. Three pieces:

- ``ModelGate``: one model, two kinds of work. Image batches are urgent; text encoding runs in small chunks
  that take the model only while no image work is pending, or once they have waited ``defer_factor`` times
  their own last duration, so under contention text gets at most ~1/(1 + defer_factor) of the model and an
  image batch waits at most one chunk.
- ``GatedModel``: the model as text work sees it: ``encode_texts`` in chunks through the gate, checking the
  job's cancel flag between chunks; everything else passes through. One per engine, so the library's
  per-model label cache (``classify.zero_shot``) is shared by all requests.
- ``TextWork``: a single text thread with a bounded queue (characters waiting; 429 beyond), an LRU of fitted
  label sets, concurrent requests for the same set sharing one job, and cancellation: when every request
  waiting on a job has timed out or gone, the job stops at its next chunk and its results are dropped.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vocabfree.serve.errors import BusyError

TEXT_CHUNK = 8  # texts per gated model call: small, so an image batch never waits long behind one


class Cancelled(Exception):  # noqa: N818 - a signal, not an error shown to anyone
    """Raised inside a text job whose requests have all gone; the job's work is dropped."""


class ModelGate:
    """Mutual exclusion on one model with priority for urgent (image) work; see the module docstring."""

    def __init__(self, urgent_pending: Callable[[], bool] = lambda: False, *, defer_factor: float = 4.0):
        self.urgent_pending = urgent_pending
        self.defer_factor = defer_factor
        self._cond = threading.Condition()
        self._busy = False
        self._last_background_s = 0.0

    @contextmanager
    def urgent(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._busy)
            self._busy = True
        try:
            yield
        finally:
            self._release()

    @contextmanager
    def background(self, cancel: threading.Event | None = None) -> Iterator[None]:
        start = time.monotonic()
        with self._cond:
            while True:
                if cancel is not None and cancel.is_set():
                    raise Cancelled
                waited = time.monotonic() - start
                if not self._busy and (
                    not self.urgent_pending() or waited >= self.defer_factor * self._last_background_s
                ):
                    break
                self._cond.wait(0.005)  # urgent_pending() is not a condition we are notified of: poll
            self._busy = True
        t0 = time.monotonic()
        try:
            yield
        finally:
            self._last_background_s = time.monotonic() - t0
            self._release()

    def _release(self) -> None:
        with self._cond:
            self._busy = False
            self._cond.notify_all()


class GatedModel:
    """``model`` with ``encode_texts`` run in gated, cancellable chunks (other attributes pass through)."""

    def __init__(self, model: Any, gate: ModelGate, chunk: int = TEXT_CHUNK):
        self._model, self._gate, self._chunk = model, gate, chunk
        self._local = threading.local()  # the cancel flag of the job running on this thread

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    @contextmanager
    def job(self, cancel: threading.Event) -> Iterator[None]:
        self._local.cancel = cancel
        try:
            yield
        finally:
            self._local.cancel = None

    def encode_texts(self, texts, *, batch_size: int = 256, progress: bool = False) -> np.ndarray:
        texts = list(texts)
        cancel = getattr(self._local, "cancel", None)
        parts = []
        for start in range(0, len(texts), self._chunk):
            with self._gate.background(cancel):
                parts.append(np.asarray(self._model.encode_texts(texts[start : start + self._chunk]), np.float32))
        return np.concatenate(parts) if parts else np.zeros((0, self._model.embed_dim), np.float32)


@dataclass
class _Job:
    key: Hashable
    chars: int
    cancel: threading.Event = field(default_factory=threading.Event)
    waiters: int = 0
    future: asyncio.Future | None = None


@dataclass
class TextStats:
    jobs: int = 0
    cancelled: int = 0
    cache_hits: int = 0
    refused: int = 0


class TextWork:
    """Runs text jobs on one thread: ``await run(key, fn, chars)``; ``fn()`` blocks and may raise ``Cancelled``.

    ``cache=True`` keeps the result under ``key`` (LRU of ``cache_size``); requests for a key already being
    computed wait for that job instead of starting another.
    """

    def __init__(self, model: GatedModel, *, queue_chars: int, cache_size: int, name: str = "text"):
        self.model = model
        self.queue_chars = queue_chars
        self.cache_size = cache_size
        self.stats = TextStats()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"vocabfree-{name}")
        self._cache: OrderedDict[Hashable, Any] = OrderedDict()
        self._jobs: dict[Hashable, _Job] = {}
        self._queued = 0

    @property
    def queued_chars(self) -> int:
        return self._queued

    def cached(self, key: Hashable) -> Any | None:
        value = self._cache.get(key)
        if value is not None:
            self._cache.move_to_end(key)
            self.stats.cache_hits += 1
        return value

    async def run(self, key: Hashable, fn: Callable[[], Any], chars: int, *, cache: bool = False) -> Any:
        if cache and (hit := self.cached(key)) is not None:
            return hit
        job = self._jobs.get(key)
        if job is None or job.cancel.is_set():  # never join a job that is being abandoned
            if self._queued + chars > self.queue_chars and self._queued > 0:
                self.stats.refused += 1
                raise BusyError(
                    f"{self._queued:,} characters of labels/texts are already waiting to be encoded (limit "
                    f"{self.queue_chars:,}); retry shortly, or reuse label sets the server has already seen"
                )
            job = _Job(key, chars)
            self._jobs[key] = job
            self._queued += chars
            self.stats.jobs += 1
            job.future = asyncio.get_running_loop().run_in_executor(self.executor, self._call, job, fn)
            job.future.add_done_callback(functools.partial(self._finish, job, cache=cache))
        future = job.future
        assert future is not None  # set when the job was created
        job.waiters += 1
        try:
            return await asyncio.shield(future)
        finally:
            job.waiters -= 1
            if job.waiters == 0 and not future.done():
                job.cancel.set()  # nobody waits any more: stop at the next chunk

    def _call(self, job: _Job, fn: Callable[[], Any]) -> Any:
        if job.cancel.is_set():
            raise Cancelled
        with self.model.job(job.cancel):
            return fn()

    def _finish(self, job: _Job, future: asyncio.Future, cache: bool) -> None:
        if self._jobs.get(job.key) is job:
            del self._jobs[job.key]
        self._queued -= job.chars
        if future.cancelled():
            return
        exc = future.exception()  # retrieved, so an abandoned job's error is never logged as "unretrieved"
        if isinstance(exc, Cancelled):
            self.stats.cancelled += 1
        elif exc is None and cache:
            self._cache[job.key] = future.result()
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def close(self) -> None:
        for job in self._jobs.values():
            job.cancel.set()
        self.executor.shutdown(wait=False, cancel_futures=True)
