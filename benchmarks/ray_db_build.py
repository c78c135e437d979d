"""Caption-database build throughput, local engine vs Ray engine (one node), on the real captions.

    python benchmarks/ray_db_build.py --model local --limit 16384 --ray-cpus 2

Builds the same database twice from the first ``--limit`` captions of ../shared/data/captions/*.txt: once
with the local engine (one process, torch using every core) and once with ``--engine ray`` on a fresh
``ray.init(num_cpus=--ray-cpus)`` (one model actor per CPU, one torch thread each). Checks that both wrote
byte-identical shards, then prints one JSON line per engine: captions, seconds, captions/s (embedding
phase and whole build). Ray's start-up (``ray.init``, actor model loading) is inside the Ray figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from vocabfree.database import BuildConfig, build_database, corpus_from_texts
from vocabfree.models import load_model

CAPTIONS = Path(__file__).resolve().parents[2] / "shared" / "data" / "captions"


def first_captions(limit: int) -> list[str]:
    out: list[str] = []
    for path in sorted(CAPTIONS.glob("*.txt")):
        out += path.read_text(encoding="utf-8").splitlines()
    return out[:limit]


def build(model, captions, out: Path, shard_size: int, embed=None) -> dict:
    started = time.perf_counter()
    report = build_database(
        model, [corpus_from_texts("captions", captions)], out, config=BuildConfig(shard_size=shard_size), embed=embed
    )
    seconds = time.perf_counter() - started
    return {
        "captions": report.count,
        "build_seconds": round(seconds, 1),
        "embed_seconds": round(report.encode_seconds, 1),
        "captions_per_second_embed": round(report.count / report.encode_seconds, 1),
        "captions_per_second_build": round(report.count / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local")
    parser.add_argument("--limit", type=int, default=16384)
    parser.add_argument("--shard-size", type=int, default=2048)
    parser.add_argument("--ray-cpus", type=int, default=2)
    args = parser.parse_args()

    import ray

    from vocabfree.jobs import run_embedding

    captions = first_captions(args.limit)
    model = load_model(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        local = build(model, captions, Path(tmp) / "local", args.shard_size)
        print(json.dumps({"engine": "local", "model": args.model, **local}), flush=True)
        started = time.perf_counter()
        ray.init(address="local", num_cpus=args.ray_cpus, include_dashboard=False)
        init_seconds = time.perf_counter() - started
        try:
            remote = build(
                model,
                captions,
                Path(tmp) / "ray",
                args.shard_size,
                embed=lambda shards, folder: run_embedding(shards, model.name, folder, "ray"),
            )
        finally:
            ray.shutdown()
        names = sorted(p.name for p in (Path(tmp) / "local" / "shards").iterdir())
        same = all(
            (Path(tmp) / "local" / "shards" / n).read_bytes() == (Path(tmp) / "ray" / "shards" / n).read_bytes()
            for n in names
        )
        print(
            json.dumps(
                {
                    "engine": "ray",
                    "model": args.model,
                    "ray_cpus": args.ray_cpus,
                    "ray_init_seconds": round(init_seconds, 1),
                    **remote,
                    "same_shards_as_local": same,
                    "ratio_embed_ray_over_local": round(
                        remote["captions_per_second_embed"] / local["captions_per_second_embed"], 2
                    ),
                }
            )
        )


if __name__ == "__main__":
    main()
