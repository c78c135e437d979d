"""Batch jobs over image collections: list the inputs, cut them into shards, run a task on an engine, write
one parquet part per shard, skip the parts already written.

    report = run_image_job(EmbedImagesTask("hf:openai/clip-vit-base-patch32"), ["photos/"], "emb.parquet",
                           engine=EngineConfig("ray"))

Inputs are image files, folders (recursive), globs, or ``.txt`` list files (one path per line, ``#``
comments and blank lines ignored; paths are taken as written, not checked up front, so a list of 10M
paths costs no 10M ``stat`` calls: a missing file becomes a row with its error). The shard plan depends
only on the input list and ``shard_size``, so a rerun after a kill recomputes the same shards, skips the
finished parts and produces the same rows.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vocabfree.database.shards import captions_sha256  # SHA-256 of strings joined by newlines
from vocabfree.errors import InvalidInputError
from vocabfree.jobs.engine import EngineConfig, run_shards
from vocabfree.jobs.sinks import ParquetShardSink

LIST_SUFFIXES = (".txt", ".lst")
DEFAULT_SHARD_SIZE = 10_000


def list_inputs(specs: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Image paths from files, folders, globs and ``.txt`` lists, in a deterministic order."""
    from vocabfree.images import expand_paths

    out: list[str] = []
    for spec in specs:
        path = Path(spec)
        if path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            lines = path.read_text(encoding="utf-8").splitlines()
            out += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        else:
            out += [str(p) for p in expand_paths([spec])]
    if not out:
        raise InvalidInputError("no inputs: the lists given are empty")
    return out


@dataclass(frozen=True)
class JobReport:
    """What a run did: ``rows`` written in this run, of which ``errors`` are inputs that failed."""

    output: Path
    inputs: int
    shards: int
    shards_skipped: int
    rows: int
    errors: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("nan")


def run_image_job(
    task,
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    *,
    shard_size: int = DEFAULT_SHARD_SIZE,
    engine: EngineConfig | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> JobReport:
    """Run ``task`` (``ClassifyImagesTask``, ``EmbedImagesTask``, ...) over ``inputs`` into ``output``.

    ``task.spec()`` and the inputs are recorded in ``output/_job.json``; rerunning the same job resumes
    it, another job into the same folder is refused unless ``overwrite``.
    """
    if shard_size < 1:
        raise InvalidInputError(f"shard_size must be >= 1, got {shard_size}")
    started = time.perf_counter()
    items = list_inputs(inputs)
    spec = {**task.spec(), "inputs": len(items), "inputs_sha256": captions_sha256(items), "shard_size": shard_size}
    sink = ParquetShardSink(output, spec, overwrite=overwrite).open()
    starts = range(0, len(items), shard_size)
    pending = [(k, s) for k, s in enumerate(starts) if not sink.done(k, min(shard_size, len(items) - s))]
    counts = {"rows": 0, "errors": 0}

    from tqdm.auto import tqdm

    bar = tqdm(
        total=len(items),
        initial=len(items) - sum(min(shard_size, len(items) - s) for _, s in pending),
        desc=f"{spec['task']} ({spec['model']})",
        unit="img",
        disable=not progress,
        smoothing=0.1,
    )

    def on_shard(k: int, table) -> None:
        sink.write(k, table)
        counts["rows"] += table.num_rows
        counts["errors"] += table.num_rows - table["error"].null_count
        bar.update(table.num_rows)

    with bar:
        run_shards(task, ((k, items[s : s + shard_size]) for k, s in pending), on_shard, engine)
    sink.finish()
    return JobReport(
        Path(output),
        len(items),
        len(starts),
        len(starts) - len(pending),
        counts["rows"],
        counts["errors"],
        time.perf_counter() - started,
    )
