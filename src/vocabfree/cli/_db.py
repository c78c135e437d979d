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


def _sources(corpora: list[str], builtin: list[str], column: str | None):
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


def _build_config(index: str, index_memory: str, shard_size: int, batch_size: int):
    from vocabfree.database import INDEX_KINDS, BuildConfig, IndexConfig, parse_size

    if index not in INDEX_KINDS:
        raise typer.BadParameter(f"--index must be one of {', '.join(INDEX_KINDS)}")
    return BuildConfig(
        shard_size=shard_size, batch_size=batch_size, index=IndexConfig(kind=index, memory=parse_size(index_memory))
    )


def _print_report(report, model: str | None, json_: bool) -> None:
    index = report.index
    result = {
        "path": str(report.path),
        "model": model,
        "captions": report.count,
        "duplicates_dropped": report.duplicates,
        "encoded": report.encoded,
        "shards_reused": report.shards_reused,
        "index": index.get("factory", index.get("kind")),
        "nprobe": index.get("nprobe", index.get("ef_search")),
        "tuned_recall_at_10": index.get("tuned_recall_at_10"),
        "seconds": round(report.seconds, 2),
        "captions_per_second": round(report.captions_per_second, 1),
    }
    result = {k: v for k, v in result.items() if v is not None and v == v}  # v != v: NaN (nothing encoded)
    if json_:
        print_json(result)
    else:
        print_table(list(result.items()), ("field", "value"))


