"""Training alignment heads (``vocabfree.models.alignment``) on image-caption pairs, and ``align``, the
library side of ``vocabfree align``.

Encoders stay frozen, so their outputs are computed once and cached on disk (``cached_image_outputs``);
training then takes seconds on a CPU. The loss is a symmetric InfoNCE with a learned temperature (CLIP's
recipe) on image-caption pairs, with one caption per image per batch so that no batch holds the same image
twice (its second caption would be a false negative).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from vocabfree.data.pairs import PairData, has_split_column, read_pairs
from vocabfree.errors import IndexMismatchError, InvalidInputError
from vocabfree.metrics.retrieval import retrieval_recall
from vocabfree.models._runtime import Precision
from vocabfree.models.alignment import INIT_TEMPERATURE, MAX_LOGIT_SCALE, AlignmentHead, HeadConfig, HeadNet
from vocabfree.models.cache import cache_key, cached_encode
from vocabfree.models.colour import COLOUR_VERSION
from vocabfree.models.efficientnet_lite import FEATURE_DIM, ImageOutputs
from vocabfree.models.local import LocalModel, build_local

log = logging.getLogger(__name__)

# -------------------------------------------------------------------------------------- cached features


def cached_image_outputs(
    model: LocalModel,
    paths: Sequence[str | Path],
    cache_dir: str | Path | None,
    *,
    batch_size: int = 32,
    progress: bool = False,
) -> ImageOutputs:
    """Classifier outputs of ``paths``, cached (resumable, chunked) under ``cache_dir``; None disables caching.

    The key covers the encoder (arch, input size, precision) and the paths, so a cache never serves other
    images or another encoder. Pooled features, logits and colour shares are stored side by side in one array.
    """
    encoder = model.image_encoder
    paths = [str(p) for p in paths]
    key = cache_key("local-outputs-v2", encoder.tag, encoder.runtime.precision, COLOUR_VERSION, paths)

    def encode(chunk: Sequence[str]) -> np.ndarray:
        out = model.image_outputs(list(chunk), batch_size=batch_size)
        assert out.colours is not None  # the EfficientNet-Lite encoder always measures colours
        return np.hstack([out.pooled, out.logits, out.colours])  # (n, 1280 + 1000 + 11)

    rows = cached_encode(encode, paths, cache_dir, key, progress=progress, desc=f"encode images ({encoder.tag})")
    logits_end = FEATURE_DIM + 1000
    return ImageOutputs(rows[:, :FEATURE_DIM], rows[:, FEATURE_DIM:logits_end], rows[:, logits_end:])


@dataclass(frozen=True)
class PairFeatures:
    """Frozen-encoder features of ``PairData``: what heads are trained on."""

    conse: np.ndarray  # (M, D) ConSE image embeddings
    pooled: np.ndarray  # (M, 1280) pooled image features
    text: np.ndarray  # (K, D) text embeddings before the head
    image_of_text: np.ndarray  # (K,) int

    def __post_init__(self):
        if len(self.conse) != len(self.pooled) or len(self.text) != len(self.image_of_text):
            raise InvalidInputError("PairFeatures arrays are not row-aligned")


def pair_features(
    model: LocalModel, pairs: PairData, cache_dir: str | Path | None, *, progress: bool = False
) -> PairFeatures:
    """Encode the pairs once with the frozen encoders (images and caption embeddings cached on disk)."""
    outputs = cached_image_outputs(model, pairs.paths, cache_dir, progress=progress)
    captions = list(pairs.captions)
    raw = cached_encode(
        lambda chunk: model.raw_text_embeddings(list(chunk)),
        captions,
        cache_dir,
        cache_key("text", model.text_encoder.name, captions),
        chunk_size=2048,
        progress=progress,
        desc="encode captions",
    )
    text = model.embed_raw_texts(raw)
    return PairFeatures(model.conse_from_outputs(outputs), outputs.pooled, text, pairs.image_of_caption)


# ------------------------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of ``train_head``."""

    epochs: int = 40
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.05
    init_temperature: float = INIT_TEMPERATURE
    seed: int = 0
    select_best: bool = True  # keep the epoch with the best validation recall (needs validation pairs)
    threads: int = 1  # torch CPU threads while training: the matrices are tiny, and on a busy machine more
    # threads spin against each other (3 epochs took 12.7 s with 2 threads, 0.6 s with 1, on 2 shared cores)


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count, restoring the caller's setting afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _evaluate(net: HeadNet, data: PairFeatures) -> dict[str, float]:
    net.eval()
    with torch.inference_mode():
        img = net.encode_image(torch.from_numpy(data.conse), torch.from_numpy(data.pooled))
        txt = net.encode_text(torch.from_numpy(data.text))
        scale = net.logit_scale.clamp(max=math.log(MAX_LOGIT_SCALE)).exp()
        logits = scale * txt @ img.T  # (K, M): a caption against all images
        loss = F.cross_entropy(logits, torch.from_numpy(data.image_of_text)).item()
    return {"loss": loss, **retrieval_recall(img.numpy(), txt.numpy(), data.image_of_text)}


