"""Build a caption database from /work/shared/data/captions/*.txt and measure build throughput.

    python benchmarks/db_build.py --model local-conse --out artifacts/db/captions-local-conse
    python benchmarks/db_build.py --model local --out artifacts/db/captions-local --raw-cache artifacts/raw-text

For the ``local`` family, ``--raw-cache`` stores the sentence encoder's raw caption embeddings per build
chunk: ``local`` and ``local-conse`` share them (they differ only in a cheap head applied afterwards), so the
second database costs seconds. Throughput is only meaningful for a run that reports ``raw cache hits: 0``.
Prints one JSON line (captions, seconds, captions/s).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from vocabfree.database import BuildConfig, IndexConfig, build_database, read_corpus
from vocabfree.models import load_model

CAPTIONS = Path(__file__).resolve().parents[2] / "shared" / "data" / "captions"


class RawCachedTextModel:
    """Wraps a ``LocalModel``: raw sentence embeddings cached on disk per piece of texts, head and colour block
    applied after."""

    def __init__(self, model, cache_dir: Path):
        self.model, self.cache_dir = model, cache_dir
        self.name, self.embed_dim, self.logit_scale = model.name, model.embed_dim, model.logit_scale
        self.hits = 0
        cache_dir.mkdir(parents=True, exist_ok=True)

    def encode_images(self, images, **kwargs):
        return self.model.encode_images(images, **kwargs)

    def encode_texts(self, texts, *, batch_size: int = 256, progress: bool = False, piece: int = 8192):
        from tqdm.auto import tqdm

        texts = list(texts)
        parts = []
        for start in tqdm(range(0, len(texts), piece), desc="raw text pieces", disable=not progress):
            chunk = texts[start : start + piece]
            key = hashlib.sha256("\n".join(chunk).encode()).hexdigest()[:24]
            path = self.cache_dir / f"{key}.npy"
            if path.is_file():
                raw = np.load(path)
                self.hits += 1
            else:
                raw = self.model.raw_text_embeddings(chunk, batch_size=batch_size)
                np.save(path.with_suffix(".tmp.npy"), raw)
                path.with_suffix(".tmp.npy").replace(path)
            parts.append(raw)
        return self.model.embed_raw_texts(np.concatenate(parts), texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--corpora", nargs="*", type=Path, default=sorted(CAPTIONS.glob("*.txt")))
    parser.add_argument("--index", default="auto")
    parser.add_argument("--shard-size", type=int, default=65536)
    parser.add_argument("--raw-cache", type=Path, default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()

    model = load_model(args.model)
    if args.raw_cache is not None:
        model = RawCachedTextModel(model, args.raw_cache)
    sources = [read_corpus(p) for p in args.corpora]
    start = time.perf_counter()
    config = BuildConfig(shard_size=args.shard_size, index=IndexConfig(kind=args.index))
    report = build_database(
        model, sources, args.out, config=config, resume=args.resume, overwrite=args.overwrite, progress=True
    )
    print(
        json.dumps(
            {
                "model": args.model,
                "corpora": [str(p.name) for p in args.corpora],
                "captions": report.count,
                "duplicates_dropped": report.duplicates,
                "encoded_this_run": report.encoded,
                "raw_cache_hits": getattr(model, "hits", None),
                "index": report.index.get("factory", report.index.get("kind")),
                "nprobe": report.index.get("nprobe"),
                "build_seconds": round(time.perf_counter() - start, 1),
                "encode_seconds": round(report.encode_seconds, 1),
                "captions_per_second_encode": round(report.captions_per_second, 1),
                "captions_per_second_total": round(report.count / (time.perf_counter() - start), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
