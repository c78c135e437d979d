"""What every command shares: the common options, model resolution, and the one output contract.

Output contract (docs/cli.md): ``--json`` prints ``{"command", "model", "results": [item, ...]}``; ``--jsonl``
prints one item per line as results come; otherwise a table. An item is ``{"source": <path or name>,
"error": null | <message>, ...task fields}``, the task fields named as in the HTTP API (``mode``,
``predictions: [{label, score}]``, ``captions``, ``candidates``, ``caption``, ``method``, ``answer``). Batch
commands stream: images are decoded, predicted and emitted one chunk at a time, so memory does not grow
with the number of inputs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Annotated, Any

import typer

try:  # typer >= 0.24 vendors its own click; its exceptions are not the click package's
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer on real click
    from click import exceptions as click_exceptions  # type: ignore[no-redef]  # the same API, another module

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document (schema: docs/cli.md).")]
JsonlOption = Annotated[bool, typer.Option("--jsonl", help="Stream one JSON object per input, as results come.")]
# Model names are kept out of option help: click wraps at hyphens and would cut them ('vocabfree models list').
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Model name, as 'vocabfree models list' shows them. Default: the model the database or "
        "probe was made with; without one, the Hugging Face CLIP ViT-B/32.",
    ),
]
DeviceOption = Annotated[str | None, typer.Option(help="Device: cpu, cuda, cuda:1 (default: CUDA if present).")]
PrecisionOption = Annotated[
    str, typer.Option(help="auto (bf16 where the hardware is fast at it), fp32, bf16 or fp16 (CUDA).")
]
SkipErrorsOption = Annotated[
    bool,
    typer.Option("--skip-errors", help="Skip unreadable images (each reported on stderr); exit 1 only if all fail."),
]
MaxPixelsOption = Annotated[
    int,
    typer.Option("--max-pixels", min=1, help="Refuse images with more pixels than this (decompression-bomb guard)."),
]
ChunkOption = Annotated[
    int,
    typer.Option("--chunk-size", min=1, help="Images decoded and predicted at a time (memory stays bounded by this)."),
]

DescribeOption = Annotated[
    str,
    typer.Option(
        "--describe",
        help="Label descriptions: auto (what the model asks for: WordNet for local), none, "
        "wordnet, or a JSON file mapping labels to texts.",
    ),
]
CalibrateOption = Annotated[
    str, typer.Option(help="Score calibration: auto (when the model offers reference embeddings), on, off.")
]
CHUNK_SIZE = 32
# = vocabfree.images.DEFAULT_MAX_PIXELS, repeated so that --help does not import numpy and PIL (a test checks).
DEFAULT_MAX_PIXELS = 64_000_000


def usage_error(message: str) -> Exception:
    """A usage error (exit 2, one line), raised by the caller: ``raise usage_error("...")``."""
    return click_exceptions.UsageError(message)


def calibrate_flag(value: str) -> bool | str:
    """``--calibrate`` as ZeroShotClassifier takes it."""
    flags: dict[str, bool | str] = {"auto": "auto", "on": True, "off": False}
    if value not in flags:
        raise usage_error(f"--calibrate must be auto, on or off, not {value!r}")
    return flags[value]


def output_format(json_: bool, jsonl: bool = False) -> str:
    """``table``, ``json`` or ``jsonl`` from the two flags (which exclude each other)."""
    if json_ and jsonl:
        raise usage_error("give --json or --jsonl, not both")
    return "json" if json_ else "jsonl" if jsonl else "table"


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


def warn_skipped(message: str) -> None:
    """One ``skipped: <reason>`` line on stderr (the reason already names the input)."""
    typer.secho(f"skipped: {message}", fg=typer.colors.YELLOW, err=True)


def report_skipped(skipped) -> None:
    """Tell the user on stderr which inputs ``--skip-errors`` left out."""
    for s in skipped:
        warn_skipped(s.reason if s.source in s.reason else f"{s.source}: {s.reason}")


def result_item(source: str, error: str | None = None, **fields) -> dict:
    """One result of the output contract: ``{"source", "error", **fields}``."""
    return {"source": str(source), "error": error, **fields}


def prediction_fields(prediction) -> dict:
    """A classifier's ``Prediction`` as the HTTP API's classify fields (``mode``, ``predictions``, evidence)."""
    from vocabfree.classify.results import VocabularyFreePrediction

    fields: dict[str, Any] = {
        "predictions": [
            {"label": lb, "score": float(s)} for lb, s in zip(prediction.labels, prediction.scores, strict=True)
        ]
    }
    if isinstance(prediction, VocabularyFreePrediction):
        fields["mode"] = "vocabulary-free"
        fields["captions"] = [{"text": c.text, "similarity": float(c.similarity)} for c in prediction.captions]
        fields["candidates"] = [
            {
                "name": c.name,
                "image_score": float(c.image_score),
                "text_score": float(c.text_score),
                "score": float(c.score),
            }
            for c in prediction.candidates
        ]
    else:
        fields["mode"] = "zero-shot"
    return {"mode": fields.pop("mode"), **fields}


def stream_predictions(
    paths: Sequence,
    predict: Callable[[list, list[str]], list],
    to_fields: Callable[[object], dict],
    *,
    chunk_size: int = CHUNK_SIZE,
    skip_errors: bool = False,
    max_pixels: int | None = None,
    min_side: int | None = None,
) -> Iterator[dict]:
    """Decode ``paths`` a chunk at a time, call ``predict(images, sources)`` on each chunk and yield result items
    in input order (skipped inputs as items with ``error`` set). Only one chunk of pixels is alive at a time."""
    from tqdm.auto import tqdm

    from vocabfree.images import iter_image_batches

    with tqdm(total=len(paths), unit="img", disable=None, leave=False, file=sys.stderr) as bar:
        for batch in iter_image_batches(
            paths, batch_size=chunk_size, skip_errors=skip_errors, max_pixels=max_pixels, min_side=min_side
        ):
            sources = [str(paths[i]) for i in batch.indices]
            outputs = predict(batch.images, sources) if batch.images else []
            items = {
                i: result_item(s, None, **to_fields(o)) for i, s, o in zip(batch.indices, sources, outputs, strict=True)
            }
            items |= {s.index: result_item(str(paths[s.index]), s.reason) for s in batch.skipped}
            del batch, outputs
            for index in sorted(items):
                yield items[index]
            bar.update(len(items))


def emit_results(
    command: str,
    model: str | None,
    items: Iterable[dict],
    *,
    fmt: str,
    table: Callable[[dict], Iterable[Sequence[object]]] | None = None,
    header: Sequence[str] = (),
) -> None:
    """Print result items in ``fmt`` (``table``/``json``/``jsonl``) as the contract says; errors also go to stderr
    as ``skipped: ...`` lines. ``table(item)`` gives the table rows of one successful item. Raises (exit 1)
    when there were inputs and every one failed."""
    from vocabfree.errors import VocabfreeError

    collected: list[dict] = []
    rows: list[Sequence[object]] = []
    total = failed = 0
    for item in items:
        total += 1
        if item.get("error"):
            failed += 1
            warn_skipped(item["error"])
        if fmt == "jsonl":
            typer.echo(json.dumps(item, ensure_ascii=False, default=str))
            sys.stdout.flush()
        elif fmt == "json":
            collected.append(item)
        elif not item.get("error") and table is not None:
            rows.extend(table(item))
    if fmt == "json":
        print_json({"command": command, "model": model, "results": collected})
    elif fmt == "table" and header and total > failed:
        print_table(rows, header)
    if total and failed == total:
        raise VocabfreeError(f"all {total} input(s) failed; nothing to report")


def load_model_from_options(model: str, device: str | None = None, precision: str = "auto"):
    from vocabfree.models import load_model

    return load_model(model, device=device, precision=precision)


def default_command_group(default: str) -> type:
    """A typer group class that routes ``noun ARGS`` (no sub-command named) to ``noun DEFAULT ARGS``, as
    ``vocabfree caption photo.jpg`` means ``vocabfree caption generate photo.jpg``."""
    from typer.core import TyperGroup

    class DefaultCommandGroup(TyperGroup):
        def parse_args(self, ctx, args: list[str]) -> list[str]:
            if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
                args = [default, *args]
            return super().parse_args(ctx, args)

    return DefaultCommandGroup
