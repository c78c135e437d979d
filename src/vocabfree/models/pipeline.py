"""The input pipeline of the torch backends: decode + preprocess in worker threads while the model runs.

Threads, not processes: PIL's JPEG decoder and resize, numpy copies and torch ops all release the GIL, so
threads decode in parallel without pickling images between processes (what torch's DataLoader does with
``num_workers``). The pool is bounded: at most ``prefetch`` items are decoded ahead of the model, so memory
stays flat on a million images. Results come back in input order; a failing item (``ImageLoadError`` naming
the input, as ``load_image`` raises it) is raised when its turn comes, exactly as the serial loop did.

Batches are collated into pinned memory when the target is a GPU, so the host-to-device copy is
asynchronous (``non_blocking``) and overlaps the previous batch's forward; ``lagged_outputs`` fetches each
batch's result only after the next batch is queued, so the device is never idle waiting for the host.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from vocabfree.errors import InvalidInputError

T = TypeVar("T")
TOKENS_PER_TEXT = 32  # default token budget per text batch = batch_size x this (a caption is ~15 tokens)
# On CPU smaller batches stay in cache: MiniLM under bf16 on 2 Xeon (AMX) cores encoded 4,096 Flickr8k captions
# at 2,101 captions/s with 2,048 padded tokens per batch, 2,061 at 4,096, 1,901 at 8,192, 1,558 at 16,384.
CPU_TOKEN_BUDGET = 2048
R = TypeVar("R")
Out = TypeVar("Out")  # what a forward returns (a device tensor) before it is fetched


def default_token_budget(batch_size: int, device: object) -> int:
    """Padded tokens per text batch: ``batch_size`` x ``TOKENS_PER_TEXT``, capped at ``CPU_TOKEN_BUDGET`` on CPU."""
    budget = batch_size * TOKENS_PER_TEXT
    return budget if str(device).startswith("cuda") else min(budget, CPU_TOKEN_BUDGET)


def default_workers(device: str = "cpu") -> int:
    """Decode threads: ``VOCABFREE_WORKERS`` if set; else every core for a GPU (the host's only job is to feed
    it), and half the cores (at least 1) on CPU, where decoding competes with the forward for the same cores."""
    env = os.environ.get("VOCABFREE_WORKERS")
    if env:
        try:
            return max(0, int(env))
        except ValueError as exc:
            raise InvalidInputError(f"VOCABFREE_WORKERS must be an integer, got {env!r}") from exc
    cores = os.cpu_count() or 1
    return min(32, cores) if device.startswith("cuda") else max(1, cores // 2)


def ordered_map(fn: Callable[[T], R], items: Iterable[T], *, workers: int, prefetch: int | None = None) -> Iterator[R]:
    """``map(fn, items)`` on ``workers`` threads, at most ``prefetch`` results in flight, in input order.

    An exception raised by ``fn`` for one item is re-raised when that item's turn comes (the items before it
    have been yielded); the work queued after it is cancelled. ``workers=0`` runs serially in this thread.
    """
    if workers <= 0:
        yield from map(fn, items)
        return
    prefetch = max(prefetch or 2 * workers, 1)
    iterator = iter(items)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vocabfree-decode") as pool:
        pending: deque = deque()
        try:
            for item in iterator:
                pending.append(pool.submit(fn, item))
                if len(pending) >= prefetch:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def collate(arrays: Sequence[np.ndarray], *, pin_memory: bool = False):
    """Stack equal-shape arrays into one torch tensor, in page-locked memory when ``pin_memory``."""
    import torch

    first = arrays[0]
    dtype = torch.from_numpy(np.empty(0, first.dtype)).dtype
    out = torch.empty((len(arrays), *first.shape), dtype=dtype, pin_memory=pin_memory)
    np.stack(arrays, out=out.numpy())  # one copy, straight into the (pinned) tensor's memory
    return out


def prepared_batches(
    items: Sequence[T],
    prepare: Callable[[T], R],
    *,
    batch_size: int,
    workers: int,
    progress: bool = False,
    desc: str = "",
) -> Iterator[list[R]]:
    """``prepare`` each item in the worker pool and yield lists of ``batch_size`` results, in order.

    Two batches are kept in flight, so the next batch is decoded while the caller runs the model on this one.
    """
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
    from tqdm.auto import tqdm

    results = ordered_map(prepare, items, workers=workers, prefetch=2 * batch_size)
    with tqdm(total=len(items), desc=desc, unit="item", disable=not progress, leave=False) as bar:
        batch: list[R] = []
        for result in results:
            batch.append(result)
            if len(batch) == batch_size:
                yield batch
                bar.update(len(batch))
                batch = []
        if batch:
            yield batch
            bar.update(len(batch))


def lagged_outputs(batches: Iterable[T], forward: Callable[[T], Out], fetch: Callable[[Out], R]) -> list[R]:
    """``[fetch(forward(b)) for b in batches]``, but each ``fetch`` (a device-to-host copy, which waits for the
    device) happens after the *next* batch's ``forward`` has been queued, so a GPU always has work."""
    out: list[R] = []
    pending: Out | None = None
    for batch in batches:
        result = forward(batch)
        if pending is not None:
            out.append(fetch(pending))
        pending = result
    if pending is not None:
        out.append(fetch(pending))
    return out


def length_batches(lengths: Sequence[int], *, token_budget: int, max_items: int | None = None) -> list[np.ndarray]:
    """Group item indices, longest first, into batches of at most ``token_budget`` padded tokens (items x the
    longest in the batch) and at most ``max_items`` items; every batch holds at least one item.

    Sorting by length is what makes this pay: each batch pads to nearly its own length (sentence-transformers
    sorts too), and the budget lets short texts go in big batches and long ones in small, at equal memory.
    Callers restore the input order with the returned indices.
    """
    if token_budget < 1:
        raise InvalidInputError(f"token_budget must be >= 1, got {token_budget}")
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    out, start = [], 0
    while start < len(order):
        longest = max(1, int(lengths[order[start]]))  # sorted: the first item is the batch's longest
        size = max(1, token_budget // longest)
        if max_items is not None:
            size = min(size, max_items)
        out.append(order[start : start + size])
        start += size
    return out
