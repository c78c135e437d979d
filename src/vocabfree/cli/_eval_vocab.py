"""``vocabfree eval vocab-free``: the CaSED paper's vocabulary-free evaluation (one run, or a table)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vocabfree.classify import steps
from vocabfree.classify.methods import DEFAULT_METHOD, METHOD_NAMES, method_spec
from vocabfree.cli._output import (
    DeviceOption,
    JsonOption,
    ModelOption,
    PrecisionOption,
    emit_results,
    load_model_from_options,
    print_table,
    result_item,
    usage_error,
)
from vocabfree.models.cache import cache_home

METRIC_COLUMNS = (("cluster_accuracy", "CA"), ("semantic_similarity", "SS"), ("semantic_iou", "IoU"))


def register_eval(eval_app: typer.Typer) -> None:
    """Add ``vocab-free`` to the ``eval`` sub-app (called by ``cli/_eval.py``)."""

    @eval_app.command("vocab-free")
    def vocab_free(
        dataset: Annotated[
            list[Path], typer.Option(help="Labelled CSV (path,label) or class-folder tree; repeat with --table.")
        ],
        db: Annotated[Path | None, typer.Option(help="Caption database (needed by cased, closest-caption).")] = None,
        method: Annotated[
            list[str] | None,
            typer.Option(help=f"{', '.join(METHOD_NAMES)}; repeat with --table."),
        ] = None,
        model: ModelOption = None,
        k: Annotated[int, typer.Option("-k", "--k", min=1, help="Captions retrieved per image.")] = steps.K,
        alpha: Annotated[float, typer.Option(min=0.0, max=1.0, help="CaSED image-view weight.")] = steps.ALPHA,
        lexicon: Annotated[str, typer.Option(help="Candidate POS filter: wordnet or none.")] = "wordnet",
        limit: Annotated[int | None, typer.Option(min=1, help="Evaluate only the first N images.")] = None,
        table: Annotated[bool, typer.Option(help="Print methods x datasets (CA / SS / IoU), as the paper.")] = False,
        batch_size: Annotated[int, typer.Option(min=1)] = 32,
        cache_dir: Annotated[
            Path | None, typer.Option(help="Cache image and vocabulary embeddings here (default ~/.cache/vocabfree).")
        ] = None,
        device: DeviceOption = None,
        precision: PrecisionOption = "auto",
        json_: JsonOption = False,
    ) -> None:
        """Cluster accuracy, semantic similarity, semantic IoU and candidates per image, with no class list."""
        from vocabfree.data import read_labelled
        from vocabfree.database import CaptionDatabase, read_manifest
        from vocabfree.evaluation_vocab import evaluate_vocabulary_free
        from vocabfree.models import model_for_artefact
        from vocabfree.models.cache import encode_images_cached
        from vocabfree.models.sentence import load_sentence_encoder

        methods = list(method or [DEFAULT_METHOD])
        unknown = [m for m in methods if m not in METHOD_NAMES]
        if unknown:
            raise usage_error(f"unknown method(s) {unknown}; use {', '.join(METHOD_NAMES)}")
        if not table and (len(methods) > 1 or len(dataset) > 1):
            raise usage_error("several --dataset/--method values need --table")
        if lexicon not in ("wordnet", "none"):
            raise usage_error("--lexicon must be wordnet or none")
        cache = cache_dir or cache_home()
        recorded = read_manifest(db).model if db is not None else None
        vlm = load_model_from_options(model_for_artefact(model, recorded, f"database {db}"), device, precision)
        database = CaptionDatabase.open(db, model=vlm) if db is not None else None
        encoder = load_sentence_encoder()
        results, sources = [], []
        for path in dataset:
            data = read_labelled(path)
            if limit is not None:
                data = data.subset(limit=limit)
            emb = encode_images_cached(vlm, data.paths, cache / "images", batch_size=batch_size, progress=not json_)
            for m in methods:
                params = method_spec(m).select(k=k, alpha=alpha, lexicon=None if lexicon == "none" else "wordnet")
                sources.append(str(path))
                results.append(
                    evaluate_vocabulary_free(
                        vlm,
                        data,
                        m,
                        database,
                        image_embeddings=emb,
                        vocab_cache_dir=cache / "vocab",
                        sentence_encoder=encoder,
                        batch_size=batch_size,
                        progress=not json_,
                        **params,
                    )
                )
        if json_:
            emit_results(
                "eval vocab-free",
                vlm.name,
                [result_item(src, None, **r) for src, r in zip(sources, results, strict=True)],
                fmt="json",
            )
        elif table:
            names = list(dict.fromkeys(r["dataset"] for r in results))
            header = ["method", *[f"{d} {short}" for d in names for _, short in METRIC_COLUMNS], "candidates"]
            rows = []
            for m in methods:
                by_ds = {r["dataset"]: r for r in results if r["method"] == m}
                cells = [f"{by_ds[d][key]:.1f}" for d in names for key, _ in METRIC_COLUMNS]
                cand = sum(by_ds[d]["avg_candidates"] for d in names) / len(names)
                rows.append([m, *cells, f"{cand:.1f}"])
            print_table(rows, header)
        else:
            r = results[0]
            print_table([(key, v) for key, v in r.items() if key != "examples"], ("metric", "value"))
