"""Vocabulary-free benchmark: CaSED and the paper's baselines on Caltech-101 and Flowers-102 (test splits).

    python benchmarks/vocab_free.py --model local --db artifacts/db/captions-local \\
        --methods cased closest-caption wordnet imagenet english-words --out artifacts/vocab_free_local.json

Image embeddings come from the local-model benchmarks' cache (EfficientNet outputs under
artifacts/features, shared with benchmarks/extract_features.py), so each test image is encoded once for all
models and methods; other models use ``encode_images_cached``. Vocabulary and caption text embeddings go
through a raw sentence-embedding cache (``--raw-cache``) shared by ``local`` and ``local-conse``.
Prints a Markdown table (methods x datasets: cluster accuracy / semantic similarity / semantic IoU) and
writes every result, with timings, as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CACHE, read_split  # noqa: E402
from db_build import RawCachedTextModel  # noqa: E402

from vocabfree.classify import steps  # noqa: E402
from vocabfree.classify.methods import METHOD_NAMES, method_spec  # noqa: E402
from vocabfree.data import LabelledImages  # noqa: E402
from vocabfree.database import CaptionDatabase  # noqa: E402
from vocabfree.evaluation_vocab import evaluate_vocabulary_free  # noqa: E402
from vocabfree.models import OFFLINE_MODEL, load_model  # noqa: E402
from vocabfree.models.cache import encode_images_cached  # noqa: E402
from vocabfree.models.sentence import load_sentence_encoder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def image_embeddings(model, paths):
    """(N, D) embeddings of ``paths``: via the shared EfficientNet-output cache for local models."""
    if hasattr(model, "image_outputs"):
        from vocabfree.models.align_train import cached_image_outputs

        return model.embed_outputs(cached_image_outputs(model, paths, CACHE, progress=True))
    return encode_images_cached(model, paths, ROOT / "artifacts" / "image-cache", progress=True)


def markdown(results: list[dict], methods: list[str], datasets: list[str]) -> str:
    head = "| method | " + " | ".join(f"{d} CA | {d} SS | {d} IoU" for d in datasets) + " | avg. candidates |"
    lines = [head, "|" + "---|" * (2 + 3 * len(datasets))]
    for m in methods:
        rows = {r["dataset"]: r for r in results if r["method"] == m}
        if not rows:
            continue
        cells = " | ".join(
            f"{rows[d]['cluster_accuracy']:.1f} | {rows[d]['semantic_similarity']:.1f} | {rows[d]['semantic_iou']:.1f}"
            if d in rows
            else "- | - | -"
            for d in datasets
        )
        cand = sum(r["avg_candidates"] for r in rows.values()) / len(rows)
        lines.append(f"| {m} | {cells} | {cand:,.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=OFFLINE_MODEL)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--datasets", nargs="*", default=["caltech101", "flowers102"])
    parser.add_argument("--methods", nargs="*", default=list(METHOD_NAMES))
    parser.add_argument("--raw-cache", type=Path, default=ROOT / "artifacts" / "raw-text")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--k", type=int, default=steps.K)
    parser.add_argument("--alpha", type=float, default=steps.ALPHA)
    parser.add_argument("--lexicon", default="wordnet", choices=["wordnet", "none"])
    parser.add_argument(
        "--throughput",
        type=int,
        default=0,
        help="Also time CaSED end to end (image files in, answers out) on the first N images.",
    )
    args = parser.parse_args()

    base = load_model(args.model)
    model = RawCachedTextModel(base, args.raw_cache) if hasattr(base, "raw_text_embeddings") else base
    database = CaptionDatabase.open(args.db, model=model)
    encoder = load_sentence_encoder()
    results = []
    for name in args.datasets:
        paths, labels = read_split(name, "test")  # the same path strings as the shared feature cache's keys
        data = LabelledImages(tuple(Path(p) for p in paths), tuple(labels), name=name)
        if args.limit:
            data = data.subset(limit=args.limit)
        t0 = time.perf_counter()
        emb = image_embeddings(base, [str(p) for p in data.paths])
        print(f"{name}: {len(data)} images embedded in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        for method in args.methods:
            params = method_spec(method).select(
                k=args.k, alpha=args.alpha, lexicon=None if args.lexicon == "none" else "wordnet"
            )
            t0 = time.perf_counter()
            result = evaluate_vocabulary_free(
                model,
                data,
                method,
                database,
                image_embeddings=emb,
                vocab_cache_dir=ROOT / "artifacts" / "vocab-cache",
                sentence_encoder=encoder,
                progress=True,
                **params,
            )
            result["dataset"] = name
            result["total_seconds"] = round(time.perf_counter() - t0, 1)
            results.append(result)
            print(json.dumps({k: v for k, v in result.items() if k != "examples"}), file=sys.stderr)
            if args.out:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(results, indent=2))
    print(markdown(results, args.methods, args.datasets))
    if args.throughput:
        from vocabfree.classify.vocabulary_free import VocabularyFreeClassifier

        paths = read_split(args.datasets[0], "test")[0][: args.throughput]
        clf = VocabularyFreeClassifier(base, CaptionDatabase.open(args.db, model=base)).fit()
        clf.predict(paths[:4])  # warm-up: first-call allocations, lazy imports
        t0 = time.perf_counter()
        clf.predict(paths)
        seconds = time.perf_counter() - t0
        print(
            json.dumps(
                {
                    "cased_end_to_end_images": len(paths),
                    "seconds": round(seconds, 1),
                    "images_per_second": round(len(paths) / seconds, 2),
                }
            )
        )


if __name__ == "__main__":
    main()
