"""``vocabfree vqa``: answer questions about images, train the answer generator, evaluate it.

``vocabfree vqa IMAGES --question "..."`` is shorthand for ``vocabfree vqa ask IMAGES --question "..."``.
Without ``--checkpoint`` the model shipped in the package answers (offline).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vocabfree.cli._output import (
    DeviceOption,
    JsonOption,
    default_command_group,
    print_json,
    print_table,
    report_skipped,
)

CheckpointOption = Annotated[
    Path | None,
    typer.Option("--checkpoint", "-c", help="Trained VQA checkpoint directory (default: the shipped model)."),
]


def read_question_file(path: Path) -> list[tuple[str | None, str]]:
    """``(image or None, question)`` rows: JSONL with ``question`` (and optional ``image``, relative to the
    file), or plain text with one question per line (asked of every image)."""
    from vocabfree.errors import InvalidInputError

    if not path.is_file():
        raise InvalidInputError(f"questions file {path} does not exist")
    from vocabfree.data.jsonl import iter_jsonl

    lines = path.read_text(encoding="utf-8").splitlines()
    rows: list[tuple[str | None, str]] = []
    if path.suffix == ".jsonl":
        for n, obj in iter_jsonl(lines, path):
            if not isinstance(obj, dict):
                raise InvalidInputError(f"{path}:{n}: not a JSON object")
            if "question" not in obj:
                raise InvalidInputError(f"{path}:{n}: no 'question' field")
            image = obj.get("image")
            rows.append((str(path.parent / image) if image else None, str(obj["question"])))
    else:
        rows = [(None, line.strip()) for line in lines if line.strip()]
    if not rows:
        raise InvalidInputError(f"questions file {path} holds no questions")
    return rows


def _pairs(images: list[str], question: list[str], questions: Path | None) -> list[tuple[str, str]]:
    """Every (image, question) to answer: each question of --question/--questions about each image, and the
    image-specific rows of a JSONL questions file."""
    from vocabfree.errors import InvalidInputError
    from vocabfree.images import expand_paths

    asked = list(question)
    fixed: list[tuple[str, str]] = []
    for image, q in read_question_file(questions) if questions else []:
        (fixed.append((image, q)) if image else asked.append(q))
    if not asked and not fixed:
        raise InvalidInputError("no question: give --question TEXT or --questions FILE")
    paths = [str(p) for p in expand_paths(images)] if images else []
    if asked and not paths:
        raise InvalidInputError("questions without images: give image files or folders")
    return [(p, q) for p in paths for q in asked] + fixed


def register(app: typer.Typer) -> None:
    vqa_app = typer.Typer(
        cls=default_command_group("ask"),
        no_args_is_help=True,
        help="Answer questions about images, train the VQA model, evaluate it.",
    )
    app.add_typer(vqa_app, name="vqa")

    @vqa_app.command()
    def ask(
        images: Annotated[list[str] | None, typer.Argument(help="Image files, directories or glob patterns.")] = None,
        question: Annotated[list[str], typer.Option("--question", "-q", help="A question (repeatable).")] = [],  # noqa: B006
        questions: Annotated[
            Path | None, typer.Option(help="Questions file: one per line, or JSONL rows with 'question' (and 'image').")
        ] = None,
        checkpoint: CheckpointOption = None,
        blind: Annotated[bool, typer.Option(help="Zero the image tokens (the model's no-image baseline).")] = False,
        skip_errors: Annotated[bool, typer.Option(help="Report unreadable images as rows and go on.")] = False,
        device: DeviceOption = None,
        json_: JsonOption = False,
    ) -> None:
        """Answer each question about each image."""
        from vocabfree.images import load_images
        from vocabfree.vqa import VQAModel

        pairs = _pairs(images or [], question, questions)
        model = VQAModel.load(checkpoint, device=device)
        distinct = list(dict.fromkeys(p for p, _ in pairs))
        pil, kept, skipped = load_images(distinct, skip_errors=skip_errors)
        report_skipped(skipped)
        loaded = {distinct[i]: im for i, im in zip(kept, pil, strict=True)}
        errors = {s.source: s.reason for s in skipped}
        ok = [(p, q) for p, q in pairs if p in loaded]
        answers = model.answer([loaded[p] for p, _ in ok], [q for _, q in ok], blind=blind) if ok else []
        by_pair = {(p, q): a.answer for (p, q), a in zip(ok, answers, strict=True)}
        results = [
            {"source": p, "error": errors.get(p), "question": q, "answer": by_pair.get((p, q))} for p, q in pairs
        ]
        if json_:
            print_json({"command": "vqa", "model": model.name, "results": results})
        else:
            print_table(
                [
                    (r["source"], r["question"], r["answer"] if r["error"] is None else f"error: {r['error']}")
                    for r in results
                ],
                ["image", "question", "answer"],
            )

    @vqa_app.command()
    def train(
        config: Annotated[Path | None, typer.Option(help="JSON file with VQATrainConfig fields.")] = None,
        data: Annotated[str | None, typer.Option(help="VQA questions JSONL (its train split is used).")] = None,
        captions: Annotated[str | None, typer.Option(help="Captions CSV to derive QA pairs from.")] = None,
        out_dir: Annotated[str | None, typer.Option(help="Checkpoint directory.")] = None,
        image_model: Annotated[str | None, typer.Option(help="Frozen image model (load_model name).")] = None,
        total_steps: Annotated[int | None, typer.Option(min=1, help="Length of the run and its schedule.")] = None,
        max_steps: Annotated[int | None, typer.Option(min=1, help="Stop at this step (resume later).")] = None,
        batch_size: Annotated[int | None, typer.Option(min=1)] = None,
        lr: Annotated[float | None, typer.Option(help="Peak learning rate.")] = None,
        seed: Annotated[int | None, typer.Option()] = None,
        resume: Annotated[bool, typer.Option(help="Continue the run in --out-dir from its state.pt.")] = False,
        json_: JsonOption = False,
    ) -> None:
        """Train the answer generator on VQA train questions plus QA pairs derived from captions."""
        import logging

        from vocabfree.vqa.train import load_train_config
        from vocabfree.vqa.train import train as run_training

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
        cfg = load_train_config(
            config,
            data=data,
            captions=captions,
            out_dir=out_dir,
            image_model=image_model,
            total_steps=total_steps,
            max_steps=max_steps,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
        )
        result = run_training(cfg, resume=resume)
        summary = {"out_dir": cfg.out_dir, "step": result["step"], "best": result["best"], "history": result["history"]}
        if json_:
            print_json(summary)
        else:
            typer.echo(f"checkpoint: {cfg.out_dir} (step {result['step']}, best {result['best']})")

    @vqa_app.command("eval")
    def eval_(
        data: Annotated[str, typer.Option(help="VQA questions JSONL.")] = "../shared/data/vqa/questions.jsonl",
        split: Annotated[str, typer.Option(help="Split to score.")] = "test",
        checkpoint: CheckpointOption = None,
        baselines: Annotated[
            bool, typer.Option(help="Also score always-yes, the prefix prior and the blind model.")
        ] = True,
        token_cache: Annotated[
            str, typer.Option(help="Image-token cache folder ('' for none).")
        ] = "artifacts/vqa/tokens",
        predictions: Annotated[bool, typer.Option(help="With --json: include every answer.")] = False,
        device: DeviceOption = None,
        json_: JsonOption = False,
    ) -> None:
        """Standard VQA accuracy (overall and per answer type) of the model beside the baselines."""
        from vocabfree.vqa import VQAModel, read_questions
        from vocabfree.vqa.evaluate import evaluate_baselines, evaluate_model

        model = VQAModel.load(checkpoint, device=device)
        reports = evaluate_model(
            model, data, split, blind=None if baselines else False, token_cache=token_cache or None
        )
        if baselines:
            reports += evaluate_baselines(data, split)
        if json_:
            questions = read_questions(data, split) if predictions else []
            main = reports[0]
            print_json(
                {
                    "command": "vqa eval",
                    "model": model.name,
                    "data": data,
                    "split": split,
                    "accuracy": main.scores.accuracy,
                    "by_answer_type": main.scores.by_answer_type,
                    "count": main.scores.count,
                    "rows": [r.as_dict(with_predictions=predictions, questions=questions) for r in reports],
                }
            )
            return
        types = sorted({t for r in reports for t in r.scores.by_answer_type})
        print_table(
            [
                (
                    r.name,
                    r.split,
                    r.scores.accuracy,
                    *(r.scores.by_answer_type.get(t, 0.0) for t in types),
                    r.scores.count,
                )
                for r in reports
            ],
            ["model", "split", "accuracy", *types, "questions"],
        )