def register(app: typer.Typer) -> None:
    db_app = typer.Typer(no_args_is_help=True, help="Build, inspect and search caption databases.")
    app.add_typer(db_app, name="db")

    @db_app.command("build")
    def build(
        out: Annotated[Path, typer.Option("--out", "-o", help="Database directory to create.")],
        corpora: Annotated[
            list[str] | None,
            typer.Argument(
                help="Caption files, folders or globs: .txt, .csv/.tsv, .jsonl (each optionally .gz), .parquet, "
                "webdataset .tar."
            ),
        ] = None,
        corpus: Annotated[
            list[str] | None, typer.Option("--corpus", help="Built-in offline corpus (repeatable): wordnet.")
        ] = None,
        model: Annotated[str, typer.Option("--model", "-m", help="Model that embeds the captions.")] = DEFAULT_MODEL,
        column: Annotated[
            str | None,
            typer.Option(
                "--caption-column",
                "--column",
                help="Caption column of tables, parquet, jsonl, webdataset .json (default: caption, text, ...).",
            ),
        ] = None,
        index: Annotated[
            str, typer.Option(help="auto (exact below a size, else IVF-HNSW re-ranked), flat, ivf, ivfpq or hnsw.")
        ] = "auto",
        index_memory: Annotated[str, typer.Option(help="RAM budget of the index, e.g. 4GB.")] = "4GB",
        shard_size: Annotated[int, typer.Option(min=1, help="Captions per shard (the unit of resumption).")] = 65536,
        batch_size: Annotated[int, typer.Option(min=1, help="Texts per encoder forward pass.")] = 256,
        engine: Annotated[str, typer.Option(help="Where embedding runs: local or ray.")] = "local",
        ray_address: Annotated[str | None, typer.Option(help="Ray cluster address (engine ray).")] = None,
        resume: Annotated[bool, typer.Option(help="Continue an interrupted build of --out.")] = False,
        overwrite: Annotated[
            bool, typer.Option(help="Replace an existing database (after the new one is done).")
        ] = False,
        device: DeviceOption = None,
        precision: PrecisionOption = "auto",
        json_: JsonOption = False,
    ) -> None:
        """Embed caption corpora with a model and write a searchable database (streaming, resumable, atomic)."""
        from vocabfree.database import build_database

        if engine not in ("local", "ray"):
            raise typer.BadParameter("--engine must be local or ray")
        sources = _sources(list(corpora or []), list(corpus or []), column)
        config = _build_config(index, index_memory, shard_size, batch_size)
        vlm = load_model_from_options(model, device, precision)
        embed = None
        if engine == "ray":
            from vocabfree.jobs.embed_job import run_embedding

            def embed(shards, folder):
                run_embedding(
                    shards,
                    vlm.name,
                    folder,
                    "ray",
                    ray_address,
                    batch_size=batch_size,
                    device=device,
                    precision=precision,
                    progress=not json_,
                )

        report = build_database(
            vlm, sources, out, config=config, resume=resume, overwrite=overwrite, progress=not json_, embed=embed
        )
        _print_report(report, vlm.name, json_)

    @db_app.command("import")
    def import_(
        source: Annotated[
            str,
            typer.Argument(
                help="clip-retrieval folder (text_emb/ + metadata/), or parquet file/folder/glob with embeddings."
            ),
        ],
        out: Annotated[Path, typer.Option("--out", "-o", help="Database directory to create.")],
        model: Annotated[
            str, typer.Option("--model", "-m", help="The model the embeddings came from (queries will use it).")
        ],
        column: Annotated[str | None, typer.Option("--caption-column", help="Caption column.")] = None,
        embedding_column: Annotated[
            str | None,
            typer.Option(help="Embedding column of parquet input (default: embedding, text_embedding, ...)."),
        ] = None,
        norms: Annotated[
            str, typer.Option(help="fix: L2-normalise every row; check: refuse rows whose norm is not 1.")
        ] = "fix",
        index: Annotated[str, typer.Option(help="auto, flat, ivf, ivfpq or hnsw.")] = "auto",
        index_memory: Annotated[str, typer.Option(help="RAM budget of the index, e.g. 4GB.")] = "4GB",
        shard_size: Annotated[int, typer.Option(min=1, help="Rows per shard.")] = 65536,
        resume: Annotated[bool, typer.Option(help="Continue an interrupted import of --out.")] = False,
        overwrite: Annotated[bool, typer.Option(help="Replace an existing database.")] = False,
        device: DeviceOption = None,
        precision: PrecisionOption = "auto",
        json_: JsonOption = False,
    ) -> None:
        """Build a database from precomputed text embeddings, without re-embedding (dims and norms checked)."""
        from vocabfree.database.importer import import_database

        vlm = load_model_from_options(model, device, precision)  # its exact name and dims go into the manifest
        report = import_database(
            source,
            out,
            model_name=vlm.name,
            embed_dim=int(vlm.embed_dim),
            caption_column=column,
            embedding_column=embedding_column,
            norms=norms,
            config=_build_config(index, index_memory, shard_size, 256),
            resume=resume,
            overwrite=overwrite,
            progress=not json_,
        )
        _print_report(report, vlm.name, json_)

    @db_app.command("upgrade")
    def upgrade(
        path: Annotated[Path, typer.Argument(help="A database made by an older vocabfree (format 1).")],
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of in place.")] = None,
        index: Annotated[str, typer.Option(help="auto, flat, ivf, ivfpq or hnsw.")] = "auto",
        index_memory: Annotated[str, typer.Option(help="RAM budget of the index, e.g. 4GB.")] = "4GB",
        json_: JsonOption = False,
    ) -> None:
        """Rewrite an old database as float16 shards with checksums (no re-embedding)."""
        from vocabfree.database.importer import upgrade_database

        report = upgrade_database(path, out, config=_build_config(index, index_memory, 65536, 256), progress=not json_)
        _print_report(report, None, json_)

    @db_app.command("verify")
    def verify(
        path: Annotated[Path, typer.Argument(help="Database directory.")],
        json_: JsonOption = False,
    ) -> None:
        """Check every file of a database against the sizes and SHA-256 checksums in its manifest."""
        from vocabfree.database import CaptionDatabase

        db = CaptionDatabase.open(path, verify="all")  # DatabaseError (exit 1) names the first bad file
        result = {
            "path": str(path),
            "ok": True,
            "files": len(db.manifest.files),
            "captions": len(db),
            "bytes": sum(e["bytes"] for e in db.manifest.files.values()),
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
        rows = [(k, v) for k, v in data.items() if k not in ("corpora", "files", "index", "shards")]
        rows.append(("shards", len(data["shards"])))
        rows.append(("bytes", sum(e["bytes"] for e in data["files"].values())))
        shown = ("kind", "factory", "nprobe", "ef_search", "refine", "tuned_recall_at_10")
        rows.append(("index", ", ".join(f"{k}={data['index'][k]}" for k in shown if k in data["index"])))
        rows += [
            (f"corpus {i + 1}", f"{c['name']} ({c['texts']} texts, sha256 {c['sha256'][:12]})")
            for i, c in enumerate(data["corpora"])
        ]
        print_table(rows, ("field", "value"))

    @db_app.command("search")
    def search(
        path: Annotated[Path, typer.Argument(help="Database directory.")],
        text: Annotated[str | None, typer.Option(help="Query text.")] = None,
        image: Annotated[Path | None, typer.Option(help="Query image.")] = None,
        k: Annotated[int, typer.Option("-k", "--k", min=1, help="Captions to return.")] = 10,
        dedup: Annotated[bool, typer.Option(help="Drop near-duplicate captions (inner product >= 0.94).")] = False,
        nprobe: Annotated[
            int | None, typer.Option(min=1, help="Lists visited by an IVF index (default: the value tuned at build).")
        ] = None,
        model: Annotated[
            str | None, typer.Option("--model", "-m", help="Query model (default: the database's own).")
        ] = None,
        device: DeviceOption = None,
        precision: PrecisionOption = "auto",
        json_: JsonOption = False,
    ) -> None:
        """Nearest captions to a text or an image."""
        from vocabfree.database import DEDUP_THRESHOLD, CaptionDatabase, read_manifest

        if (text is None) == (image is None):
            raise typer.BadParameter("give exactly one of --text or --image")
        vlm = load_model_from_options(model or read_manifest(path).model, device, precision)
        db = CaptionDatabase.open(path, model=vlm, nprobe=nprobe)
        query = vlm.encode_texts([text]) if text is not None else vlm.encode_images([image])
        hits = db.search(query, k, dedup_threshold=DEDUP_THRESHOLD if dedup else None)[0]
        rows = [
            {"rank": r + 1, "id": int(i), "similarity": float(s), "caption": c}
            for r, (i, s, c) in enumerate(zip(hits.ids, hits.similarities, hits.captions, strict=True))
        ]
        if json_:
            print_json(rows)
        else:
            print_table([tuple(r.values()) for r in rows], ("rank", "id", "similarity", "caption"))
