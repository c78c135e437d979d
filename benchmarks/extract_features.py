"""Compute and cache EfficientNet-Lite outputs for every evaluation/training image (run once per arch).

python benchmarks/extract_features.py --arch lite2
"""

from __future__ import annotations

import argparse

from _common import CACHE, DATA, read_split

from vocabfree.data.pairs import read_pairs
from vocabfree.models.align_train import cached_image_outputs
from vocabfree.models.local import build_local


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", default="lite2")
    parser.add_argument("--precision", default="auto")
    parser.add_argument(
        "--jobs",
        default="caltech101/test,captions/train,captions/val,flowers102/test,"
        "caltech101/train_16shot,flowers102/train_16shot",
        help="dataset/split list, in order",
    )
    args = parser.parse_args()
    model = build_local(args.arch, precision=args.precision)
    for job in args.jobs.split(","):
        dataset, split = job.split("/")
        if dataset == "captions":
            paths = read_pairs(DATA / "caption_pairs" / "captions.csv", split=split).paths
        else:
            paths, _ = read_split(dataset, split)
        out = cached_image_outputs(model, paths, CACHE, progress=True)
        print(dataset, split, out.pooled.shape, flush=True)


if __name__ == "__main__":
    main()
