"""Engines: run a row task over shards of inputs, in this process (``local``) or on Ray Data (``ray``).

A *task* is a small picklable object (a model name and options, never a loaded model) with two methods:

- ``setup()``: load what it needs (the model); called once per worker, i.e. once per Ray actor;
- ``__call__(items) -> pyarrow.Table``: one row per item (a path or a caption), in the items' order.

A *shard* is ``(k, items)``: the unit of output and of resumption. The engine maps every shard it is given
through the task, ``batch_size`` items per call, and hands each complete shard to ``on_shard(k, table)``
*in the driver*, which writes it; so results stream to disk shard by shard and the output needs no
shared filesystem. Both engines call the task on the same batches (the items ``[j*batch_size,
(j+1)*batch_size)`` of each shard), so they produce the same rows.

The Ray engine is Ray Data, not a scheduler of ours: each pending shard becomes one block of a dataset,
``map_batches`` runs the task on an actor pool (one model per actor, ``num_gpus=1`` per actor when the
cluster has GPUs), and the driver regroups the output rows by shard. Actors that die (a killed process,
a lost node) are restarted and their batches retried: Ray Data's defaults for actor pools are
``max_restarts=-1`` and ``max_task_retries=-1``.
This module is the only one that imports ``ray``, and only when the ``ray`` engine is used.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from vocabfree.errors import InvalidInputError, MissingDependencyError, VocabfreeError

ENGINES = ("local", "ray")
_SHARD, _POS, _ITEM = "__shard", "__pos", "__item"  # bookkeeping columns the Ray engine adds and removes


class RowTask(Protocol):
    def setup(self) -> None: ...

    def __call__(self, items: Sequence[str], /): ...  # -> pyarrow.Table, one row per item


class JobError(VocabfreeError, RuntimeError):
    """A job that failed on its engine (the message carries the worker's error)."""


@dataclass(frozen=True)
class EngineConfig:
    """Where and how a job runs.

    ``batch_size``: items per task call. Ray only: ``address`` of a running cluster (``None``: the one in
    ``RAY_ADDRESS``, else a new local one); ``concurrency``: actors (default: one per GPU when the cluster
    has GPUs, else one per ``num_cpus`` CPUs); ``num_gpus``: GPUs per actor (default: 1 when the cluster
    has GPUs, else 0); ``num_cpus``: CPUs per actor.
    """

    engine: str = "local"
    batch_size: int = 64
    address: str | None = None
    concurrency: int | None = None
    num_gpus: float | None = None
    num_cpus: float = 1.0

    def __post_init__(self):
        if self.engine not in ENGINES:
            raise InvalidInputError(f"unknown engine '{self.engine}'; use one of {', '.join(ENGINES)}")
        if self.batch_size < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.concurrency is not None and self.concurrency < 1:
            raise InvalidInputError(f"concurrency must be >= 1, got {self.concurrency}")


OnShard = Callable[[int, object], None]  # (shard index, pyarrow.Table)


def run_shards(
    task: RowTask, shards: Iterable[tuple[int, Sequence[str]]], on_shard: OnShard, config: EngineConfig | None = None
) -> None:
    """Run ``task`` over ``shards`` (``(k, items)`` pairs) on ``config.engine``; ``on_shard(k, table)`` is
    called in this process once per shard with its rows in item order. Shards given are all processed
    (skipping finished ones is the caller's business)."""
    config = config or EngineConfig()
    if config.engine == "ray":
        _run_ray(task, shards, on_shard, config)
    else:
        _run_local(task, shards, on_shard, config)


def _batches(items: Sequence[str], batch_size: int) -> Iterable[Sequence[str]]:
    return (items[i : i + batch_size] for i in range(0, len(items), batch_size))


def _nonempty(k: int, items: Sequence[str]) -> list[str]:
    items = list(items)
    if not items:
        raise InvalidInputError(f"shard {k} has no inputs")
    return items


def _checked(table, items: Sequence[str], where: str):
    if table.num_rows != len(items):
        raise JobError(f"{where}: the task returned {table.num_rows} rows for {len(items)} inputs")
    return table


def _run_local(task: RowTask, shards, on_shard: OnShard, config: EngineConfig) -> None:
    import pyarrow as pa

    ready = False
    for k, items in shards:
        items = _nonempty(k, items)
        if not ready:  # load the model only once there is work
            task.setup()
            ready = True
        parts = [_checked(task(batch), batch, f"shard {k}") for batch in _batches(items, config.batch_size)]
        on_shard(k, pa.concat_tables(parts))


class _RayWorker:
    """The Ray Data UDF: one per actor; runs the task on each (shard, batch) group of the rows it gets."""

    def __init__(self, task: RowTask, batch_size: int):
        self.task, self.batch_size = task, batch_size
        task.setup()

    def __call__(self, block):
        import pyarrow as pa
        import pyarrow.compute as pc

        shard, pos = block[_SHARD].to_numpy(), block[_POS].to_numpy()
        group = shard * (1 << 32) + pos // self.batch_size  # the local engine's batches: same rows per call
        out = []
        for key in dict.fromkeys(group.tolist()):
            rows = block.filter(pc.equal(pa.array(group), key))
            items = rows[_ITEM].to_pylist()
            table = _checked(self.task(items), items, f"shard {int(rows[_SHARD][0].as_py())}")
            out.append(table.append_column(_SHARD, rows[_SHARD]).append_column(_POS, rows[_POS]))
        return pa.concat_tables(out)


def _import_ray():
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise MissingDependencyError("the ray engine needs Ray Data: pip install 'vocabfree[ray]'") from exc
    return ray


def _actor_resources(ray, config: EngineConfig) -> dict:
    """``compute``/``num_cpus``/``num_gpus`` for ``map_batches``: one actor per GPU where there are
    GPUs, else one per ``num_cpus`` CPUs of the cluster, unless the config says otherwise."""
    resources = ray.cluster_resources()
    gpus = float(resources.get("GPU", 0))
    num_gpus = config.num_gpus if config.num_gpus is not None else (1.0 if gpus > 0 else 0.0)
    if config.concurrency is not None:
        concurrency = config.concurrency
    elif num_gpus > 0:
        concurrency = max(1, int(gpus // num_gpus))
    else:
        concurrency = max(1, int(float(resources.get("CPU", 1)) // config.num_cpus))
    args = {"compute": ray.data.ActorPoolStrategy(size=concurrency), "num_cpus": config.num_cpus}
    if num_gpus > 0:
        args["num_gpus"] = num_gpus
    return args


def _run_ray(task: RowTask, shards, on_shard: OnShard, config: EngineConfig) -> None:
    ray = _import_ray()
    import pyarrow as pa
    import pyarrow.compute as pc

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=config.address)  # None: RAY_ADDRESS if set, else a new local cluster
    try:
        expected: dict[int, int] = {}
        refs = []
        for k, items in shards:  # one block per shard, put in the object store (spilled to disk if large)
            items = _nonempty(k, items)
            expected[k] = len(items)
            refs.append(
                ray.put(
                    pa.table(
                        {
                            _SHARD: pa.array([k] * len(items), pa.int64()),
                            _POS: pa.array(range(len(items)), pa.int64()),
                            _ITEM: pa.array(items, pa.large_string()),
                        }
                    )
                )
            )
        if not refs:
            return
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the caller shows one bar for the whole job
        dataset = ray.data.from_arrow_refs(refs).map_batches(
            _RayWorker,
            fn_constructor_args=(task, config.batch_size),
            batch_size=config.batch_size,
            batch_format="pyarrow",
            **_actor_resources(ray, config),
        )
        parts: dict[int, list] = {}
        counts: dict[int, int] = {}
        try:
            for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
                for k in pc.unique(batch[_SHARD]).to_pylist():
                    part = batch.filter(pc.equal(batch[_SHARD], k))
                    parts.setdefault(k, []).append(part)
                    counts[k] = counts.get(k, 0) + part.num_rows
                    if counts[k] == expected[k]:
                        table = pa.concat_tables(parts.pop(k)).sort_by(_POS).drop_columns([_SHARD, _POS])
                        on_shard(k, table)
        except (ray.exceptions.RayError, _user_code_exception(ray)) as exc:
            raise JobError(f"ray job failed: {_root_cause(exc)}") from exc
        if parts:
            raise JobError(f"ray job ended with shards {sorted(parts)} incomplete")
    finally:
        if started_here:
            ray.shutdown()


def _user_code_exception(ray) -> type[BaseException]:
    """What Ray Data raises for an error in the task (``UserCodeException`` since Ray 2.10)."""
    return getattr(getattr(ray.data, "exceptions", None), "UserCodeException", ray.exceptions.RayError)


_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Interrupt)): (.*)$")


def _root_cause(exc: BaseException) -> str:
    """The worker's original error as ``Type: message``. Ray ships it as text inside its wrappers'
    messages (the exception chain does not survive the trip), so the first error line there that is not
    Ray's own is taken."""
    texts: list[str] = []
    link: object = exc  # followed through ``cause`` (Ray's wrappers) or ``__cause__``
    while isinstance(link, BaseException) and len(texts) < 10:
        texts.append(f"{type(link).__name__}: {link}")
        link = getattr(link, "cause", None) or link.__cause__
    for text in texts:
        for line in text.splitlines():
            found = _ERROR_LINE.match(line.strip())
            if found and not found.group(1).startswith(("ray.", "RayTaskError", "UserCodeException")):
                return line.strip()
    return texts[-1].strip().splitlines()[0]
