"""Image encoding speed of the ``local`` backends (images/s, JPEG decoding and preprocessing included).

    python benchmarks/encode_speed.py [--n 128] [--batch-size 32]

Times ``encode_images`` of each registered backend (decode, resize/crop, EfficientNet, ConSE, then the head
or the colour block) on the first N Caltech-101 test images after one warm-up batch, in fp32 and in bf16
autocast. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from _common import read_split

from vocabfree.models import load_model
from vocabfree.models._runtime import cpu_supports_bf16

BACKENDS = ("local-conse-lite0", "local-conse", "local-head", "local")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2, help="best of R timed passes (the machine is shared)")
    args = parser.parse_args()
    import torch

    paths = read_split("caltech101", "test")[0][: args.n]
    print(
        f"\n### Image encoding speed: {args.n} Caltech-101 JPEGs, batch {args.batch_size}, "
        f"{os.cpu_count()} CPU threads ({platform.processor() or platform.machine()}), "
        f"torch {torch.__version__}, bf16 kernels: {cpu_supports_bf16()}\n"
    )
    print("| model | precision | images/s | ms/image |")
    print("|---|---|---|---|")
    for name in BACKENDS:
        for precision in ("fp32", "bf16"):
            model = load_model(name, precision=precision)
            model.encode_images(paths[: args.batch_size], batch_size=args.batch_size)  # warm-up
            best = float("inf")
            for _ in range(args.repeats):
                start = time.perf_counter()
                model.encode_images(paths, batch_size=args.batch_size)
                best = min(best, time.perf_counter() - start)
            rate, ms = len(paths) / best, 1000 * best / len(paths)
            print(f"| `{name}` ({model.image_encoder.tag}) | {precision} | {rate:.1f} | {ms:.1f} |", flush=True)


if __name__ == "__main__":
    main()
