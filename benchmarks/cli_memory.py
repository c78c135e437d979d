"""Peak memory of a CLI batch as the number of photos grows: it should stay flat (images stream in chunks).

    python benchmarks/cli_memory.py make /tmp/photos12mp --n 1000      # 12-MP JPEGs from Caltech-101 + noise
    python benchmarks/cli_memory.py measure /tmp/photos12mp --counts 10,100,1000 --model local
    rm -r /tmp/photos12mp

``measure`` runs ``vocabfree classify`` under ``/usr/bin/time -v`` on the first N photos (a glob each time) and
prints the peak RSS per N. The photos are made outside the repository; delete them afterwards.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

CALTECH = Path(__file__).resolve().parents[2] / "shared" / "data" / "caltech101" / "images"


def make(out: Path, n: int, size: tuple[int, int] = (4000, 3000), seed: int = 0) -> None:
    """``n`` distinct 12-MP JPEGs: Caltech photos upscaled, plus per-file noise (so none decodes alike)."""
    out.mkdir(parents=True, exist_ok=True)
    everything = sorted(CALTECH.rglob("*.jpg"))
    sources = everything[:: max(1, len(everything) // n)][:n]
    rng = np.random.default_rng(seed)
    noise = rng.integers(-12, 13, (size[1], size[0], 3), dtype=np.int16)
    for i, src in enumerate(sources):
        big = np.asarray(Image.open(src).convert("RGB").resize(size, Image.BILINEAR), dtype=np.int16)
        shift = rng.integers(0, size[0])
        Image.fromarray(np.clip(big + np.roll(noise, shift, axis=1), 0, 255).astype(np.uint8)).save(
            out / f"photo_{i:04d}.jpg", quality=90
        )
    print(f"wrote {len(sources)} photos of {size[0]}x{size[1]} to {out}")


def measure(folder: Path, counts: list[int], model: str) -> None:
    photos = sorted(folder.glob("*.jpg"))
    for n in counts:
        subset = folder / f"first_{n}"
        subset.mkdir(exist_ok=True)
        for p in photos[:n]:
            if not (subset / p.name).exists():
                (subset / p.name).symlink_to(p)
        start = time.perf_counter()
        run = subprocess.run(
            [
                "/usr/bin/time",
                "-v",
                "vocabfree",
                "classify",
                str(subset),
                "--labels",
                "cat,dog,car,airplane,face",
                "--model",
                model,
                "--jsonl",
            ],
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        if run.returncode != 0:
            sys.exit(run.stderr[-2000:])
        rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr).group(1))
        print(
            f"{n:5d} photos: peak RSS {rss_kb / 1024:7.0f} MiB, {seconds:6.1f} s, "
            f"{n / seconds:5.1f} photos/s, {len(run.stdout.splitlines())} results"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("make", "measure"))
    parser.add_argument("folder", type=Path)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--counts", default="10,100,1000")
    parser.add_argument("--model", default="local")
    args = parser.parse_args()
    if args.action == "make":
        make(args.folder, args.n)
    else:
        measure(args.folder, [int(c) for c in args.counts.split(",")], args.model)


if __name__ == "__main__":
    main()
