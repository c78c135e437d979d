"""``vocabfree fewshot fit|predict``: a linear probe on frozen image features."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vocabfree.cli._output import (
    DEFAULT_MAX_PIXELS,
    ChunkOption,
    DeviceOption,
    JsonlOption,
    JsonOption,
    MaxPixelsOption,
    ModelOption,
    PrecisionOption,
    SkipErrorsOption,
    emit_results,
    load_model_from_options,
    output_format,
    prediction_fields,
    print_table,
    result_item,
    stream_predictions,
    usage_error,
)


def _table(item: dict):
    return [(item["source"], rank + 1, p["label"], p["score"]) for rank, p in enumerate(item["predictions"])]


def register(app: typer.Typer) -> None:
    fewshot_app = typer.Typer(
        no_args_is_help=True, rich_markup_mode=None, help="Few-shot linear probe on frozen image features."
    )
    app.add_typer(fewshot_app, name="fewshot")

    @fewshot_app.command()
    def fit(
        train: Annotated[Path, typer.Option(help="Labelled CSV (path,label) or a folder-per-class directory.")],
        out: Annotated[Path, typer.Option(help="Where to write the probe (.npz).")],
        model: ModelOption = None,
        shots: Annotated[int | None, typer.Option(min=1, help="Use only the first N images per class.")] = None,
        features: Annotated[
            str, typer.Option(help="auto (backbone where the model has it), embedding (aligned) or backbone (pooled).")
        ] = "auto",
        batch_size: Annotated[int, typer.Option(min=1)] = 32,
        device: DeviceOption = None,
        precision: PrecisionOption = "auto",
        json_: JsonOption = False,
    ) -> None:
        """Fit a logistic-regression probe (C chosen by cross-validation) and save it (it records the model)."""
        from vocabfree.classify.few_shot import FewShotClassifier
        from vocabfree.data import read_labelled
        from vocabfree.models import DEFAULT_MODEL

        if features not in ("auto", "embedding", "backbone"):
            raise usage_error(f"--features must be auto, embedding or backbone, not {features!r}")
        data = read_labelled(train)
        if shots is not None:
            data = data.subset(per_class=shots)
        vlm = load_model_from_options(model or DEFAULT_MODEL, device, precision)
        probe = FewShotClassifier(vlm, features=features, batch_size=batch_size, progress=not json_)
        probe.fit(list(data.paths), list(data.labels))
        probe.save(out)
        info = {
            "probe": str(out),
            "n_images": len(data),
            "n_classes": len(probe.classes_),
            "C": probe.C_,
            "features": probe.features_,
        }
        if json_:
            emit_results("fewshot fit", vlm.name, [result_item(str(train), None, **info)], fmt="json")
        else:
            print_table([("model", vlm.name), *info.items()], ("field", "value"))

    @fewshot_app.command()
    def predict(
        images: Annotated[list[str], typer.Argument(help="Image files, directories or glob patterns.")],
        probe: Annotated[Path, typer.Option(help="Probe file written by 'vocabfree fewshot fit'.")],
        model: ModelOption = None,
        top_k: Annotated[int, typer.Option("--top-k", "-k", min=1)] = 5,
        chunk_size: ChunkOption = 32,
        skip_errors: SkipErrorsOption = False,
        max_pixels: MaxPixelsOption = DEFAULT_MAX_PIXELS,
        device: DeviceOption = None,
        precision: PrecisionOption = "auto",
        json_: JsonOption = False,
        jsonl: JsonlOption = False,
    ) -> None:
        """Classify images with a saved probe (with the model it was fitted on; --model only to double-check)."""
        from vocabfree.classify.few_shot import FewShotClassifier
        from vocabfree.images import expand_paths
        from vocabfree.models import model_for_artefact

        fmt = output_format(json_, jsonl)
        saved = FewShotClassifier.load(probe)
        name = model_for_artefact(model, saved.model_name_, f"probe {probe}")
        paths = expand_paths(images)
        vlm = load_model_from_options(name, device, precision)
        clf = FewShotClassifier.load(probe, model=vlm)
        items = stream_predictions(
            paths,
            lambda pil, src: clf.predict_topk(pil, k=top_k, sources=src),
            prediction_fields,
            chunk_size=chunk_size,
            skip_errors=skip_errors,
            max_pixels=max_pixels,
            min_side=getattr(vlm, "image_size", None) or 224,
        )
        emit_results(
            "fewshot predict", vlm.name, items, fmt=fmt, table=_table, header=("image", "rank", "label", "score")
        )
