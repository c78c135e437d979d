"""Parquet shard output for jobs: one file per shard, written atomically, resumed by skipping finished ones.

Layout of an output folder ``OUT`` (Spark's and Ray Data's convention: pyarrow, pandas, polars and DuckDB
read the folder as one table, e.g. ``pandas.read_parquet("results.parquet")``)::

    OUT/_job.json             what the folder holds: the job's spec (task, model, options, shard size, number
                              and SHA-256 of the inputs); a rerun with another spec is refused
    OUT/part-00000.parquet    the rows of shard 0 (inputs 0 .. shard_size-1), in input order
    OUT/part-00001.parquet    ...
    OUT/_SUCCESS              written once every shard is done

Each part is written to a hidden temporary name, fsync'ed and renamed (``vocabfree.atomic``), so a part
either is complete or does not exist; a part whose footer is unreadable or whose row count is wrong is redone.
Readers skip names starting with ``_`` or ``.``, so metadata and temporary files are never read as data.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from vocabfree.atomic import atomic_path, atomic_write_text, remove_stale_temporaries
from vocabfree.errors import InvalidInputError

JOB = "_job.json"
SUCCESS = "_SUCCESS"


def part_name(k: int) -> str:
    return f"part-{k:05d}.parquet"


class ParquetShardSink:
    """Writes shard tables into ``out`` (see the module docstring). ``spec`` is a JSON-able dict describing
    the job; ``open()`` starts a new output, resumes one with the same spec, or refuses."""

    def __init__(self, out: str | os.PathLike, spec: dict, *, overwrite: bool = False):
        self.out, self.spec, self.overwrite = Path(out), spec, overwrite

    def open(self) -> ParquetShardSink:
        out = self.out
        if out.exists() and not out.is_dir():
            raise InvalidInputError(f"{out} is a file; --output names a folder of parquet parts (it is created)")
        job = out / JOB
        if out.is_dir() and any(out.iterdir()):
            if not job.is_file():
                raise InvalidInputError(f"{out} is not empty and holds no {JOB}: choose another --output")
            if self.overwrite:
                shutil.rmtree(out)  # only a folder this module wrote (it has our _job.json)
            else:
                self._check_spec(job)
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(out)  # writes interrupted by a kill
        if not job.is_file():
            atomic_write_text(job, json.dumps(self.spec, indent=1, sort_keys=True))
        return self

    def _check_spec(self, job: Path) -> None:
        try:
            old = json.loads(job.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"{job} is unreadable ({exc}); delete {self.out} to start over") from exc
        changed = sorted(key for key in set(old) | set(self.spec) if old.get(key) != self.spec.get(key))
        if changed:
            raise InvalidInputError(
                f"{self.out} holds the results of another job ({', '.join(changed)} differ): delete it or "
                "choose another --output"
            )

    def done(self, k: int, rows: int) -> bool:
        """True if part ``k`` exists with ``rows`` rows and a readable footer."""
        import pyarrow.parquet as pq

        path = self.out / part_name(k)
        try:
            return pq.read_metadata(path).num_rows == rows
        except (OSError, ValueError):  # missing, or not a parquet file: redo it
            return False

    def write(self, k: int, table: Any) -> Path:
        """Write ``table`` (a ``pyarrow.Table``) as part ``k`` atomically; returns its path."""
        import pyarrow.parquet as pq

        path = self.out / part_name(k)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        (self.out / SUCCESS).unlink(missing_ok=True)
        return path

    def finish(self) -> None:
        atomic_write_text(self.out / SUCCESS, "")