def train_head(
    train: PairFeatures,
    val: PairFeatures | None = None,
    *,
    config: HeadConfig = HeadConfig(),
    train_config: TrainConfig = TrainConfig(),
    on_epoch: Callable[[int, dict], None] | None = None,
) -> tuple[AlignmentHead, dict]:
    """Train a head with symmetric InfoNCE; returns it and a report.

    The report holds ``history`` (per-epoch train loss and val metrics; with validation pairs, epoch 0 is the
    untrained head) and ``selected`` (the history row of the epoch whose weights the returned head has: the
    best validation epoch >= 1 with ``select_best``, else the last). Seeded end to end (init, caption choice,
    batch order). Each epoch visits every image once, paired with a random one of its captions.
    ``on_epoch(epoch, row)`` lets a caller show progress.
    """
    if len(train.conse) < 2:
        raise InvalidInputError("alignment training needs at least two images")
    if train.text.shape[1] != config.text_dim or train.conse.shape[1] != config.text_dim:
        raise IndexMismatchError(f"features are {train.text.shape[1]}-d, the head expects {config.text_dim}-d")
    with _torch_threads(train_config.threads):
        return _train(train, val, config, train_config, on_epoch)


def _train(
    train: PairFeatures,
    val: PairFeatures | None,
    config: HeadConfig,
    train_config: TrainConfig,
    on_epoch: Callable[[int, dict], None] | None,
) -> tuple[AlignmentHead, dict]:
    torch.manual_seed(train_config.seed)
    rng = np.random.default_rng(train_config.seed)
    net = HeadNet(config, train_config.init_temperature)
    optim = torch.optim.AdamW(net.parameters(), lr=train_config.lr, weight_decay=train_config.weight_decay)
    captions_of = [np.flatnonzero(train.image_of_text == i) for i in range(len(train.conse))]
    usable = np.asarray([i for i, c in enumerate(captions_of) if len(c)])
    steps_per_epoch = math.ceil(len(usable) / train_config.batch_size)
    total = steps_per_epoch * train_config.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(optim, max_lr=train_config.lr, total_steps=max(total, 1), pct_start=0.1)
    conse, pooled, text = (torch.from_numpy(np.asarray(a, np.float32)) for a in (train.conse, train.pooled, train.text))
    history: list[dict] = []
    if val is not None:
        history.append({"epoch": 0, "train_loss": None, **{f"val_{k}": v for k, v in _evaluate(net, val).items()}})
    best_state, best_score = None, -1.0
    best_row: dict = {}
    for epoch in range(1, train_config.epochs + 1):
        net.train()
        order = rng.permutation(usable)
        losses = []
        for start in range(0, len(order), train_config.batch_size):
            images = order[start : start + train_config.batch_size]
            if len(images) < 2:
                continue
            texts = np.asarray([rng.choice(captions_of[i]) for i in images])
            _, _, loss = net(conse[images], pooled[images], text[texts], torch.arange(len(images)))
            optim.zero_grad()
            loss.backward()
            optim.step()
            sched.step()
            losses.append(loss.item())
        row = {"epoch": epoch, "train_loss": float(np.mean(losses))}
        if val is not None:
            row.update({f"val_{k}": v for k, v in _evaluate(net, val).items()})
            if row["val_mean_recall"] > best_score:
                best_score, best_row = row["val_mean_recall"], row
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        history.append(row)
        log.info("alignment epoch %d: %s", epoch, row)
        if on_epoch is not None:
            on_epoch(epoch, row)
    selected: dict = history[-1] if history else {"epoch": 0, "train_loss": None}
    if train_config.select_best and best_state is not None:
        net.load_state_dict(best_state)
        selected = best_row
    net.eval()
    return AlignmentHead(net), {"history": history, "selected": selected}


