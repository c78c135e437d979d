"""Caption generation speed: captions per second, greedy and beam search, for trained checkpoints.

Times the decoder alone on precomputed (cached) image features, so the number is the decoder's cost; image
encoding is the image model's own cost and is reported by the models benchmarks. One warm-up batch runs
first (lazy initialisation, allocator).

    python benchmarks/caption_speed.py artifacts/caption/runs/own artifacts/caption/runs/prefix_mlp \
        --data ../shared/data/caption_pairs/captions.csv --split test --images 64 --beams 1 5
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from _common import cpu_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--data", default="../shared/data/caption_pairs/captions.csv")
    parser.add_argument("--split", default="test")
    parser.add_argument("--images", type=int, default=64, help="how many images of the split to caption")
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--feature-cache", default="artifacts/caption/features")
    parser.add_argument("--device", default=None)
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()

    from vocabfree.caption.captioner import Captioner
    from vocabfree.caption.checkpoint import read_meta
    from vocabfree.caption.evaluate import split_images
    from vocabfree.caption.features import cached_features
    from vocabfree.models import load_model

    models: dict[str, object] = {}
    rows = []
    for path in args.checkpoints:
        name = read_meta(path)["image_model"]
        models.setdefault(name, load_model(name, device=args.device))
        captioner = Captioner.load(path, models[name], device=args.device, precision=args.precision)
        all_images, _, _, idx = split_images(args.data, args.split)
        feats = cached_features(captioner.image_model, all_images, captioner.feature_kind, args.feature_cache)
        feats = feats[idx][: args.images]
        captioner.generate_from_features(feats[: min(4, len(feats))])  # warm-up
        for beam in args.beams:
            start = time.perf_counter()
            captioner.generate_from_features(feats, beam_size=beam, batch_size=args.batch_size)
            seconds = time.perf_counter() - start
            rows.append(
                {
                    "checkpoint": path,
                    "beam": beam,
                    "images": len(feats),
                    "seconds": round(seconds, 2),
                    "captions_per_s": round(len(feats) / seconds, 2),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    print(
        json.dumps(
            {
                "device": captioner.runtime.device,
                "precision": captioner.runtime.precision,
                "torch_threads": torch.get_num_threads(),
                "cpu": cpu_model(),
            }
        )
    )


if __name__ == "__main__":
    main()
