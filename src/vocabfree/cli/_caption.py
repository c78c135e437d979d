"""``vocabfree caption``: caption images, train decoders, evaluate them.

``vocabfree caption IMAGES [--checkpoint DIR]`` is shorthand for ``vocabfree caption generate IMAGES ...``;
without ``--checkpoint`` the captioner shipped in the package is used (offline).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vocabfree.cli._output import (
    DeviceOption,
    JsonOption,
    PrecisionOption,
    default_command_group,
    print_json,
    print_table,
    report_skipped,
    usage_error,
)

if TYPE_CHECKING:
    from vocabfree.caption.generation import DecodeConfig

CheckpointOption = Annotated[
    Path | None,
    typer.Option("--checkpoint", "-c", help="Trained caption checkpoint directory (default: the shipped captioner)."),
]


def captioner_name(captioner) -> str:
    """How JSON output names a captioner: ``shipped:<name>`` or the checkpoint directory."""
    from vocabfree.caption.shipped import SHIPPED_DIR, SHIPPED_NAME

    path = Path(captioner.meta.get("checkpoint", ""))
    return f"shipped:{SHIPPED_NAME}" if path.resolve() == SHIPPED_DIR.resolve() else str(path)


DEFAULT_BEAM = 3  # the CLI's beam size when neither --beam nor --top-p is given


def decode_options(
    beam: int | None,
    length_penalty: float,
    top_p: float | None,
    temperature: float,
    seed: int | None,
    max_len: int | None,
) -> DecodeConfig:
    """The command line's decoding options as a ``DecodeConfig`` (a conflict or bad value: usage error)."""
    from vocabfree.caption.generation import DecodeConfig
    from vocabfree.errors import InvalidInputError

    if beam is None:
        beam = 1 if top_p is not None else DEFAULT_BEAM
    try:
        return DecodeConfig(
            beam_size=beam,
            length_penalty=length_penalty,
            top_p=top_p,
            temperature=temperature,
            seed=seed,
            max_len=max_len,
        )
    except InvalidInputError as exc:  # beam_size is --beam, top_p is --top-p, and so on
        raise usage_error(str(exc)) from exc


def _generate(
    images: list[str],
    checkpoint: Path | None,
    decode: DecodeConfig,
    *,
    batch_size: int,
    skip_errors: bool,
    device: str | None,
    precision: str,
    json_: bool,
) -> None:
    from vocabfree.caption.captioner import Captioner
    from vocabfree.images import expand_paths, load_images

    paths = expand_paths(images)
    pil, kept, skipped = load_images(paths, skip_errors=skip_errors)
    report_skipped(skipped)
    captioner = Captioner.load(checkpoint, device=device, precision=precision)
    captions = []
    if pil:
        features = captioner.features(pil, batch_size=batch_size)
        captions = captioner.generate_from_features(features, decode, batch_size=batch_size)
    by_source = {str(paths[i]): c for i, c in zip(kept, captions, strict=True)}
    errors = {str(s.source): s.reason for s in skipped}
    results = [
        {
            "source": str(p),
            "error": errors.get(str(p)),
            "caption": by_source[str(p)].text if str(p) in by_source else None,
            "score": by_source[str(p)].score if str(p) in by_source else None,
            "method": "generated",
        }
        for p in paths
    ]
    if json_:
        print_json({"command": "caption", "model": captioner_name(captioner), "results": results})
    else:
        print_table(
            [(r["source"], r["caption"] if r["error"] is None else f"error: {r['error']}") for r in results],
            ["image", "caption"],
        )


