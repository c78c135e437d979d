"""Embedding jobs: image embeddings into parquet parts, and caption embeddings into database shards.

``EmbedImagesTask``: columns ``source``, ``embedding`` (fixed-size list of float32, L2-normalised; null
where the input failed), ``error``. Read the good ones back with
``embedding_matrix(pq.read_table(out, filters=pc.field("error").is_null())["embedding"])``.

``run_embedding`` embeds the caption shards of a database build (``vocabfree.database.shards``) on an
engine: each shard is embedded with ``shards.embed_shard`` (whole shard per call, as the local build does)
and written by the driver with ``shards.write_shard``, so either engine writes the same shard files.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vocabfree.jobs.engine import EngineConfig, run_shards
from vocabfree.jobs.image_task import ImageTask


def embedding_column(emb):
    """An (N, D) array as a fixed-size-list Arrow column (float16 stays float16)."""
    import numpy as np
    import pyarrow as pa

    emb = np.ascontiguousarray(emb)
    return pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1)), emb.shape[1])


def embedding_matrix(column):
    """The inverse of ``embedding_column`` for a column without nulls: an (N, D) array."""
    column = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    return column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), column.type.list_size)


@dataclass
class EmbedImagesTask(ImageTask):
    batch_size: int = 32
    kind = "embed-images"

    def result_schema(self):
        import pyarrow as pa

        return pa.schema([("embedding", pa.list_(pa.float32(), int(self.model_.embed_dim)))])

    def predict(self, images):
        import numpy as np
        import pyarrow as pa

        emb = np.asarray(self.model_.encode_images(images, batch_size=self.batch_size), dtype=np.float32)
        return pa.table({"embedding": embedding_column(emb)}, schema=self.result_schema())


@dataclass
class EmbedCaptionsTask:
    """Captions -> ``caption``, ``embedding`` (float16) rows, with ``database.shards.embed_shard``."""

    model: str
    batch_size: int = 256
    device: str | None = None
    precision: str | None = None

    def setup(self) -> None:
        from vocabfree.models import load_model

        self.model_ = load_model(self.model, device=self.device, precision=self.precision)

    def __call__(self, captions: Sequence[str]):
        import pyarrow as pa

        from vocabfree.database.shards import embed_shard

        emb = embed_shard(self.model_, captions, batch_size=self.batch_size)
        return pa.table({"caption": pa.array(list(captions), pa.string()), "embedding": embedding_column(emb)})


@dataclass(frozen=True)
class EmbeddingReport:
    """``shards``/``captions`` embedded in this run; ``shards_skipped`` were already finished."""

    shards: int
    shards_skipped: int
    captions: int
    seconds: float

    @property
    def captions_per_second(self) -> float:
        return self.captions / self.seconds if self.seconds > 0 else float("nan")


def run_embedding(
    shards_iter: Iterable[tuple[int, Sequence[str]]],
    model_name: str,
    out_dir: str | os.PathLike,
    engine: str = "ray",
    address: str | None = None,
    *,
    batch_size: int = 256,
    concurrency: int | None = None,
    num_gpus: float | None = None,
    device: str | None = None,
    precision: str | None = None,
    progress: bool = False,
) -> EmbeddingReport:
    """Embed caption shards ``(k, captions)`` (from ``database.shards.caption_shards``) with ``model_name``
    into ``out_dir`` as database shards, on ``engine`` (``local`` or ``ray`` at ``address``). Shards already
    finished there (``shard_done`` with the same captions and model) are skipped. The model is loaded
    only where embedding happens (in each Ray actor), never in the driver for the ray engine."""
    from tqdm.auto import tqdm

    from vocabfree.database.shards import captions_sha256, shard_done, write_shard

    started = time.perf_counter()
    out_dir = Path(out_dir)
    state = {"shards": 0, "skipped": 0, "captions": 0, "shard_size": 0}  # shard_size: of the first shard

    def pending():
        for k, captions in shards_iter:
            state["shard_size"] = state["shard_size"] or len(captions)
            if shard_done(out_dir, k, captions_sha256=captions_sha256(captions), model=model_name):
                state["skipped"] += 1
                continue
            yield k, captions

    todo = pending()
    first = next(todo, None)
    if first is None:
        return EmbeddingReport(0, state["skipped"], 0, time.perf_counter() - started)
    # One task call per shard, as the local build embeds a whole shard with one embed_shard call.
    config = EngineConfig(
        engine=engine,
        address=address,
        batch_size=max(len(first[1]), state["shard_size"]),
        concurrency=concurrency,
        num_gpus=num_gpus,
    )
    task = EmbedCaptionsTask(model_name, batch_size=batch_size, device=device, precision=precision)
    bar = tqdm(desc=f"embed captions ({model_name}, {engine})", unit="cap", disable=not progress, smoothing=0.1)

    def on_shard(k: int, table) -> None:
        write_shard(
            out_dir, k, table["caption"].to_pylist(), embedding_matrix(table["embedding"]), {"model": model_name}
        )
        state["shards"] += 1
        state["captions"] += table.num_rows
        bar.update(table.num_rows)

    def everything():
        yield first
        yield from todo

    with bar:
        run_shards(task, everything(), on_shard, config)
    return EmbeddingReport(state["shards"], state["skipped"], state["captions"], time.perf_counter() - started)
