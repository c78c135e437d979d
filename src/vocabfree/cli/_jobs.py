"""``vocabfree embed images DIR --output DIR`` and ``vocabfree classify ... --output results.parquet``: batch
jobs over large image collections, written as a folder of parquet parts, resumable, on ``--engine local``
(this process) or ``--engine ray`` (Ray Data; ``--ray-address`` of a running cluster)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vocabfree.cli._output import DeviceOption, JsonOption, ModelOption, PrecisionOption, print_json
from vocabfree.models import DEFAULT_MODEL

OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Write one row per image into this folder of parquet parts (e.g. results.parquet); "
        "rerun the same command to resume.",
    ),
]
EngineOption = Annotated[
    str, typer.Option(help="Where the job runs: local (this process) or ray (Ray Data; pip install 'vocabfree[ray]').")
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="Ray cluster to run on, e.g. 10.0.0.1:6379 (default: RAY_ADDRESS, else the cluster of "
        "the last 'ray start' on this machine, else a new local one).",
    ),
]
ShardSizeOption = Annotated[int, typer.Option(min=1, help="Images per parquet part (the unit of resumption).")]
ConcurrencyOption = Annotated[
    int | None, typer.Option(min=1, help="Ray: model actors (default: one per GPU, else one per CPU of the cluster).")
]
NumGpusOption = Annotated[
    float | None, typer.Option(help="Ray: GPUs per actor (default: 1 when the cluster has GPUs, else 0).")
]


def engine_config(
    engine: str, ray_address: str | None, batch_size: int, concurrency: int | None = None, num_gpus: float | None = None
):
    from vocabfree.jobs import ENGINES, EngineConfig

    if engine not in ENGINES:
        raise typer.BadParameter(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if ray_address is not None and engine != "ray":
        raise typer.BadParameter("--ray-address needs --engine ray")
    return EngineConfig(
        engine=engine, address=ray_address, batch_size=batch_size, concurrency=concurrency, num_gpus=num_gpus
    )


def report_job(report, json_: bool) -> None:
    if json_:
        print_json(
            {
                "output": str(report.output),
                "inputs": report.inputs,
                "shards": report.shards,
                "shards_skipped": report.shards_skipped,
                "rows": report.rows,
                "errors": report.errors,
                "seconds": round(report.seconds, 3),
            }
        )
        return
    typer.echo(
        f"{report.output}: {report.rows} rows written ({report.errors} failed inputs) in "
        f"{report.seconds:.1f} s, {report.rows_per_second:.1f} images/s; {report.shards_skipped} of "
        f"{report.shards} parts were already done"
    )


def classify_job(
    images: list[str],
    output: Path | None,
    engine: str,
    ray_address: str | None,
    *,
    json_: bool,
    batch_size: int,
    shard_size: int = 10_000,
    **task_options,
) -> None:
    """``vocabfree classify ... --output``: the classify command's options as a ``ClassifyImagesTask``."""
    from vocabfree.jobs import ClassifyImagesTask, run_image_job

    if output is None:
        raise typer.BadParameter("--engine ray writes its results to a folder: give --output results.parquet")
    task = ClassifyImagesTask(batch_size=batch_size, **task_options)
    report = run_image_job(
        task,
        images,
        output,
        shard_size=shard_size,
        progress=not json_,
        engine=engine_config(engine, ray_address, batch_size),
    )
    report_job(report, json_)


def register(app: typer.Typer) -> None:
    embed_app = typer.Typer(no_args_is_help=True, help="Embed large collections into parquet parts (resumable).")
    app.add_typer(embed_app, name="embed")

    @embed_app.command("images")
    def images(
        inputs: Annotated[
            list[str],
            typer.Argument(help="Image files, folders (recursive), globs, or .txt lists of paths (one per line)."),
        ],
        output: Annotated[Path, typer.Option("--output", "-o", help="Folder of parquet parts to write.")],
        model: ModelOption = DEFAULT_MODEL,
        engine: EngineOption = "local",
        ray_address: RayAddressOption = None,
        batch_size: Annotated[int, typer.Option(min=1, help="Images per encoder call.")] = 64,
        shard_size: ShardSizeOption = 10_000,
        concurrency: ConcurrencyOption = None,
        num_gpus: NumGpusOption = None,
        overwrite: Annotated[bool, typer.Option(help="Replace the results of another job in --output.")] = False,
        device: DeviceOption = None,
        precision: PrecisionOption = "auto",
        json_: JsonOption = False,
    ) -> None:
        """One row per image: source, embedding (float32, L2-normalised), error (null unless it failed)."""
        from vocabfree.jobs import EmbedImagesTask, run_image_job

        config = engine_config(engine, ray_address, batch_size, concurrency, num_gpus)
        task = EmbedImagesTask(model or DEFAULT_MODEL, device=device, precision=precision, batch_size=batch_size)
        report = run_image_job(
            task, inputs, output, shard_size=shard_size, engine=config, overwrite=overwrite, progress=not json_
        )
        report_job(report, json_)
