"""Few-shot linear probe (``FewShotClassifier``) with ``local`` image features: k-shot train -> CoOp test.

The k-shot training sets are the first k images per class of ``train_16shot.csv`` (seed 0), or k images per
class drawn at random for seeds > 0. Features come from the cache filled by extract_features.py:

    python benchmarks/few_shot.py [--seeds 3] [--arch lite2]

Prints a markdown table: top-1 accuracy (%) per dataset, shot count and feature type ("aligned": the
model's own embedding, 395-d for ``local``; "pooled": the 1280-d EfficientNet features of ``encode_image_features``).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np
from _common import CACHE, read_split

from vocabfree.classify.few_shot import FewShotClassifier
from vocabfree.models import load_model
from vocabfree.models.align_train import cached_image_outputs
from vocabfree.models.protocol import l2_normalize

SHOTS = (1, 2, 4, 8, 16)


def pick(labels: list[str], k: int, seed: int) -> np.ndarray:
    """Indices of k examples per class: the first k (seed 0) or a seeded random k."""
    by_class = defaultdict(list)
    for i, label in enumerate(labels):
        by_class[label].append(i)
    rng = np.random.default_rng(seed)
    out = []
    for label in sorted(by_class):
        idx = by_class[label]
        out += idx[:k] if seed == 0 else list(rng.choice(idx, size=min(k, len(idx)), replace=False))
    return np.asarray(sorted(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="local", help="local backend whose aligned embedding is probed")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--cs", default="10", help="comma-separated C grid (one value: no cross-validation, fast)")
    args = parser.parse_args()
    start = time.time()
    cs = tuple(float(c) for c in args.cs.split(","))
    model = load_model(args.model)
    print(
        f"\n### Few-shot linear probe, {args.model} ({model.image_encoder.tag}), top-1 % on the test split"
        f" (mean over {args.seeds} seed(s), C grid {cs})\n"
    )
    print("| dataset | features | " + " | ".join(f"{k}-shot" for k in SHOTS) + " |")
    print("|---|---|" + "---|" * len(SHOTS))
    for dataset in ("caltech101", "flowers102"):
        train_paths, train_labels = read_split(dataset, "train_16shot")
        test_paths, test_labels = read_split(dataset, "test")
        train_out = cached_image_outputs(model, train_paths, CACHE)
        test_out = cached_image_outputs(model, test_paths, CACHE)
        features = {
            f"aligned ({model.embed_dim}-d)": (model.embed_outputs(train_out), model.embed_outputs(test_out)),
            "pooled (1280-d)": (l2_normalize(train_out.pooled), l2_normalize(test_out.pooled)),
        }
        for name, (x_train, x_test) in features.items():
            cells = []
            for k in SHOTS:
                accs = []
                for seed in range(args.seeds):
                    idx = pick(train_labels, k, seed)
                    clf = FewShotClassifier(None, Cs=cs, default_C=cs[0], random_state=seed)
                    clf.fit(x_train[idx], [train_labels[i] for i in idx])
                    accs.append(100 * float(np.mean(clf.predict(x_test) == np.asarray(test_labels, dtype=object))))
                cells.append(f"{np.mean(accs):.1f}")
            print(f"| {dataset} | {name} | " + " | ".join(cells) + " |", flush=True)
    print(f"\n({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
