"""``vocabfree classify IMAGES...``: zero-shot over given labels, or vocabulary-free with a caption database.

Everything cheap (labels, templates, descriptions, the database's manifest, the input paths) is checked
before the model loads; images then stream through in chunks (``cli._output.stream_predictions``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vocabfree.classify.methods import DEFAULT_METHOD, METHOD_NAMES, METHODS
from vocabfree.cli._jobs import EngineOption, OutputOption, RayAddressOption
from vocabfree.cli._output import (
    DEFAULT_MAX_PIXELS,
    CalibrateOption,
    ChunkOption,
    DescribeOption,
    DeviceOption,
    JsonlOption,
    JsonOption,
    MaxPixelsOption,
    ModelOption,
    PrecisionOption,
    SkipErrorsOption,
    calibrate_flag,
    emit_results,
    load_model_from_options,
    output_format,
    prediction_fields,
    stream_predictions,
    usage_error,
)

if TYPE_CHECKING:
    from vocabfree.classify.results import Prediction


def read_labels(labels: str | None, labels_file: Path | None) -> list[str] | None:
    """Labels from ``--labels a,b,c`` or a file with one label per line (blank lines ignored); None if neither.

    Empty entries (``" , ,cat"``) and an empty list are usage errors, not silently dropped.
    """
    from vocabfree.errors import InvalidInputError

    if labels is not None and labels_file is not None:
        raise usage_error("give --labels or --labels-file, not both")
    if labels_file is not None:
        if not labels_file.is_file():
            raise InvalidInputError(f"{labels_file}: labels file not found")
        found = [line.strip() for line in labels_file.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
        if not found:
            raise usage_error(f"--labels-file {labels_file} has no labels (one per line)")
        return found
    if labels is None:
        return None
    parts = [label.strip() for label in labels.split(",")]
    if not any(parts):
        raise usage_error("--labels is empty; give comma-separated class names, e.g. --labels cat,dog")
    if not all(parts):
        raise usage_error(f"--labels {labels!r} has empty entries; give comma-separated non-empty class names")
    return parts


def check_zero_shot_options(labels: list[str], templates: str, describe: str) -> None:
    """Validate labels, ``--templates`` and a ``--describe`` file without any model (instant usage errors)."""
    from vocabfree.classify.templates import resolve_templates
    from vocabfree.classify.zero_shot import clean_labels, describe_labels
    from vocabfree.errors import InvalidInputError

    try:
        clean_labels(labels)
    except InvalidInputError as exc:
        raise usage_error(str(exc)) from exc
    if len(labels) < 2:
        raise usage_error(f"zero-shot needs at least two labels (with one, every image scores 1.0): {labels}")
    try:
        resolve_templates(templates)
    except InvalidInputError as exc:
        raise usage_error(f"--templates: {exc}") from exc
    if describe not in ("auto", "none", "wordnet"):
        try:
            describe_labels(describe, labels)
        except InvalidInputError as exc:
            raise usage_error(f"--describe: {exc}") from exc


def _vocabulary_free_model(model: str | None, db: Path) -> str:
    from vocabfree.database import read_manifest
    from vocabfree.models import model_for_artefact

    return model_for_artefact(model, read_manifest(db).model, f"database {db}")


def _table(item: dict):
    return [(item["source"], rank + 1, p["label"], p["score"]) for rank, p in enumerate(item["predictions"])]


def _with_evidence(item: dict):
    rows = _table(item)
    rows += [(item["source"], "caption", f"{c['similarity']:.3f}", c["text"]) for c in item.get("captions", ())]
    return rows


def register(app: typer.Typer) -> None:
    @app.command()
    def classify(
        images: Annotated[
            list[str],
            typer.Argument(metavar="IMAGES...", help="Image files, directories (recursive) or glob patterns."),
        ],
        labels: Annotated[str | None, typer.Option(help="Comma-separated class names (zero-shot).")] = None,
        labels_file: Annotated[Path | None, typer.Option(help="File with one class name per line.")] = None,
        templates: Annotated[str, typer.Option(help="openai (80), openai-7, photo, none, or a file.")] = "openai",
        describe: DescribeOption = "auto",
        calibrate: CalibrateOption = "auto",
        vocabulary_free: Annotated[
            bool, typer.Option("--vocabulary-free", help="No labels: name the image from a caption database.")
        ] = False,
        db: Annotated[Path | None, typer.Option(help="Caption database directory (vocabulary-free).")] = None,
        method: Annotated[
            str, typer.Option(help=f"Vocabulary-free method: {', '.join(METHOD_NAMES)}.")
        ] = DEFAULT_METHOD,
        top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Answers per image.")] = 5,
        model: ModelOption = None,
        batch_size: Annotated[int, typer.Option(min=1, help="Images per encoder forward pass.")] = 32,
        chunk_size: ChunkOption = 32,
        skip_errors: SkipErrorsOption = False,
        max_pixels: MaxPixelsOption = DEFAULT_MAX_PIXELS,
        device: DeviceOption = None,
        precision: PrecisionOption = "auto",
        evidence: Annotated[
            bool,
            typer.Option("--evidence", help="Vocabulary-free: also print the retrieved captions (always in JSON)."),
        ] = False,
        json_: JsonOption = False,
        jsonl: JsonlOption = False,
        output: OutputOption = None,
        engine: EngineOption = "local",
        ray_address: RayAddressOption = None,
    ) -> None:
        """Classify images: zero-shot over --labels, or --vocabulary-free with --db (no class list)."""
        from vocabfree.images import expand_paths
        from vocabfree.models import DEFAULT_MODEL

        fmt = output_format(json_, jsonl)
        label_list = read_labels(labels, labels_file)
        if vocabulary_free:
            if label_list is not None:
                raise usage_error(
                    "--vocabulary-free names images without labels; drop --labels/--labels-file "
                    "(or drop --vocabulary-free for zero-shot)"
                )
            if method not in METHODS:
                raise usage_error(f"unknown --method '{method}'; use one of {', '.join(METHOD_NAMES)}")
            if db is None and METHODS[method].needs_database:
                raise usage_error("--vocabulary-free needs --db DIR (build one with 'vocabfree db build')")
        else:
            if label_list is None:
                raise usage_error("give --labels/--labels-file (zero-shot) or --vocabulary-free --db DIR")
            if evidence:
                raise usage_error(
                    "--evidence shows the captions behind a vocabulary-free answer; it needs --vocabulary-free"
                )
            if db is not None:
                raise usage_error("--db is for --vocabulary-free; zero-shot uses --labels only")
            check_zero_shot_options(label_list, templates, describe)
        calibration = calibrate_flag(calibrate)
        name = _vocabulary_free_model(model, db) if db is not None else (model or DEFAULT_MODEL)
        if output is not None or engine != "local":  # a batch job: parquet parts, resumable (cli/_jobs.py)
            from vocabfree.cli._jobs import classify_job

            return classify_job(
                images,
                output,
                engine,
                ray_address,
                json_=json_,
                batch_size=batch_size,
                model=name,
                labels=label_list,
                db=str(db) if vocabulary_free else None,
                method=method,
                templates=templates,
                descriptions=describe,
                calibrate=calibration,
                top_k=top_k,
                device=device,
                precision=precision,
            )
        paths = expand_paths(images)
        vlm = load_model_from_options(name, device, precision)
        if vocabulary_free:
            from vocabfree.classify.methods import make_classifier
            from vocabfree.database import CaptionDatabase

            database = CaptionDatabase.open(db, model=vlm) if db is not None else None
            clf = make_classifier(method, vlm, database, batch_size=batch_size)
            predict: Callable[[list, list[str]], Sequence[Prediction]]
            predict = lambda pil, src: clf.predict(pil, top_k=top_k, sources=src)  # noqa: E731
        else:
            from vocabfree.classify.zero_shot import ZeroShotClassifier

            zs = ZeroShotClassifier(
                vlm, templates=templates, descriptions=describe, calibrate=calibration, batch_size=batch_size
            ).fit(None, label_list)
            predict = lambda pil, src: zs.predict_topk(pil, k=top_k, sources=src)  # noqa: E731
        items = stream_predictions(
            paths,
            predict,
            prediction_fields,
            chunk_size=chunk_size,
            skip_errors=skip_errors,
            max_pixels=max_pixels,
            min_side=getattr(vlm, "image_size", None) or 224,
        )
        emit_results(
            "classify",
            vlm.name,
            items,
            fmt=fmt,
            table=_with_evidence if evidence else _table,
            header=("image", "rank", "label", "score"),
        )
