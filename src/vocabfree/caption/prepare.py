"""Training data for caption decoders: pairs -> tokenised splits with their image features, and batches.

``prepare(config)`` reads the pairs, computes (or loads from the cache) the image features of every image once
(pooled vectors, or the token sequences cross-attention and the LLaVA projector read) and tokenises the
captions. ``batch_rows(split, step, ...)`` is a pure function of (seed, epoch, position), so a resumed run
draws exactly the batches the interrupted one would have; ``make_batch`` encodes each image of a batch once,
however many of its captions the batch holds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vocabfree.caption import checkpoint as ckpt
from vocabfree.caption.data import CaptionPair, group_by_image, read_pairs
from vocabfree.caption.decoder import IGNORE_INDEX
from vocabfree.errors import InvalidInputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """One split, ready for batching: per-caption token rows pointing at per-image features."""

    features: np.ndarray  # (I, F) float32 pooled, or (I, T, D) float16 tokens: one row per unique image
    image_of: np.ndarray  # (N,) int: image row of each caption
    inputs: np.ndarray  # (N, L) int64: BOS + caption, padded
    targets: np.ndarray  # (N, L) int64: caption + EOS, padded with IGNORE_INDEX
    images: list[str]  # (I,) paths
    references: list[list[str]]  # (I,) the captions of each image

    def captions_of(self) -> list[np.ndarray]:
        """Caption rows of each image, in image order."""
        order = np.argsort(self.image_of, kind="stable")
        return np.split(order, np.cumsum(np.bincount(self.image_of, minlength=len(self.images)))[:-1])


def encode_split(pairs: list[CaptionPair], features: np.ndarray, tokenizer, block_size: int) -> Split:
    images, refs = group_by_image(pairs)
    row = {p: i for i, p in enumerate(images)}
    seqs = [tokenizer.encode(p.caption)[: block_size - 1] for p in pairs]
    width = max((len(s) for s in seqs), default=0) + 1
    inputs = np.full((len(seqs), width), tokenizer.pad_id, dtype=np.int64)
    targets = np.full((len(seqs), width), IGNORE_INDEX, dtype=np.int64)
    for n, s in enumerate(seqs):
        inputs[n, : len(s) + 1] = [tokenizer.bos_id, *s]
        targets[n, : len(s) + 1] = [*s, tokenizer.eos_id]
    image_of = np.array([row[p.image] for p in pairs], dtype=np.int64)
    return Split(features, image_of, inputs, targets, images, refs)


def steps_per_epoch(split: Split, batch_size: int, images_per_batch: int | None) -> int:
    n = len(split.images) if images_per_batch else len(split.inputs)
    return -(-n // (images_per_batch or batch_size))


def batch_rows(
    split: Split,
    step: int,
    *,
    seed: int,
    batch_size: int,
    images_per_batch: int | None,
    groups: list[np.ndarray] | None = None,
) -> np.ndarray:
    """Caption rows of global ``step``: a pure function of (seed, epoch, position in the epoch).

    Without ``images_per_batch``: ``batch_size`` captions of a per-epoch permutation of all captions. With it:
    that many images of a per-epoch permutation of the images, with all their captions (each image's tokens
    are then projected once per step instead of once per caption).
    """
    epoch, pos = divmod(step, steps_per_epoch(split, batch_size, images_per_batch))
    if not images_per_batch:
        order = np.random.default_rng([seed, epoch]).permutation(len(split.inputs))
        return order[pos * batch_size : (pos + 1) * batch_size]
    groups = groups if groups is not None else split.captions_of()
    order = np.random.default_rng([seed, epoch]).permutation(len(split.images))
    return np.concatenate([groups[i] for i in order[pos * images_per_batch : (pos + 1) * images_per_batch]])


def make_batch(split: Split, rows: np.ndarray, device: str) -> tuple[torch.Tensor, ...]:
    """(unique image features, caption tokens, targets, image_index) for caption ``rows``, padding trimmed."""
    targets = split.targets[rows]
    width = int((targets != IGNORE_INDEX).sum(axis=1).max())  # trim padding to the longest in the batch
    unique, index = np.unique(split.image_of[rows], return_inverse=True)
    feats = torch.from_numpy(np.asarray(split.features[unique], dtype=np.float32)).to(device)
    tokens = torch.from_numpy(split.inputs[rows, :width]).to(device)
    return feats, tokens, torch.from_numpy(targets[:, :width]).to(device), torch.from_numpy(index).to(device)


def _image_features(config, image_model, pairs, train_pairs, val_pairs):
    """({'train': ..., 'val': ...} features, feature kind, token spec or None)."""
    from vocabfree.caption.features import cached_features, feature_kind

    splits = {"train": train_pairs, "val": val_pairs}
    if config.tokens:
        from vocabfree.models.tokens import token_spec

        spec = token_spec(image_model, layer=config.token_layer, keep_cls=config.keep_cls).as_dict()
        spec.pop("image_model")
        feats = {
            name: cached_features(
                image_model, group_by_image(split)[0], "tokens", config.feature_cache, progress=True, tokens=spec
            )
            for name, split in splits.items()
            if split
        }
        return feats, "tokens", spec
    kind = feature_kind(image_model)
    # Pooled features of every image in the file (all splits) under one cache key: evaluation reuses them.
    all_images = group_by_image(pairs)[0]
    all_feats = cached_features(image_model, all_images, kind, config.feature_cache, progress=True)
    row = {path: i for i, path in enumerate(all_images)}
    feats = {
        name: all_feats[[row[path] for path in group_by_image(split)[0]]] for name, split in splits.items() if split
    }
    return feats, kind, None


def prepare(config, image_model=None):
    """Read pairs, compute (or load cached) image features, build the tokenizer; returns everything the loop
    needs: (tokenizer, train split, val split or None, image-model name, feature kind, token spec, LM or None)."""
    pairs = read_pairs(config.data, None, config.image_root)
    train_pairs = [p for p in pairs if p.split == config.train_split]
    val_pairs = [p for p in pairs if p.split == config.val_split] if config.val_split else []
    if config.val_max_images:  # validate on the first images only: neither encode nor score the others
        keep = set(group_by_image(val_pairs)[0][: config.val_max_images])
        val_pairs = [p for p in val_pairs if p.image in keep]
    if not train_pairs:
        raise InvalidInputError(f"{config.data}: no pairs in split '{config.train_split}'")
    if image_model is None:
        from vocabfree.models import load_model

        image_model = load_model(config.image_model, device=None if config.device == "auto" else config.device)
    feats, kind, spec = _image_features(config, image_model, pairs, train_pairs, val_pairs)
    log.info("image features: %s (%s%s)", image_model.name, kind, f" {spec}" if spec else "")

    out = Path(config.out_dir)
    lm = None
    if config.decoder == "own":
        from vocabfree.caption.tokenizer import WordPieceTokenizer

        if (out / ckpt.TOKENIZER_DIR).is_dir() and (out / ckpt.STATE_FILE).is_file():
            tokenizer = ckpt.load_tokenizer(out)  # resuming: the ids the weights were trained with
        else:
            tokenizer = WordPieceTokenizer.train([p.caption for p in train_pairs], config.vocab_size)
        block_size = int(config.model.get("block_size", 32))
    else:
        from vocabfree.caption.prefix_lm import PrefixLMConfig, load_language_model
        from vocabfree.caption.tokenizer import PretrainedTokenizer

        lm, hf_tokenizer = load_language_model(config.model.get("lm", PrefixLMConfig.lm))
        tokenizer = PretrainedTokenizer(hf_tokenizer)
        block_size = int(config.model.get("block_size", PrefixLMConfig.block_size))
    train = encode_split(train_pairs, feats["train"], tokenizer, block_size)
    val = encode_split(val_pairs, feats["val"], tokenizer, block_size) if val_pairs else None
    return tokenizer, train, val, image_model.name, kind, spec, lm


def model_config(config, tokenizer, features: np.ndarray, spec: dict[str, Any] | None) -> dict[str, Any]:
    """The decoder's config: the user's ``model`` fields plus what the data fixes (widths, vocabulary)."""
    out = dict(config.model)
    out["feature_dim"] = int(features.shape[-1])
    if config.decoder == "own":
        out["vocab_size"] = tokenizer.vocab_size
        if spec is not None:
            out.update(cross_attention=True, num_tokens=int(features.shape[1]))
    elif spec is not None:
        if out.setdefault("mapper", "llava") != "llava":
            raise InvalidInputError(f"image tokens need the 'llava' projector, not mapper '{out['mapper']}'")
    elif out.get("mapper") == "llava":
        raise InvalidInputError("the 'llava' projector reads image tokens: set tokens=true")
    return out