def summarise_history(history: list[dict]) -> dict:
    """The loss curve in a few numbers (for the model card): first/last/min train loss, best val epoch."""
    train = [r["train_loss"] for r in history if r.get("train_loss") is not None]
    summary = {
        "epochs": len(train),
        "train_loss_first": train[0] if train else None,
        "train_loss_last": train[-1] if train else None,
        "train_loss_min": min(train) if train else None,
    }
    val = [r for r in history if "val_mean_recall" in r]
    if val:
        best = max(val, key=lambda r: r["val_mean_recall"])
        summary.update({"val_at_start": val[0], "val_best": best, "val_last": val[-1]})
    summary["train_loss_curve"] = [round(x, 4) for x in train]
    return summary


# ----------------------------------------------------------------------------------------- the command


@dataclass(frozen=True)
class AlignConfig:
    """Everything ``vocabfree align`` needs: data, encoders, head, optimisation and where to write."""

    train_csv: Path
    out: Path  # output stem: writes out.safetensors and out.json
    val_csv: Path | None = None  # default: the train CSV's ``val`` split when it has a split column
    train_split: str | None = "train"
    val_split: str | None = "val"
    head: HeadConfig = field(default_factory=HeadConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    cache_dir: Path | None = None
    precision: Precision = "auto"
    device: str | None = None
    notes: str = ""  # free text for the model card, e.g. a statement that the data is disjoint from eval sets


def align(config: AlignConfig, *, progress: bool = False, on_epoch: Callable[[int, dict], None] | None = None) -> dict:
    """Train a head on frozen EfficientNet-Lite + MiniLM features, save it with its model card; returns the card.

    The card's ``metrics`` are those of the saved weights (the epoch ``train_head`` selected).
    """
    has_split = has_split_column(config.train_csv)
    train_pairs = read_pairs(config.train_csv, split=config.train_split if has_split else None)
    if config.val_csv is not None:
        val_has_split = has_split_column(config.val_csv)
        val_pairs = read_pairs(config.val_csv, split=config.val_split if val_has_split else None)
    elif has_split and config.val_split:
        val_pairs = read_pairs(config.train_csv, split=config.val_split)
    else:
        val_pairs = None
    if val_pairs is not None and set(val_pairs.paths) & set(train_pairs.paths):
        raise InvalidInputError("validation images overlap the training images")
    model = build_local(config.head.arch, conse=config.head.conse, device=config.device, precision=config.precision)
    train = pair_features(model, train_pairs, config.cache_dir, progress=progress)
    val = pair_features(model, val_pairs, config.cache_dir, progress=progress) if val_pairs else None
    head, report = train_head(train, val, config=config.head, train_config=config.train, on_epoch=on_epoch)
    head.card = {
        "name": Path(config.out).name,
        "backend": f"local ({config.head.arch} + all-MiniLM-L6-v2, ConSE T={config.head.conse.top_t})",
        "training_data": {
            "train": train_pairs.source,
            "train_images": len(train_pairs.paths),
            "train_captions": len(train_pairs.captions),
            "val": val_pairs.source if val_pairs else None,
            "val_images": len(val_pairs.paths) if val_pairs else 0,
        },
        "train_config": asdict(config.train),
        "loss_curve": summarise_history(report["history"]),
        "metrics": {"val": report["selected"]},
        "precision": model.image_encoder.runtime.precision,
        "notes": config.notes,
    }
    weights, card = head.save(config.out)
    return {**head.card, "files": [str(weights), str(card)]}