def register(app: typer.Typer) -> None:
    caption_app = typer.Typer(
        cls=default_command_group("generate"),
        no_args_is_help=True,
        help="Caption images, train caption decoders, evaluate them.",
    )
    app.add_typer(caption_app, name="caption")

    @caption_app.command()
    def generate(
        images: Annotated[list[str], typer.Argument(help="Image files, directories (recursive) or glob patterns.")],
        checkpoint: CheckpointOption = None,
        beam: Annotated[
            int | None, typer.Option(min=1, help=f"Beam size (1 = greedy; default {DEFAULT_BEAM}, or 1 with --top-p).")
        ] = None,
        length_penalty: Annotated[float, typer.Option(help="Beam score = logprob / length**penalty.")] = 1.0,
        top_p: Annotated[
            float | None, typer.Option(help="Nucleus sampling with this top-p (not with --beam above 1).")
        ] = None,
        temperature: Annotated[float, typer.Option(help="Sampling temperature (with --top-p).")] = 1.0,
        seed: Annotated[int | None, typer.Option(help="Seed for sampling.")] = None,
        max_len: Annotated[int | None, typer.Option(min=1, help="Longest caption in tokens.")] = None,
        batch_size: Annotated[int, typer.Option(min=1)] = 32,
        skip_errors: Annotated[bool, typer.Option(help="Skip unreadable images (reported on stderr).")] = False,
        device: DeviceOption = None,
        precision: PrecisionOption = "auto",
        json_: JsonOption = False,
    ) -> None:
        """Caption images with a trained checkpoint (greedy, beam search or nucleus sampling)."""
        decode = decode_options(beam, length_penalty, top_p, temperature, seed, max_len)
        _generate(
            images,
            checkpoint,
            decode,
            batch_size=batch_size,
            skip_errors=skip_errors,
            device=device,
            precision=precision,
            json_=json_,
        )

    @caption_app.command()
    def train(
        config: Annotated[Path | None, typer.Option(help="JSON file with TrainConfig fields.")] = None,
        data: Annotated[str | None, typer.Option(help="Captions CSV or Karpathy JSON.")] = None,
        out_dir: Annotated[str | None, typer.Option(help="Checkpoint directory.")] = None,
        decoder: Annotated[str | None, typer.Option(help="own or prefix_lm.")] = None,
        image_model: Annotated[str | None, typer.Option(help="Frozen image model (load_model name).")] = None,
        image_root: Annotated[str | None, typer.Option(help="Image folder (Karpathy JSON).")] = None,
        epochs: Annotated[int | None, typer.Option(min=1)] = None,
        batch_size: Annotated[int | None, typer.Option(min=1)] = None,
        lr: Annotated[float | None, typer.Option(help="Peak learning rate.")] = None,
        max_steps: Annotated[int | None, typer.Option(min=1, help="Stop after this many steps.")] = None,
        seed: Annotated[int | None, typer.Option()] = None,
        device: Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:1.")] = None,
        precision: Annotated[str | None, typer.Option(help="auto, fp32, bf16, fp16.")] = None,
        resume: Annotated[bool, typer.Option(help="Continue the run in --out-dir from its state.pt.")] = False,
        json_: JsonOption = False,
    ) -> None:
        """Train a caption decoder (own transformer or prefix LM) on frozen image features."""
        import logging

        from vocabfree.caption.train import load_train_config
        from vocabfree.caption.train import train as run_training

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
        cfg = load_train_config(
            config,
            data=data,
            out_dir=out_dir,
            decoder=decoder,
            image_model=image_model,
            image_root=image_root,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            max_steps=max_steps,
            seed=seed,
            device=device,
            precision=precision,
        )
        result = run_training(cfg, resume=resume)
        summary = {
            "out_dir": str(result.out_dir),
            "best_epoch": result.best_epoch,
            "best_val_cider": result.best_cider,
            "train_seconds": round(result.train_seconds, 1),
            "history": result.history,
        }
        if json_:
            print_json(summary)
        else:
            typer.echo(
                f"checkpoint: {result.out_dir} (best epoch {result.best_epoch}, val CIDEr "
                f"{result.best_cider}, {result.train_seconds:.0f} s)"
            )

    @caption_app.command("eval")
    def eval_(
        data: Annotated[str, typer.Option(help="Captions CSV or Karpathy JSON.")],
        split: Annotated[list[str], typer.Option(help="Split(s) to evaluate (repeatable).")] = ["test"],  # noqa: B006
        checkpoint: Annotated[list[Path], typer.Option("--checkpoint", "-c", help="Checkpoint(s) (repeatable).")] = [],  # noqa: B006
        beam: Annotated[list[int], typer.Option(help="Beam size(s) (repeatable).")] = [1],  # noqa: B006
        baseline: Annotated[
            list[str],
            typer.Option(
                help="Also score a baseline: 'image' (caption of the nearest training image) or 'text' "
                "(nearest training caption in the aligned space). Repeatable."
            ),
        ] = [],  # noqa: B006
        image_model: Annotated[
            str | None, typer.Option(help="Image model for baselines (default: the first checkpoint's).")
        ] = None,
        clip_model: Annotated[str | None, typer.Option(help="Aligned model for CLIPScore, e.g. local.")] = None,
        image_root: Annotated[str | None, typer.Option(help="Image folder (Karpathy JSON).")] = None,
        feature_cache: Annotated[str | None, typer.Option(help="Feature cache folder.")] = "artifacts/caption/features",
        meteor: Annotated[bool, typer.Option(help="Compute METEOR (needs Java).")] = True,
        examples: Annotated[int, typer.Option(help="With --json: include this many captions per row.")] = 0,
        max_images: Annotated[
            int | None,
            typer.Option(min=1, help="Score only the first N images of each split (quick checks, slow decoders)."),
        ] = None,
        device: DeviceOption = None,
        precision: PrecisionOption = "auto",
        json_: JsonOption = False,
    ) -> None:
        """Score checkpoints (default: the shipped captioner) and baselines: BLEU-1..4, METEOR, ROUGE-L, CIDEr,
        CLIPScore."""
        from vocabfree.caption.captioner import Captioner
        from vocabfree.caption.evaluate import evaluate_checkpoint, evaluate_nearest
        from vocabfree.caption.generation import DecodeConfig
        from vocabfree.caption.shipped import shipped_checkpoint
        from vocabfree.errors import InvalidInputError
        from vocabfree.models import load_model

        checkpoint = list(checkpoint) or ([] if baseline else [shipped_checkpoint()])  # default: the shipped one
        models: dict[str, object] = {}

        def model(name: str):
            if name not in models:
                models[name] = load_model(name, device=device)
            return models[name]

        clip = model(clip_model) if clip_model else None
        reports = []
        for ck in checkpoint:
            from vocabfree.caption.checkpoint import read_meta

            captioner = Captioner.load(ck, model(read_meta(ck)["image_model"]), device=device, precision=precision)
            for s in split:
                for b in beam:
                    reports.append(
                        evaluate_checkpoint(
                            captioner,
                            data,
                            s,
                            decode=DecodeConfig(beam_size=b),
                            image_root=image_root,
                            feature_cache=feature_cache,
                            clip_model=clip,
                            name=f"{ck.name} (beam {b})",
                            meteor=meteor,
                            max_images=max_images,
                        )
                    )
        if baseline:
            from vocabfree.caption.checkpoint import read_meta

            name = image_model or (read_meta(checkpoint[0])["image_model"] if checkpoint else None)
            if name is None:
                raise InvalidInputError("--baseline needs --image-model (or a --checkpoint to take it from)")
            for s in split:
                for by in baseline:
                    if by not in ("image", "text"):
                        raise InvalidInputError(f"unknown baseline '{by}'; use image or text")
                    base_model = model(name) if by == "image" else (clip or model(name))
                    reports.append(
                        evaluate_nearest(
                            data,
                            s,
                            base_model,
                            by="image" if by == "image" else "text",  # checked above
                            image_root=image_root,
                            feature_cache=feature_cache,
                            clip_model=clip,
                            meteor=meteor,
                            max_images=max_images,
                        )
                    )
        if json_:
            rows = []
            for r in reports:
                row = r.as_dict(with_captions=examples > 0)
                if examples > 0:
                    row["captions"] = row["captions"][:examples]
                rows.append(row)
            print_json(rows)
            return
        header = ["captioner", "split", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "CLIPScore", "s"]
        print_table(
            [
                (
                    r.name,
                    r.split,
                    r.scores.bleu4,
                    "-" if r.scores.meteor is None else r.scores.meteor,
                    r.scores.rouge_l,
                    r.scores.cider,
                    "-" if r.clip_score is None else r.clip_score,
                    round(r.seconds, 1),
                )
                for r in reports
            ],
            header,
        )
        for note in sorted({n for r in reports for n in r.scores.notes}):
            typer.secho(f"note: {note}", fg=typer.colors.YELLOW, err=True)
