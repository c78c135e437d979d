"""Inference speed against the peers and the hardware ceiling, in one run (docs/speed.md holds the table).

    python benchmarks/make_random_clip.py artifacts/clip-vit-b32-random   # once (architecture-true weights)
    python benchmarks/speed.py [--quick] [--images 192] [--captions 4096] [--batch-size 32]

Prints, on the machine it runs on:
* matmul peak (bf16 and fp32 GEMM, GFLOP/s) and what it means in ViT-B/32 images/s (FLOPs from the config);
* images: HF ``pipeline("zero-shot-image-classification")`` (the peer, its defaults: fp32), our
  ``encode_images`` (defaults: worker threads, uint8 preprocessing, bf16 where native) and the bare forward
  on ready tensors at the same batch and precision (the ceiling our input pipeline can reach);
* texts: sentence-transformers ``encode`` fp32 (its default) and under bf16 autocast, and ours (the
  ``local`` text side);
* ``build_database`` captions/s on a slice of ../shared/data/captions, against our text encoder;
* CaSED end to end (``VocabularyFreeClassifier.predict``) images/s, against ``local`` image embedding.

Each throughput is the best of ``--repeats`` timed passes after a warm-up, twice: per wall-clock second and
per CPU-second of this process (``time.process_time``, all threads). On a shared machine the wall rates move
with the other jobs' load; the CPU-time rates measure the work itself, so their ratios are the ones to read
there. On an idle machine the two agree up to the thread count.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import DATA, ROOT, cpu_model, read_split

DEFAULT_MODEL = ROOT / "artifacts" / "clip-vit-b32-random"
HEADER = "| section | what | wall rate | CPU-time rate | vs peer / ceiling (wall / CPU time) |\n|---|---|---|---|---|"
Rate = tuple[float, float]  # (items per wall second, items per CPU-second of this process)


def best_rate(fn, n: int, repeats: int, warmup=None) -> Rate:
    """Items/s of ``fn()`` processing ``n`` items, per wall and per CPU second: best of ``repeats`` each,
    after one warm-up call."""
    (warmup or fn)()
    wall = cpu = float("inf")
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return n / wall, n / max(cpu, 1e-9)


def report(section: str, what: str, rate: Rate, unit: str, *ratios: tuple[str, Rate | None]) -> Rate:
    """One table row: the rates, then each ratio to a peer or ceiling as 'wall / CPU-time'."""
    extra = " ; ".join(f"{rate[0] / ref[0]:.2f}x / {rate[1] / ref[1]:.2f}x {name}" for name, ref in ratios if ref)
    print(f"| {section} | {what} | {rate[0]:,.1f} {unit} | {rate[1]:,.1f} per CPU-s | {extra} |", flush=True)
    return rate


def matmul_peak(dtype, size: int = 2048, repeats: int = 5) -> Rate:
    """GFLOP per wall second and per CPU-second of a square GEMM: the most the cores give in this precision."""
    import torch

    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    wall, cpu = best_rate(lambda: torch.mm(a, b), 1, repeats)
    return wall * 2 * size**3 / 1e9, cpu * 2 * size**3 / 1e9


def vit_image_gflops(vision_config) -> float:
    """Forward FLOPs (2 x multiply-adds) of one image through a ViT tower: patch embedding, attention
    projections, attention products and the MLP (layer norms and softmax are negligible)."""
    d, layers, mlp = vision_config.hidden_size, vision_config.num_hidden_layers, vision_config.intermediate_size
    patches = (vision_config.image_size // vision_config.patch_size) ** 2
    tokens = patches + 1
    macs = patches * d * 3 * vision_config.patch_size**2
    macs += layers * (tokens * (4 * d * d + 2 * d * mlp) + 2 * tokens * tokens * d)
    return 2 * macs / 1e9


def image_section(args, paths) -> None:
    import torch
    from transformers import pipeline

    from vocabfree.models import load_model

    model = load_model(f"hf:{args.model}")
    precision = model.runtime.precision
    n, bs = len(paths), args.batch_size
    gflops = vit_image_gflops(model.model.config.vision_config)
    peaks = {"bf16": matmul_peak(torch.bfloat16), "fp32": matmul_peak(torch.float32)}
    best = "bf16" if precision == "bf16" else "fp32"
    ceiling = (peaks[best][0] / gflops, peaks[best][1] / gflops)
    print(
        f"\nmatmul peak (wall / per CPU-s): bf16 {peaks['bf16'][0]:,.0f} / {peaks['bf16'][1]:,.0f} GFLOP/s, "
        f"fp32 {peaks['fp32'][0]:,.0f} / {peaks['fp32'][1]:,.0f} GFLOP/s; one "
        f"{model.model.config.vision_config.image_size}px image = {gflops:.2f} GFLOP -> {best} peak = "
        f"{ceiling[0]:,.1f} img/s ({ceiling[1]:,.1f} per CPU-s)\n"
    )
    print(HEADER)

    classifier = pipeline("zero-shot-image-classification", model=str(args.model), device="cpu")
    labels = ["a dog", "a cat", "a car"]
    peer = best_rate(
        lambda: classifier(paths, candidate_labels=labels),
        n,
        args.repeats,
        warmup=lambda: classifier(paths[:bs], candidate_labels=labels),
    )
    report("images", "HF pipeline zero-shot (fp32, its defaults)", peer, "img/s")

    pixels = torch.randn(bs, 3, model.image_size, model.image_size)
    batches = max(1, n // bs)

    def bare():
        with torch.inference_mode(), model.runtime.autocast():
            for _ in range(batches):
                model.model.get_image_features(pixel_values=pixels)

    forward = report(
        "images",
        f"bare forward, ready tensors ({precision}, batch {bs})",
        best_rate(bare, batches * bs, args.repeats),
        "img/s",
        ("matmul peak", ceiling),
    )
    ours = best_rate(
        lambda: model.encode_images(paths, batch_size=bs),
        n,
        args.repeats,
        warmup=lambda: model.encode_images(paths[:bs], batch_size=bs),
    )
    report(
        "images",
        f"vocabfree encode_images ({precision}, batch {bs})",
        ours,
        "img/s",
        ("HF pipeline", peer),
        ("bare forward", forward),
    )
    print(
        f"\nbare forward = {100 * forward[0] / ceiling[0]:.0f}% (wall) / {100 * forward[1] / ceiling[1]:.0f}% "
        f"(CPU time) of the {best} matmul peak\n"
    )
    if args.compile:
        compiled = load_model(f"hf:{args.model}", compile=True)
        compiled.encode_images(paths[:bs], batch_size=bs)  # compiles (a minute or more), not timed

        def bare_compiled():
            with torch.inference_mode(), compiled.runtime.autocast():
                for _ in range(batches):
                    compiled.model.get_image_features(pixel_values=pixels)

        report(
            "images",
            "bare forward, torch.compile'd tower",
            best_rate(bare_compiled, batches * bs, args.repeats),
            "img/s",
            ("eager bare forward", forward),
            ("matmul peak", ceiling),
        )
        report(
            "images",
            "vocabfree encode_images, compile=True",
            best_rate(lambda: compiled.encode_images(paths, batch_size=bs), n, args.repeats),
            "img/s",
            ("HF pipeline", peer),
            ("eager bare forward", forward),
        )


def text_section(args, captions) -> Rate | None:
    import torch

    from vocabfree.models.sentence import load_sentence_encoder

    n = len(captions)
    fp32 = load_sentence_encoder(precision="fp32")
    st = fp32._model
    peer = report(
        "texts",
        "sentence-transformers encode (fp32, batch 32: its default)",
        best_rate(lambda: st.encode(captions), n, args.repeats),
        "text/s",
    )

    def st_bf16():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            st.encode(captions)

    report(
        "texts",
        "sentence-transformers encode under bf16 autocast",
        best_rate(st_bf16, n, args.repeats),
        "text/s",
        ("st fp32", peer),
    )
    ours_encoder = load_sentence_encoder(precision="auto")
    return report(
        "texts",
        f"vocabfree MiniLM ({ours_encoder.runtime.precision}; the `local` text side)",
        best_rate(lambda: ours_encoder.encode(captions), n, args.repeats),
        "text/s",
        ("st fp32", peer),
    )


def db_section(args, captions, text_rate: Rate | None, local) -> Path | None:
    try:
        from vocabfree.database import build_database, corpus_from_texts
    except ImportError as exc:
        print(f"\n(db build skipped: the database API changed: {exc})")
        return None
    folder = Path(tempfile.mkdtemp(prefix="speed-db-"))
    out = folder / "db"
    source = corpus_from_texts("captions", captions)
    encoded = best_rate(lambda: local.encode_texts(captions), len(captions), 1)
    start, start_cpu = time.perf_counter(), time.process_time()
    build_database(local, [source], out)
    rate = (len(captions) / (time.perf_counter() - start), len(captions) / (time.process_time() - start_cpu))
    report(
        "db build",
        f"build_database, {len(captions):,} captions, `local`",
        rate,
        "caption/s",
        ("local encode_texts", encoded),
        ("MiniLM alone", text_rate),
    )
    return out


def cased_section(args, paths, db: Path, local) -> None:
    from vocabfree.classify.vocabulary_free import VocabularyFreeClassifier
    from vocabfree.database import CaptionDatabase

    n, bs = len(paths), args.batch_size
    embed = best_rate(
        lambda: local.encode_images(paths, batch_size=bs),
        n,
        args.repeats,
        warmup=lambda: local.encode_images(paths[:bs], batch_size=bs),
    )
    report("CaSED", f"`local` encode_images ({local.image_encoder.runtime.precision})", embed, "img/s")
    classifier = VocabularyFreeClassifier(local, CaptionDatabase.open(db, model=local), batch_size=bs).fit()
    rate = best_rate(lambda: classifier.predict(paths), n, args.repeats, warmup=lambda: classifier.predict(paths[:bs]))
    report("CaSED", "VocabularyFreeClassifier.predict end to end", rate, "img/s", ("image embedding", embed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="hf checkpoint dir (ViT-B/32 random)")
    parser.add_argument("--images", type=int, default=192)
    parser.add_argument("--captions", type=int, default=4096)
    parser.add_argument("--db-captions", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="32 images, 512 captions, 2048 db captions, 1 repeat")
    parser.add_argument("--compile", action="store_true", help="also time the torch.compile'd image tower")
    parser.add_argument("--skip", nargs="*", default=[], choices=["images", "texts", "db", "cased"])
    args = parser.parse_args()
    if args.quick:
        args.images, args.captions, args.db_captions, args.repeats = 32, 512, 2048, 1
    import torch

    if not args.model.is_dir() and "images" not in args.skip:
        sys.exit(f"{args.model} missing: python benchmarks/make_random_clip.py {args.model}")
    paths = read_split("caltech101", "test")[0][: args.images]
    lines = (DATA / "captions" / "flickr8k.txt").read_text().splitlines()
    captions = lines[: args.captions]
    print(
        f"## vocabfree speed: {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads); {len(paths)} Caltech-101 JPEGs, {len(captions)} Flickr8k captions"
    )
    if "images" not in args.skip:
        image_section(args, paths)
    else:
        print(HEADER)
    text_rate = text_section(args, captions) if "texts" not in args.skip else None
    if "db" in args.skip and "cased" in args.skip:
        return
    from vocabfree.models import load_model

    local = load_model("local")
    db_captions = [t for t in lines if t.strip()][: args.db_captions]
    db = db_section(args, db_captions, text_rate, local) if "db" not in args.skip else None
    if db is not None and "cased" not in args.skip:
        cased_section(args, paths, db, local)
    if db is not None:
        shutil.rmtree(db.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
