"""Zero-shot accuracy of the ``local`` backends on Caltech-101 and Flowers-102 (CoOp test splits).

Runs the classifier once per image (cached under artifacts/features by extract_features.py) and then
re-embeds the cached outputs for every variant, so the whole sweep takes a few minutes on 2 CPU cores:

    python benchmarks/extract_features.py --arch lite2 && python benchmarks/extract_features.py --arch lite0
    python benchmarks/local_zero_shot.py [--heads-only] [--head artifacts/heads/NAME ...]

Prints markdown tables: ConSE ablations (T, name prompt, synonyms, centring, templates), Lite0 vs Lite2, and
ConSE vs learned head vs combined (heads trained on caption_pairs train only).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time

import numpy as np
from _common import CACHE, DATA, read_split

from vocabfree.classify.templates import resolve_templates
from vocabfree.classify.zero_shot import ZeroShotClassifier
from vocabfree.metrics import cluster_accuracy, topk_accuracy
from vocabfree.models.align_train import cached_image_outputs
from vocabfree.models.alignment import AlignmentHead
from vocabfree.models.cache import cache_key, cached_encode
from vocabfree.models.local import (
    COLOUR_WEIGHT,
    TUNED_CONSE,
    ConseConfig,
    LocalModel,
    build_local,
    class_text_embeddings,
)
from vocabfree.models.protocol import l2_normalize

DATASETS = ("caltech101", "flowers102")


class TextCache:
    """Raw MiniLM embeddings of (template, label) prompts, shared by all variants of one run."""

    def __init__(self, model: LocalModel):
        self.model, self.store = model, {}

    def raw(self, labels, templates) -> np.ndarray:  # (C, T, D)
        key = (tuple(labels), tuple(templates))
        if key not in self.store:
            prompts = [t.format(label) for label in labels for t in templates]
            emb = cached_encode(
                lambda chunk: self.model.raw_text_embeddings(list(chunk)),
                prompts,
                CACHE,
                cache_key("minilm-prompts", prompts),
                chunk_size=4096,
            )
            self.store[key] = emb.reshape(len(labels), len(templates), -1)
        return self.store[key]


def accuracies(ranked: list, labels: list[str]) -> dict[str, float]:
    """Top-1 / top-5 / cluster accuracy (%) of ranked label lists, as ``evaluate_zero_shot`` reports them."""
    return {
        "top1": 100 * topk_accuracy(ranked, labels, 1),
        "top5": 100 * topk_accuracy(ranked, labels, 5),
        "cluster": 100 * cluster_accuracy([r[0] for r in ranked], labels),
    }


def zero_shot(model: LocalModel, texts: TextCache, outputs, labels, templates: str) -> dict[str, float]:
    """Top-1/top-5/cluster accuracy (%) exactly as ZeroShotClassifier computes them, from cached outputs."""
    classes = sorted(set(labels))
    temps = resolve_templates(templates)
    raw = texts.raw(classes, temps)
    prompts = model.embed_raw_texts(raw.reshape(-1, raw.shape[-1])).reshape(raw.shape)
    weights = l2_normalize(prompts.mean(axis=1))  # (C, D)
    scores = model.embed_outputs(outputs) @ weights.T  # (N, C)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :5]
    ranked = [[classes[j] for j in row] for row in order]
    return accuracies(ranked, labels)


_CLASS_EMB: dict = {}


def variant(base: LocalModel, conse: ConseConfig, head=None) -> LocalModel:
    """The same encoders with another ConSE setting and/or head (class embeddings computed once per naming)."""
    naming = (conse.name_prompt, conse.synonyms)
    if naming not in _CLASS_EMB:
        _CLASS_EMB[naming] = class_text_embeddings(base.text_encoder.encode, conse)
    class_emb = _CLASS_EMB[naming]
    center = class_emb.mean(axis=0) if conse.center else None
    return dataclasses.replace(base, conse=conse, class_emb=class_emb, center=center, head=head)


def row(name: str, results: dict[str, dict]) -> str:
    cells = [f"{results[d]['top1']:.1f} / {results[d]['top5']:.1f} / {results[d]['cluster']:.1f}" for d in DATASETS]
    return f"| {name} | " + " | ".join(cells) + " |"


def header(first: str) -> str:
    names = " | ".join(f"{d} top-1 / top-5 / cluster" for d in DATASETS)
    return f"| {first} | {names} |\n|---|" + "---|" * len(DATASETS)


def evaluate(model: LocalModel, texts: TextCache, data: dict, templates: str) -> dict[str, dict]:
    return {d: zero_shot(model, texts, data[d][0], data[d][1], templates) for d in DATASETS}


def default_parts(base: LocalModel, data: dict) -> None:
    """What each part of the ``local`` default adds, scored by the real ``ZeroShotClassifier`` (openai
    templates) on the cached classifier outputs: the same numbers ``vocabfree eval zero-shot`` prints."""
    print(
        f"\n### The `local` default, part by part (openai templates; {len(data[DATASETS[0]][1])} and "
        f"{len(data[DATASETS[1]][1])} images)\n"
    )
    print(header("colour channel / WordNet descriptions / calibration"))
    conse = variant(base, TUNED_CONSE)
    for colour, describe, calibrate in itertools.product((False, True), repeat=3):
        model = dataclasses.replace(conse, colour_weight=COLOUR_WEIGHT if colour else 0.0)
        results = {}
        for d in DATASETS:
            outputs, labels = data[d]
            clf = ZeroShotClassifier(model, descriptions="wordnet" if describe else "none", calibrate=calibrate)
            clf.fit(None, sorted(set(labels)))
            ranked = [p.labels for p in clf.predict_topk(model.embed_outputs(outputs), k=5)]
            results[d] = accuracies(ranked, labels)
        name = " / ".join(("yes" if flag else "-") for flag in (colour, describe, calibrate))
        if colour and describe and calibrate:
            name += " = **`local`**"
        elif not (colour or describe or calibrate):
            name += " = `local-conse`"
        print(row(name, results), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--head", action="append", default=[], help="extra head stems to evaluate")
    parser.add_argument("--heads-only", action="store_true")
    parser.add_argument("--default-only", action="store_true", help="only the table of the `local` default's parts")
    parser.add_argument(
        "--split",
        default="test",
        help="test, or train_16shot: a disjoint split to check that the "
        "gains of the `local` parts replicate off the test set",
    )
    args = parser.parse_args()
    start = time.time()

    models, data = {}, {}
    for arch in ("lite2",) if args.heads_only or args.default_only else ("lite2", "lite0"):
        models[arch] = build_local(arch)
        data[arch] = {}
        for d in DATASETS:
            paths, labels = read_split(d, args.split)
            data[arch][d] = (cached_image_outputs(models[arch], paths, CACHE), labels)
    texts = TextCache(models["lite2"])  # the text side does not depend on the image encoder

    if not args.heads_only:
        default_parts(models["lite2"], data["lite2"])
    if not args.heads_only and not args.default_only:
        print("\n### ConSE ablations (EfficientNet-Lite2, no training)\n")
        print(header("T / name prompt / synonyms / centring / softmax temp / label templates"))
        photo = "a photo of a {}."
        grid = [
            (ConseConfig(top_t=10), "none"),  # the reference: classic ConSE, bare names
            (ConseConfig(top_t=1), "none"),
            (ConseConfig(top_t=5), "none"),
            (ConseConfig(top_t=20), "none"),
            (ConseConfig(top_t=10), "photo"),
            (ConseConfig(top_t=10), "openai"),
            (ConseConfig(top_t=10, name_prompt=photo), "photo"),
            (ConseConfig(top_t=10, synonyms=True), "none"),
            (ConseConfig(top_t=10, center=True), "none"),
            (ConseConfig(top_t=10, center=True), "openai"),
            (ConseConfig(top_t=10, center=True, temperature=2.0), "none"),
            (ConseConfig(top_t=10, center=True, temperature=2.0), "openai"),  # = local-conse
            (ConseConfig(top_t=50, center=True, temperature=2.0), "openai"),
            (ConseConfig(top_t=10, name_prompt=photo, center=True, temperature=2.0), "openai"),
        ]
        for conse, templates in grid:
            model = variant(models["lite2"], conse)
            name = (
                f"T={conse.top_t} / `{conse.name_prompt}` / {'syn' if conse.synonyms else '-'} / "
                f"{'center' if conse.center else '-'} / temp {conse.temperature:g} / {templates}"
            )
            print(row(name, evaluate(model, texts, data["lite2"], templates)), flush=True)

        print("\n### Image encoder (ConSE T=10, bare names, no templates; then the best ConSE setting)\n")
        print(header("encoder"))
        for arch in ("lite0", "lite2"):
            for conse, templates in (
                (ConseConfig(top_t=10), "none"),
                (ConseConfig(top_t=10, center=True, temperature=2.0), "openai"),
            ):
                model = variant(models[arch], conse)
                name = f"{arch} / T={conse.top_t} / center={conse.center} / temp {conse.temperature:g} / {templates}"
                print(row(name, evaluate(model, texts, data[arch], templates)), flush=True)

    if args.head and not args.default_only:
        print("\n### Learned heads (trained on caption_pairs train only) vs ConSE\n")
        print(header("variant / label templates"))
        for stem in args.head:
            head = AlignmentHead.load(stem)
            arch = head.config.arch
            conse_model = variant(models[arch], head.config.conse)
            with_head = dataclasses.replace(conse_model, head=head)
            for templates in ("none", "openai"):
                print(
                    row(
                        f"ConSE ({arch}, {head.config.conse}) / {templates}",
                        evaluate(conse_model, texts, data[arch], templates),
                    )
                )
                label = f"{stem.split('/')[-1]}: {head.config.kind}, residual={head.config.residual}"
                print(row(f"{label} / {templates}", evaluate(with_head, texts, data[arch], templates)), flush=True)
    print(f"\n({time.time() - start:.0f} s; data: {DATA})")


if __name__ == "__main__":
    main()
