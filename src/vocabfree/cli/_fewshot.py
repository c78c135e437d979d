"""``vocabfree fewshot fit|predict``: a linear probe on frozen image features."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vocabfree.cli._classify import load_inputs
from vocabfree.cli._output import (
    DeviceOption,
    JsonOption,
    ModelOption,
    PrecisionOption,
    load_model_from_options,
    print_json,
    print_table,
)
from vocabfree.models import DEFAULT_MODEL


def register(app: typer.Typer) -> None:
    fewshot_app = typer.Typer(no_args_is_help=True, help="Few-shot linear probe on frozen image features.")
    app.add_typer(fewshot_app, name="fewshot")

    @fewshot_app.command()
    def fit(
        train: Annotated[Path, typer.Option(help="Labelled CSV (path,label) or a folder-per-class directory.")],
        out: Annotated[Path, typer.Option(help="Where to write the probe (.npz).")],
        model: ModelOption = DEFAULT_MODEL,
        shots: Annotated[int | None, typer.Option(min=1, help="Use only the first N images per class.")] = None,
        features: Annotated[str, typer.Option(
            help="auto (backbone where the model has it), embedding (aligned) or backbone (pooled)."
        )] = "auto",
        batch_size: Annotated[int, typer.Option(min=1)] = 32,
        device: DeviceOption = None,
        precision: PrecisionOption = "auto",
        json_: JsonOption = False,
    ) -> None:
        """Fit a logistic-regression probe (C chosen by cross-validation) and save it."""
        from vocabfree.classify.few_shot import FewShotClassifier
        from vocabfree.data import read_labelled

        data = read_labelled(train)
        if shots is not None:
            data = data.subset(per_class=shots)
        vlm = load_model_from_options(model, device, precision)
        probe = FewShotClassifier(vlm, features=features, batch_size=batch_size, progress=True)
        probe.fit(list(data.paths), list(data.labels))
        probe.save(out)
        info = {"probe": str(out), "model": vlm.name, "n_images": len(data), "n_classes": len(probe.classes_),
                "C": probe.C_, "features": probe.features_}
        if json_:
            print_json(info)
        else:
            print_table(list(info.items()), ("field", "value"))

    @fewshot_app.command()
    def predict(
        images: Annotated[list[str], typer.Argument(help="Image files, directories or glob patterns.")],
        probe: Annotated[Path, typer.Option(help="Probe file written by 'vocabfree fewshot fit'.")],
        model: ModelOption = DEFAULT_MODEL,
        top_k: Annotated[int, typer.Option("--top-k", "-k", min=1)] = 5,
        skip_errors: Annotated[bool, typer.Option(help="Skip unreadable images (reported on stderr).")] = False,
        device: DeviceOption = None,
        precision: PrecisionOption = "auto",
        json_: JsonOption = False,
    ) -> None:
        """Classify images with a saved probe (the model must be the one it was fitted on)."""
        from vocabfree.classify.few_shot import FewShotClassifier

        vlm = load_model_from_options(model, device, precision)
        clf = FewShotClassifier.load(probe, model=vlm)
        pil, sources = load_inputs(images, skip_errors)
        predictions = clf.predict_topk(pil, k=top_k, sources=sources)
        if json_:
            print_json([p.to_dict() for p in predictions])
        else:
            rows = [
                (p.source, r + 1, label, score)
                for p in predictions
                for r, (label, score) in enumerate(zip(p.labels, p.scores, strict=True))
            ]
            print_table(rows, ("image", "rank", "label", "score"))
