"""Image encoding speed of the ``local`` backends (images/s, JPEG decoding and preprocessing included).

    python benchmarks/encode_speed.py [--n 128] [--batch-size 32]

Times ``encode_images`` of each registered backend (decode, resize/crop, EfficientNet, ConSE, then the head
or the colour block) on the first N Caltech-101 test images after one warm-up batch, in fp32 and in bf16
autocast on PyTorch, and through ONNX Runtime (fp32; the default where ``onnxruntime`` is installed, see
``vocabfree.models.ort``). Prints a markdown table; ratios are to PyTorch fp32 of the same backend.
"""

from __future__ import annotations

import argparse
import os
import time

from _common import cpu_model, read_split

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
        f"{os.cpu_count()} CPU threads ({cpu_model()}), "
        f"torch {torch.__version__}, bf16 kernels: {cpu_supports_bf16()}\n"
    )
    print("| model | engine | images/s | ms/image | vs PyTorch fp32 |")
    print("|---|---|---|---|---|")
    engines = (("PyTorch fp32", "fp32", "0"), ("PyTorch bf16", "bf16", "0"), ("ONNX Runtime", "fp32", "1"))
    for name in BACKENDS:
        base = None
        for engine, precision, onnx in engines:
            if precision == "bf16" and not cpu_supports_bf16():
                continue
            os.environ["VOCABFREE_ONNX"] = onnx
            model = load_model(name, precision=precision)
            if onnx == "1" and model.image_encoder.ort is None:
                print(f"| `{name}` | {engine} | not available (pip install 'vocabfree[onnx]') | | |")
                continue
            model.encode_images(paths[: args.batch_size], batch_size=args.batch_size)  # warm-up
            best = float("inf")
            for _ in range(args.repeats):
                start = time.perf_counter()
                model.encode_images(paths, batch_size=args.batch_size)
                best = min(best, time.perf_counter() - start)
            rate, ms = len(paths) / best, 1000 * best / len(paths)
            base = base or rate
            row = f"| `{name}` ({model.image_encoder.tag}) | {engine} | {rate:.1f} | {ms:.1f} | {rate / base:.2f}x |"
            print(row, flush=True)


if __name__ == "__main__":
    main()
