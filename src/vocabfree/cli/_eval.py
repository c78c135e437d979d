"""``vocabfree eval zero-shot|vocab-free``: benchmark a model on a labelled dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vocabfree.cli._output import (
    CalibrateOption,
    DescribeOption,
    DeviceOption,
    JsonOption,
    ModelOption,
    PrecisionOption,
    calibrate_flag,
    emit_results,
    load_model_from_options,
    print_table,
    result_item,
)


def register(app: typer.Typer) -> None:
    eval_app = typer.Typer(
        no_args_is_help=True, rich_markup_mode=None, help="Evaluate on a labelled dataset (path,label CSV)."
    )
    app.add_typer(eval_app, name="eval")

    @eval_app.command("zero-shot")
    def zero_shot(
        dataset: Annotated[Path, typer.Option(help="Labelled CSV (path,label) or folder-per-class directory.")],
        model: ModelOption = None,
        templates: Annotated[str, typer.Option(help="openai (80), openai-7, photo, none, or a file.")] = "openai",
        describe: DescribeOption = "auto",
        calibrate: CalibrateOption = "auto",
        limit: Annotated[int | None, typer.Option(min=1, help="Evaluate only the first N images.")] = None,
        batch_size: Annotated[int, typer.Option(min=1)] = 32,
        cache_dir: Annotated[Path | None, typer.Option(help="Cache image embeddings here (resumable).")] = None,
        device: DeviceOption = None,
        precision: PrecisionOption = "auto",
        json_: JsonOption = False,
    ) -> None:
        """Zero-shot top-1 / top-5 / cluster accuracy over the dataset's class names."""
        from vocabfree.cli._classify import check_zero_shot_options
        from vocabfree.data import read_labelled
        from vocabfree.evaluation import evaluate_zero_shot
        from vocabfree.models import DEFAULT_MODEL

        data = read_labelled(dataset)
        check_zero_shot_options(data.classes, templates, describe)
        calibration = calibrate_flag(calibrate)
        if limit is not None:
            data = data.subset(limit=limit)
        vlm = load_model_from_options(model or DEFAULT_MODEL, device, precision)
        result = evaluate_zero_shot(
            vlm,
            data,
            templates=templates,
            descriptions=describe,
            calibrate=calibration,
            batch_size=batch_size,
            cache_dir=cache_dir,
            progress=not json_,
        )
        if json_:
            emit_results("eval zero-shot", vlm.name, [result_item(str(dataset), None, **result)], fmt="json")
        else:
            print_table([(k, v) for k, v in result.items()], ("metric", "value"))

    try:  # the vocabulary-free evaluation lives with the CaSED code
        from vocabfree.cli._eval_vocab import register_eval
    except ImportError:
        return
    register_eval(eval_app)
