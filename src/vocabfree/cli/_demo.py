"""``vocabfree demo``: the README's first run. Builds (once) an offline caption database from WordNet and names
scikit-image's sample photos with no class list. Run it again and the database is reused."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vocabfree.cli._output import (
    JsonlOption,
    JsonOption,
    emit_results,
    load_model_from_options,
    output_format,
    prediction_fields,
    stream_predictions,
    usage_error,
)
from vocabfree.models.cache import cache_home

SAMPLE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png")


def sample_photos() -> list[Path]:
    """scikit-image's sample photos (installed with the ``examples`` extra)."""
    try:
        from skimage.data import data_dir
    except ImportError as exc:
        from vocabfree.errors import MissingDependencyError

        raise MissingDependencyError(
            "the demo photos come with scikit-image: pip install 'vocabfree[examples]'"
        ) from exc
    return [Path(data_dir) / name for name in SAMPLE_PHOTOS]


def ensure_wordnet_database(model, out: Path, *, rebuild: bool = False) -> bool:
    """Build the WordNet caption database for ``model`` at ``out`` unless one built the same way is there.
    Returns True if it was built now. A folder made another way is an error (``--rebuild`` replaces it)."""
    from vocabfree.database import build_database, corpus_from_texts, read_manifest
    from vocabfree.errors import DatabaseError, InvalidInputError
    from vocabfree.vocabulary import BUILTIN_CORPORA

    if out.exists() and not rebuild:
        try:
            manifest = read_manifest(out)
        except DatabaseError:
            manifest = None
        if manifest and manifest.model == model.name and [c["name"] for c in manifest.corpora] == ["builtin:wordnet"]:
            return False
        made = f"with model '{manifest.model}'" if manifest else "not a complete database"
        raise InvalidInputError(f"{out} exists ({made}); pass --rebuild to replace it, or --db another folder")
    source = corpus_from_texts("builtin:wordnet", BUILTIN_CORPORA["wordnet"]())
    build_database(model, [source], out, overwrite=out.exists(), progress=True)
    return True


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        images: Annotated[
            list[str] | None, typer.Argument(help="Images to name (default: scikit-image's sample photos).")
        ] = None,
        model: Annotated[str, typer.Option("--model", "-m", help="Model (offline by default).")] = "local",
        db: Annotated[
            Path | None,
            typer.Option(help="Database folder (default: ~/.cache/vocabfree/db/wordnet-MODEL; reused when it exists)."),
        ] = None,
        rebuild: Annotated[bool, typer.Option("--rebuild", help="Rebuild the database even if it exists.")] = False,
        top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Answers per image.")] = 3,
        json_: JsonOption = False,
        jsonl: JsonlOption = False,
    ) -> None:
        """Name photos with no class list (CaSED over a WordNet caption database built once, offline)."""
        from vocabfree.classify.vocabulary_free import VocabularyFreeClassifier
        from vocabfree.database import CaptionDatabase
        from vocabfree.images import expand_paths

        fmt = output_format(json_, jsonl)
        if any(c in model for c in "/\\") and db is None:
            raise usage_error("--model with a path needs --db DIR")
        paths = expand_paths(images) if images else sample_photos()
        out = db or cache_home() / "db" / f"wordnet-{model.replace(':', '-')}"
        vlm = load_model_from_options(model)
        if ensure_wordnet_database(vlm, out, rebuild=rebuild):
            typer.secho(f"built {out}", err=True)
        else:
            typer.secho(f"reusing {out}", err=True)
        clf = VocabularyFreeClassifier(vlm, CaptionDatabase.open(out, model=vlm))
        items = stream_predictions(
            paths,
            lambda pil, src: clf.predict(pil, top_k=top_k, sources=src),
            prediction_fields,
            min_side=getattr(vlm, "image_size", None) or 224,
        )
        emit_results(
            "demo",
            vlm.name,
            items,
            fmt=fmt,
            header=("image", "rank", "label", "score"),
            table=lambda item: [
                (Path(item["source"]).name, r + 1, p["label"], p["score"]) for r, p in enumerate(item["predictions"])
            ],
        )
