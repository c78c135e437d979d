"""``vocabfree db build|info|search``: caption databases for vocabulary-free classification."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vocabfree.cli._output import (
    DeviceOption,
    JsonOption,
    PrecisionOption,
    load_model_from_options,
    print_json,
    print_table,
)
from vocabfree.models import DEFAULT_MODEL


def _sources(corpora: list[Path], builtin: list[str], column: str | None):
    """Corpus files and built-in corpora (``--corpus wordnet``) as ``CorpusSource`` objects."""
    from vocabfree.database import corpus_from_texts, read_corpus
    from vocabfree.errors import InvalidInputError
    from vocabfree.vocabulary import BUILTIN_CORPORA

    sources = [read_corpus(p, column=column) for p in corpora]
    for name in builtin:
        if name not in BUILTIN_CORPORA:
            raise InvalidInputError(f"unknown built-in corpus '{name}'; available: {', '.join(BUILTIN_CORPORA)}")
        sources.append(corpus_from_texts(f"builtin:{name}", BUILTIN_CORPORA[name]()))
    if not sources:
        raise typer.BadParameter("give corpus files and/or --corpus NAME (built-in: wordnet)")
    return sources


def register(app: typer.Typer) -> None:
    db_app = typer.Typer(no_args_is_help=True, help="Build, inspect and search caption databases.")
    app.add_typer(db_app, name="db")

    @db_app.command("build")
    def build(
        out: Annotated[Path, typer.Option("--out", "-o", help="Database directory to create.")],
        corpora: Annotated[list[Path] | None, typer.Argument(
            help="Caption files: .txt (one per line), .csv/.tsv, .jsonl, .parquet.")] = None,
        corpus: Annotated[list[str] | None, typer.Option(
            "--corpus", help="Built-in offline corpus (repeatable): wordnet.")] = None,
        model: Annotated[str, typer.Option("--model", "-m", help="Model that embeds the captions.")] = DEFAULT_MODEL,
        column: Annotated[str | None, typer.Option(
            help="Caption column of .csv/.tsv/.jsonl/.parquet (default: caption, text, ...).")] = None,
        index: Annotated[str, typer.Option(help="flat (exact), ivfpq or hnsw (large corpora).")] = "flat",
        chunk_size: Annotated[int, typer.Option(min=1, help="Captions per resumable chunk.")] = 4096,
        batch_size: Annotated[int, typer.Option(min=1, help="Texts per encoder forward pass.")] = 256,
        resume: Annotated[bool, typer.Option(help="Continue an interrupted build of --out.")] = False,
        overwrite: Annotated[bool, typer.Option(
            help="Replace an existing database (after the new one is done).")] = False,
        device: DeviceOption = None,
        precision: PrecisionOption = "auto",
        json_: JsonOption = False,
    ) -> None:
        """Embed caption corpora with a model and write a searchable database (resumable, atomic)."""
        from vocabfree.database import INDEX_KINDS, BuildConfig, IndexConfig, build_database

        if index not in INDEX_KINDS:
            raise typer.BadParameter(f"--index must be one of {', '.join(INDEX_KINDS)}")
        sources = _sources(list(corpora or []), list(corpus or []), column)
        vlm = load_model_from_options(model, device, precision)
        config = BuildConfig(chunk_size=chunk_size, batch_size=batch_size, index=IndexConfig(kind=index))
        report = build_database(vlm, sources, out, config=config, resume=resume, overwrite=overwrite,
                                progress=not json_)
        result = {
            "path": str(report.path), "model": vlm.name, "captions": report.count,
            "encoded": report.encoded, "chunks_reused": report.chunks_reused,
            "seconds": round(report.seconds, 2), "captions_per_second": round(report.captions_per_second, 1),
        }
        if json_:
            print_json(result)
        else:
            print_table(list(result.items()), ("field", "value"))

    @db_app.command("info")
    def info(
        path: Annotated[Path, typer.Argument(help="Database directory.")],
        json_: JsonOption = False,
    ) -> None:
        """Show a database's manifest (model, size, index, corpora) after checking it opens."""
        from dataclasses import asdict

        from vocabfree.database import CaptionDatabase

        db = CaptionDatabase.open(path)
        data = asdict(db.manifest)
        data["path"] = str(path)
        if json_:
            print_json(data)
            return
        rows = [(k, v) for k, v in data.items() if k not in ("corpora", "files", "index")]
        rows.append(("index", ", ".join(f"{k}={v}" for k, v in data["index"].items())))
        rows += [(f"corpus {i + 1}", f"{c['name']} ({c['texts']} texts, sha256 {c['sha256'][:12]})")
                 for i, c in enumerate(data["corpora"])]
        print_table(rows, ("field", "value"))

    @db_app.command("search")
    def search(
        path: Annotated[Path, typer.Argument(help="Database directory.")],
        text: Annotated[str | None, typer.Option(help="Query text.")] = None,
        image: Annotated[Path | None, typer.Option(help="Query image.")] = None,
        k: Annotated[int, typer.Option("-k", "--k", min=1, help="Captions to return.")] = 10,
        dedup: Annotated[bool, typer.Option(help="Drop near-duplicate captions (inner product >= 0.94).")] = False,
        model: Annotated[str | None, typer.Option(
            "--model", "-m", help="Query model (default: the database's own).")] = None,
        device: DeviceOption = None,
        precision: PrecisionOption = "auto",
        json_: JsonOption = False,
    ) -> None:
        """Nearest captions to a text or an image."""
        from vocabfree.database import DEDUP_THRESHOLD, CaptionDatabase, read_manifest

        if (text is None) == (image is None):
            raise typer.BadParameter("give exactly one of --text or --image")
        vlm = load_model_from_options(model or read_manifest(path).model, device, precision)
        db = CaptionDatabase.open(path, model=vlm)
        query = vlm.encode_texts([text]) if text is not None else vlm.encode_images([image])
        hits = db.search(query, k, dedup_threshold=DEDUP_THRESHOLD if dedup else None)[0]
        rows = [{"rank": r + 1, "id": int(i), "similarity": float(s), "caption": c}
                for r, (i, s, c) in enumerate(zip(hits.ids, hits.similarities, hits.captions, strict=True))]
        if json_:
            print_json(rows)
        else:
            print_table([tuple(r.values()) for r in rows], ("rank", "id", "similarity", "caption"))
