"""``vocabfree align``: train an alignment head joining EfficientNet-Lite and MiniLM on image-caption pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, cast

import typer

from vocabfree.cli._output import DeviceOption, JsonOption, PrecisionOption, print_json, print_table


def register(app: typer.Typer) -> None:
    """Add the ``align`` command to the main app."""

    @app.command("align")
    def align_command(
        data: Annotated[Path, typer.Argument(help="CSV of path,caption[,split] pairs or path,label images.")],
        out: Annotated[Path, typer.Option(help="Output stem: writes OUT.safetensors and OUT.json (model card).")],
        val: Annotated[Path | None, typer.Option(help="Validation CSV (default: DATA's 'val' split if any).")] = None,
        train_split: Annotated[
            str, typer.Option(help="Rows of DATA used for training, if it has a split column.")
        ] = "train",
        val_split: Annotated[str, typer.Option(help="Rows used for validation when --val is not given.")] = "val",
        arch: Annotated[str, typer.Option(help="Image encoder: lite0, lite1 or lite2.")] = "lite2",
        top_t: Annotated[int, typer.Option(min=1, help="ConSE: number of ImageNet classes mixed.")] = 10,
        name_prompt: Annotated[
            str, typer.Option(help="ConSE: how class names are written, e.g. 'a photo of a {}.'")
        ] = "{}",
        center: Annotated[bool, typer.Option(help="ConSE: subtract the mean class embedding (less hubness).")] = False,
        synonyms: Annotated[bool, typer.Option(help="ConSE: average the WordNet synonyms of each class.")] = False,
        temperature: Annotated[float, typer.Option(min=0.01, help="ConSE: softmax temperature on the logits.")] = 1.0,
        kind: Annotated[str, typer.Option(help="Image head: linear or mlp.")] = "mlp",
        hidden_dim: Annotated[int, typer.Option(min=1, help="MLP width.")] = 512,
        residual: Annotated[bool, typer.Option(help="Add the head to the ConSE embedding (starts at ConSE).")] = True,
        text_adapter: Annotated[bool, typer.Option(help="Train a residual linear map on the text side.")] = True,
        epochs: Annotated[int, typer.Option(min=1)] = 40,
        batch_size: Annotated[int, typer.Option(min=2)] = 128,
        lr: Annotated[float, typer.Option(min=0.0)] = 1e-3,
        weight_decay: Annotated[float, typer.Option(min=0.0)] = 0.05,
        seed: Annotated[int, typer.Option()] = 0,
        cache_dir: Annotated[Path | None, typer.Option(help="Cache frozen image features here.")] = None,
        notes: Annotated[str, typer.Option(help="Free text stored in the model card (data provenance...).")] = "",
        device: DeviceOption = None,
        precision: PrecisionOption = "auto",
        json_: JsonOption = False,
    ) -> None:
        """Train a small projection head (symmetric InfoNCE, learned temperature) on frozen-encoder features."""
        from vocabfree.models._runtime import Precision
        from vocabfree.models.align_train import AlignConfig, TrainConfig, align
        from vocabfree.models.alignment import HeadConfig
        from vocabfree.models.conse import ConseConfig

        config = AlignConfig(
            train_csv=data,
            out=out,
            val_csv=val,
            train_split=train_split,
            val_split=val_split,
            head=HeadConfig(
                arch=arch,
                conse=ConseConfig(
                    top_t=top_t, name_prompt=name_prompt, synonyms=synonyms, center=center, temperature=temperature
                ),
                kind=cast(Literal["linear", "mlp"], kind),  # HeadConfig checks it
                hidden_dim=hidden_dim,
                residual=residual,
                text_adapter=text_adapter,
            ),
            train=TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed),
            cache_dir=cache_dir,
            precision=cast(Precision, precision),
            device=device,
            notes=notes,
        )

        def show(epoch: int, row: dict) -> None:
            val_part = f"  val R@1 t2i {row['val_t2i_r1']:.1f}" if "val_t2i_r1" in row else ""
            typer.echo(f"epoch {epoch:3d}/{epochs}  loss {row['train_loss']:.4f}{val_part}", err=True)

        card = align(config, progress=not json_, on_epoch=None if json_ else show)
        if json_:
            print_json(card)
            return
        best = card["metrics"]["val"]
        rows = [
            ("files", ", ".join(card["files"])),
            ("train images", card["training_data"]["train_images"]),
            (
                "train loss first -> last",
                f"{card['loss_curve']['train_loss_first']:.4f} -> {card['loss_curve']['train_loss_last']:.4f}",
            ),
        ]
        rows += [(f"val {k[4:]}", v) for k, v in best.items() if k.startswith("val_")]
        print_table(rows, ("item", "value"))
