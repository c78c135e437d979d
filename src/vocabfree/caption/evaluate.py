"""Evaluate captioners on a split: a trained checkpoint, or the nearest-training-caption baselines.

Every evaluation goes through the same ``score_captions`` (COCO metrics + optional CLIPScore), so the
numbers in one table are computed identically. Image features and embeddings come from the on-disk cache
that training filled, so re-evaluating costs decoding time only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vocabfree.caption.data import group_by_image, read_pairs
from vocabfree.caption.features import cached_features
from vocabfree.caption.generation import DecodeConfig
from vocabfree.errors import InvalidInputError
from vocabfree.metrics.captioning import CaptionScores, caption_scores, model_clip_score


@dataclass(frozen=True)
class EvalReport:
    """Scores of one captioner on one split, with its captions (for qualitative inspection)."""

    name: str
    split: str
    scores: CaptionScores
    clip_score: float | None  # None when no aligned model was given
    images: list[str]
    captions: list[str]
    references: list[list[str]]
    seconds: float  # captioning time (features cached), excluding metric computation

    def as_dict(self, with_captions: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "split": self.split,
            "n_images": len(self.images),
            **self.scores.as_dict(),
            "clip_score": self.clip_score,
            "notes": list(self.scores.notes),
            "seconds": round(self.seconds, 2),
        }
        if with_captions:
            out["captions"] = [
                {"image": i, "caption": c, "references": r}
                for i, c, r in zip(self.images, self.captions, self.references, strict=True)
            ]
        return out


def split_images(data: str | Path, split: str, image_root: str | Path | None = None, max_images: int | None = None):
    """(all images of the file, unique images of ``split`` (the first ``max_images``), their references, their
    rows in the first list)."""
    pairs = read_pairs(data, None, image_root)
    all_images = group_by_image(pairs)[0]
    images, refs = group_by_image([p for p in pairs if p.split == split])
    if not images:
        raise InvalidInputError(f"{data}: no images in split '{split}'")
    images, refs = images[:max_images], refs[:max_images]
    row = {p: i for i, p in enumerate(all_images)}
    return all_images, images, refs, np.array([row[p] for p in images])


def score_captions(
    name: str,
    split: str,
    images,
    captions,
    references,
    *,
    clip_model=None,
    clip_embeddings=None,
    seconds: float = 0.0,
    meteor: bool = True,
) -> EvalReport:
    """COCO metrics, plus CLIPScore when an aligned model and the images' embeddings in it are given."""
    scores = caption_scores(captions, references, meteor=meteor)
    clip = model_clip_score(clip_model, clip_embeddings, captions) if clip_model is not None else None
    return EvalReport(name, split, scores, clip, list(images), list(captions), [list(r) for r in references], seconds)


def evaluate_checkpoint(
    captioner,
    data: str | Path,
    split: str,
    *,
    decode: DecodeConfig | None = None,
    image_root: str | Path | None = None,
    feature_cache: str | Path | None = None,
    clip_model=None,
    name: str | None = None,
    meteor: bool = True,
    batch_size: int = 32,
    max_images: int | None = None,
) -> EvalReport:
    """Caption every image of ``split`` (or its first ``max_images``) with a loaded ``Captioner``; score it."""
    _, images, refs, _ = split_images(data, split, image_root, max_images)
    # Only this split's images are encoded (not every image of the file: Flickr8k's test is 1,000 of 7,386).
    feats = cached_features(
        captioner.image_model, images, captioner.feature_kind, feature_cache, progress=True, tokens=captioner.tokens
    )
    start = time.perf_counter()
    captions = [c.text for c in captioner.generate_from_features(feats, decode, batch_size=batch_size)]
    seconds = time.perf_counter() - start
    clip_emb = cached_features(clip_model, images, "embedding", feature_cache) if clip_model else None
    label = name or f"{captioner.meta.get('decoder', 'decoder')} (beam {(decode or DecodeConfig()).beam_size})"
    return score_captions(
        label,
        split,
        images,
        captions,
        refs,
        clip_model=clip_model,
        clip_embeddings=clip_emb,
        seconds=seconds,
        meteor=meteor,
    )


def evaluate_nearest(
    data: str | Path,
    split: str,
    image_model,
    *,
    by: Literal["image", "text"] = "image",
    train_split: str = "train",
    image_root: str | Path | None = None,
    feature_cache: str | Path | None = None,
    clip_model=None,
    meteor: bool = True,
    max_images: int | None = None,
) -> EvalReport:
    """The baseline: copy the nearest training caption.

    ``by="image"``: nearest training image by the image model's features (the ones a decoder would see),
    copying its first caption. ``by="text"``: the training caption whose text embedding is nearest to the
    image's embedding in the aligned space (needs an aligned ``image_model``).
    """
    from vocabfree.caption.baseline import nearest_caption
    from vocabfree.caption.features import feature_kind

    pairs = read_pairs(data, None, image_root)
    all_images = group_by_image(pairs)[0]
    row = {p: i for i, p in enumerate(all_images)}
    train = [p for p in pairs if p.split == train_split]
    _, images, refs, rows = split_images(data, split, image_root, max_images)
    kind = feature_kind(image_model) if by == "image" else "embedding"
    feats = cached_features(image_model, all_images, kind, feature_cache)
    start = time.perf_counter()
    captions_train = [p.caption for p in train]
    keys = feats[[row[p.image] for p in train]] if by == "image" else image_model.encode_texts(captions_train)
    captions = nearest_caption(feats[rows], keys, captions_train)
    seconds = time.perf_counter() - start
    clip_emb = cached_features(clip_model, all_images, "embedding", feature_cache)[rows] if clip_model else None
    return score_captions(
        f"nearest training caption (by {by})",
        split,
        images,
        captions,
        refs,
        clip_model=clip_model,
        clip_embeddings=clip_emb,
        seconds=seconds,
        meteor=meteor,
    )
