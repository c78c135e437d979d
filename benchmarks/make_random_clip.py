"""Save an architecture-true random-weight checkpoint (default ViT-B/32 CLIP) for speed measurements.

    python benchmarks/make_random_clip.py artifacts/clip-vit-b32-random [--arch siglip-base-p16-224]

Load it as ``hf:artifacts/clip-vit-b32-random``. Accuracy is chance by construction; the cost is real.
"""

import argparse

from vocabfree.models.random_checkpoint import ARCHITECTURES, save_random_checkpoint

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("out")
parser.add_argument("--arch", default="clip-vit-b32", choices=sorted(ARCHITECTURES))
args = parser.parse_args()
print(save_random_checkpoint(args.out, args.arch))
