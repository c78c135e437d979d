"""``vocabfree classify IMAGES...``: zero-shot over given labels, or vocabulary-free with a caption database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vocabfree.cli._jobs import EngineOption, OutputOption, RayAddressOption
from vocabfree.cli._output import (
    CalibrateOption,
    DescribeOption,
    DeviceOption,
    JsonOption,
    ModelOption,
    PrecisionOption,
    calibrate_flag,
    load_model_from_options,
    print_json,
    print_table,
    report_skipped,
)
from vocabfree.models import DEFAULT_MODEL


def read_labels(labels: str | None, labels_file: Path | None) -> list[str]:
    """Labels from ``--labels a,b,c`` or a file with one label per line (blank lines ignored)."""
    from vocabfree.errors import InvalidInputError

    if labels and labels_file:
        raise typer.BadParameter("give --labels or --labels-file, not both")
    if labels_file is not None:
        if not labels_file.is_file():
            raise InvalidInputError(f"{labels_file}: labels file not found")
        return [line.strip() for line in labels_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [label.strip() for label in (labels or "").split(",") if label.strip()]


def load_inputs(images: list[str], skip_errors: bool):
    """Expand paths/dirs/globs and decode them; returns (PIL images, their source names)."""
    from vocabfree.images import expand_paths, load_images

    paths = expand_paths(images)
    pil, kept, skipped = load_images(paths, skip_errors=skip_errors)
    report_skipped(skipped)
    return pil, [str(paths[i]) for i in kept]


def register(app: typer.Typer) -> None:
    @app.command()
    def classify(
        images: Annotated[list[str], typer.Argument(help="Image files, directories (recursive) or glob patterns.")],
        labels: Annotated[str | None, typer.Option(help="Comma-separated class names (zero-shot).")] = None,
        labels_file: Annotated[Path | None, typer.Option(help="File with one class name per line.")] = None,
        templates: Annotated[str, typer.Option(help="openai (80), openai-7, photo, none, or a file.")] = "openai",
        describe: DescribeOption = "auto",
        calibrate: CalibrateOption = "auto",
        vocabulary_free: Annotated[
            bool, typer.Option("--vocabulary-free", help="No labels: name the image from a caption database.")
        ] = False,
        db: Annotated[Path | None, typer.Option(help="Caption database directory (vocabulary-free).")] = None,
        method: Annotated[str, typer.Option(help="Vocabulary-free method (cased or a baseline).")] = "cased",
        top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Answers per image.")] = 5,
        model: ModelOption = DEFAULT_MODEL,
        batch_size: Annotated[int, typer.Option(min=1)] = 32,
        skip_errors: Annotated[bool, typer.Option(help="Skip unreadable images (reported on stderr).")] = False,
        device: DeviceOption = None,
        precision: PrecisionOption = "auto",
        evidence: Annotated[bool, typer.Option(help="Vocabulary-free: also print retrieved captions.")] = False,
        json_: JsonOption = False,
        output: OutputOption = None,
        engine: EngineOption = "local",
        ray_address: RayAddressOption = None,
    ) -> None:
        """Classify images: zero-shot over --labels, or --vocabulary-free with --db (no class list)."""
        label_list = read_labels(labels, labels_file)
        if vocabulary_free == bool(label_list):
            raise typer.BadParameter("give either --labels/--labels-file (zero-shot) or --vocabulary-free --db DIR")
        if vocabulary_free and db is None:
            raise typer.BadParameter("--vocabulary-free needs --db DIR (build one with 'vocabfree db build')")
        if output is not None or engine != "local":  # a batch job: parquet parts, resumable (cli/_jobs.py)
            from vocabfree.cli._jobs import classify_job

            return classify_job(images, output, engine, ray_address, json_=json_, batch_size=batch_size,
                                model=model, labels=label_list, db=str(db) if vocabulary_free else None,
                                method=method, templates=templates, descriptions=describe,
                                calibrate=calibrate_flag(calibrate), top_k=top_k, device=device, precision=precision)
        pil, sources = load_inputs(images, skip_errors)
        vlm = load_model_from_options(model, device, precision)
        if vocabulary_free:
            from vocabfree.classify.vocabulary_free import predict_vocabulary_free

            predictions = predict_vocabulary_free(vlm, db, pil, method=method, top_k=top_k, sources=sources,
                                                  batch_size=batch_size)
        else:
            from vocabfree.classify.zero_shot import ZeroShotClassifier

            clf = ZeroShotClassifier(vlm, templates=templates, descriptions=describe,
                                     calibrate=calibrate_flag(calibrate), batch_size=batch_size)
            clf.fit(None, label_list)
            predictions = clf.predict_topk(pil, k=top_k, sources=sources)
        if json_:
            print_json([p.to_dict() for p in predictions])
            return
        rows = [
            (p.source, rank + 1, label, score)
            for p in predictions
            for rank, (label, score) in enumerate(zip(p.labels, p.scores, strict=True))
        ]
        print_table(rows, ("image", "rank", "label", "score"))
        if evidence:
            for p in predictions:
                for c in getattr(p, "captions", ()):
                    typer.echo(f"{p.source}\t{c.similarity:.3f}\t{c.text}")
