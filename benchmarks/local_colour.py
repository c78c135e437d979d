"""Choose the colour-channel weight of ``local`` and check score calibration on held-out caption retrieval.

Both are decided on Flickr8k caption retrieval (``caption_pairs`` split ``val``: 113 images, 565 captions),
which no classification benchmark shares, so the zero-shot numbers stay honest:

    python benchmarks/extract_features.py --arch lite2 --jobs captions/val,captions/train
    python benchmarks/local_colour.py [--splits val,train]

ConSE has no trained parameters, so for it the ``train`` split (762 images) is held-out data too; the shipped
weight maximises the image-weighted mean recall over both splits (the head rows use the head's own
training data and are shown for comparison only).

Prints recall@1/5 (%) in both directions for colour weights 0-0.8, with and without the shipped head, and
image->text recall when each caption's scores are calibrated against the model's reference embeddings
(what ``ZeroShotClassifier(calibrate=True)`` does per label).
"""

from __future__ import annotations

import argparse
import dataclasses

from _common import CACHE, DATA

from vocabfree.classify.zero_shot import calibration
from vocabfree.data.pairs import read_pairs
from vocabfree.metrics.retrieval import recall_from_scores, retrieval_recall
from vocabfree.models.align_train import cached_image_outputs
from vocabfree.models.alignment import load_shipped_head
from vocabfree.models.local import TUNED_CONSE, build_local

WEIGHTS = (0.0, 0.1, 0.2, 0.4, 0.8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--splits", default="val,train", help="caption_pairs splits, each in its own table")
    args = parser.parse_args()
    base = build_local("lite2", conse=TUNED_CONSE)
    for split in args.splits.split(","):
        table(base, split)


def table(base, split: str) -> None:
    pairs = read_pairs(DATA / "caption_pairs" / "captions.csv", split=split)
    outputs = cached_image_outputs(base, pairs.paths, CACHE, progress=True)
    captions = list(pairs.captions)
    print(f"\nFlickr8k {split}: {len(pairs.paths)} images, {len(captions)} captions\n")
    print("| model | colour weight | t2i R@1 / R@5 | i2t R@1 / R@5 | mean | i2t R@5 calibrated |")
    print("|---|---|---|---|---|---|")
    head = load_shipped_head()
    for name, model in (
        ("ConSE (`local-conse`)", base),
        ("ConSE + head (`local-head`)", dataclasses.replace(base, head=head)),
    ):
        for weight in WEIGHTS:
            variant = dataclasses.replace(model, colour_weight=weight)
            images, texts = variant.embed_outputs(outputs), variant.encode_texts(captions)
            r = retrieval_recall(images, texts, pairs.image_of_caption)
            reference = variant.reference_image_embeddings()
            calibrated = "-"
            if reference is not None:
                scale, bias = calibration(texts, reference)
                scores = (texts @ images.T) * scale[:, None] + bias[:, None]
                calibrated = f"{recall_from_scores(scores, pairs.image_of_caption)['i2t_r5']:.1f}"
            print(
                f"| {name} | {weight:g} | {r['t2i_r1']:.1f} / {r['t2i_r5']:.1f} | {r['i2t_r1']:.1f} / "
                f"{r['i2t_r5']:.1f} | {r['mean_recall']:.1f} | {calibrated} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
