"""Output helpers shared by the commands: JSON or a plain aligned table, and the common options."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated

import typer

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")]
ModelOption = Annotated[
    str, typer.Option("--model", "-m", help="Model name: hf:<hub id or dir>, local, local-conse, test-tiny, ...")
]
DeviceOption = Annotated[str | None, typer.Option(help="Device: cpu, cuda, cuda:1 (default: CUDA if present).")]
PrecisionOption = Annotated[
    str, typer.Option(help="auto (bf16 where the hardware is fast at it), fp32, bf16 or fp16 (CUDA).")
]

DescribeOption = Annotated[
    str,
    typer.Option("--describe", help="Label descriptions: auto (what the model asks for: WordNet for local), none, "
                 "wordnet, or a JSON file mapping labels to texts."),
]
CalibrateOption = Annotated[
    str, typer.Option(help="Score calibration: auto (when the model offers reference embeddings), on, off.")
]


def calibrate_flag(value: str) -> bool | str:
    """``--calibrate`` as ZeroShotClassifier takes it."""
    flags = {"auto": "auto", "on": True, "off": False}
    if value not in flags:
        raise typer.BadParameter(f"--calibrate must be auto, on or off, not {value!r}")
    return flags[value]


def print_json(data) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def print_table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> None:
    """Left-aligned columns; floats with 4 significant decimals."""
    def fmt(v: object) -> str:
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    cells = [list(map(str, header))] + [[fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            typer.echo("  ".join("-" * w for w in widths))


def report_skipped(skipped) -> None:
    """Tell the user on stderr which inputs ``--skip-errors`` left out."""
    for s in skipped:
        typer.secho(f"skipped {s.source}: {s.reason}", fg=typer.colors.YELLOW, err=True)


def load_model_from_options(model: str, device: str | None = None, precision: str = "auto"):
    from vocabfree.models import load_model

    return load_model(model, device=device, precision=precision)
