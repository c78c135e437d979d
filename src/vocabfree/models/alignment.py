"""Alignment heads: small projections trained to pull a frozen image encoder and a frozen text encoder together.

The idea is SAIL's (align pretrained unimodal encoders with light heads) on top of the training-free ConSE
embedding of ``vocabfree.models.local``. Encoders stay frozen, so their outputs are computed once and cached
on disk (``cached_image_outputs``); training then takes seconds on a CPU. The loss is a symmetric InfoNCE
with a learned temperature (CLIP's recipe) on image-caption pairs, with one caption per image per batch so
that no batch holds the same image twice (its second caption would be a false negative).

With ``residual=True`` the image head adds a zero-initialised correction to the ConSE embedding and the text
adapter a zero-initialised linear correction to the sentence embedding, so training starts exactly at ConSE
and the first validation point is the training-free baseline.

Artifacts: ``AlignmentHead.save(stem)`` writes ``stem.safetensors`` (weights, config in the header) and
``stem.json`` (the model card: training data, loss curve summary, metrics, format version).
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vocabfree.errors import IndexMismatchError, InvalidInputError, MissingDependencyError
from vocabfree.models.cache import cache_key, cached_encode
from vocabfree.models.colour import COLOUR_VERSION
from vocabfree.models.local import FEATURE_DIM, ConseConfig, ImageOutputs, LocalModel
from vocabfree.models.protocol import l2_normalize

log = logging.getLogger(__name__)

HEAD_FORMAT_VERSION = 1
SHIPPED_HEAD = "assets/local_head"  # stem inside the vocabfree.models package
CAPTION_TEMPLATES = (  # labels -> captions when training from a labelled CSV
    "a photo of a {}.",
    "a picture of a {}.",
    "an image of a {}.",
    "a close-up photo of the {}.",
    "a photo of the {}.",
)


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
        return np.hstack([out.pooled, out.logits, out.colours])  # (n, 1280 + 1000 + 11)

    rows = cached_encode(encode, paths, cache_dir, key, progress=progress, desc=f"encode images ({encoder.tag})")
    logits_end = FEATURE_DIM + 1000
    return ImageOutputs(rows[:, :FEATURE_DIM], rows[:, FEATURE_DIM:logits_end], rows[:, logits_end:])


@dataclass(frozen=True)
class PairData:
    """Image-caption pairs: ``captions[i]`` describes ``paths[image_of_caption[i]]``."""

    paths: tuple[str, ...]  # distinct images
    captions: tuple[str, ...]
    image_of_caption: np.ndarray  # (K,) int index into paths
    source: str = ""  # where the pairs came from, for the model card


def read_pairs(
    csv_path: str | Path, *, split: str | None = None, templates: Sequence[str] = CAPTION_TEMPLATES
) -> PairData:
    """Pairs from a ``path,caption[,split]`` CSV, or from a ``path,label`` CSV (each label written into every
    template). Paths are relative to the CSV's folder. ``split`` keeps only rows of that split."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise InvalidInputError(f"{csv_path}: no such CSV file")
    with csv_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        rows = list(reader)
    if "path" not in columns or not ({"caption", "label"} & columns):
        raise InvalidInputError(
            f"{csv_path}: needs columns path and caption (or path and label), has {sorted(columns)}"
        )
    if split is not None:
        if "split" not in columns:
            raise InvalidInputError(f"{csv_path}: split '{split}' requested but the CSV has no split column")
        rows = [r for r in rows if r["split"] == split]
    if not rows:
        raise InvalidInputError(f"{csv_path}: no rows" + (f" in split '{split}'" if split else ""))
    index: dict[str, int] = {}
    captions, owner = [], []
    for row in rows:
        path = str(csv_path.parent / row["path"])
        i = index.setdefault(path, len(index))
        texts = [row["caption"]] if "caption" in columns else [t.format(row["label"]) for t in templates]
        captions.extend(texts)
        owner.extend([i] * len(texts))
    source = f"{csv_path}" + (f" (split {split})" if split else "")
    return PairData(tuple(index), tuple(captions), np.asarray(owner, np.int64), source)


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


# -------------------------------------------------------------------------------------------- the head


@dataclass(frozen=True)
class HeadConfig:
    """Shape of an alignment head, and the frozen encoders it was trained on."""

    arch: str = "lite2"  # EfficientNet-Lite tag of the image encoder
    conse: ConseConfig = field(default_factory=ConseConfig)  # ConSE settings the head sits on
    kind: Literal["linear", "mlp"] = "mlp"  # image head on the pooled features
    residual: bool = True  # image = ConSE + head(pooled); False: image = head(pooled) alone
    hidden_dim: int = 512  # MLP width
    dropout: float = 0.1
    text_adapter: bool = True  # zero-initialised residual linear map on the text side
    text_dim: int = 384  # sentence-encoder width (the output width)

    def __post_init__(self):
        if self.kind not in ("linear", "mlp"):
            raise InvalidInputError(f"head kind must be 'linear' or 'mlp', got {self.kind!r}")

    @classmethod
    def from_dict(cls, data: dict) -> HeadConfig:
        return cls(**{**data, "conse": ConseConfig(**data["conse"])})


class HeadNet(nn.Module):
    """The trainable part: image head (+ residual ConSE), text adapter and the temperature."""

    def __init__(self, config: HeadConfig, init_temperature: float = 0.07):
        super().__init__()
        self.config = config
        self.norm = nn.LayerNorm(FEATURE_DIM)
        if config.kind == "linear":
            self.image = nn.Sequential(nn.Linear(FEATURE_DIM, config.text_dim))
        else:
            self.image = nn.Sequential(
                nn.Linear(FEATURE_DIM, config.hidden_dim),
                nn.GELU(),
                nn.Dropout(config.dropout),
                nn.Linear(config.hidden_dim, config.text_dim),
            )
        if config.residual:  # start exactly at ConSE
            nn.init.zeros_(self.image[-1].weight)
            nn.init.zeros_(self.image[-1].bias)
        self.text = nn.Linear(config.text_dim, config.text_dim, bias=False) if config.text_adapter else None
        if self.text is not None:
            nn.init.zeros_(self.text.weight)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))

    def encode_image(self, conse: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        z = self.image(self.norm(pooled))  # (B, D)
        return F.normalize(z + conse if self.config.residual else z, dim=-1)

    def encode_text(self, text: torch.Tensor) -> torch.Tensor:
        return F.normalize(text + self.text(text) if self.text is not None else text, dim=-1)

    def forward(self, conse, pooled, text, targets=None):
        """Returns (image embeddings (B, D), text embeddings (B, D), symmetric InfoNCE loss or None).

        Row i of the images and row i of the texts are a positive pair; every other row is a negative.
        """
        img, txt = self.encode_image(conse, pooled), self.encode_text(text)
        if targets is None:
            return img, txt, None
        logits = self.logit_scale.clamp(max=math.log(100.0)).exp() * img @ txt.T  # (B, B)
        loss = (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
        return img, txt, loss


class AlignmentHead:
    """A trained head with numpy in/out, its config and model card; saved as safetensors + JSON."""

    def __init__(self, net: HeadNet, card: dict | None = None):
        self.net = net.eval()
        self.config: HeadConfig = net.config
        self.card = card or {}

    @property
    def logit_scale(self) -> float:
        return float(self.net.logit_scale.detach().clamp(max=math.log(100.0)).exp())

    def embed_images(self, conse: np.ndarray, pooled: np.ndarray) -> np.ndarray:
        """(N, D) ConSE + (N, 1280) pooled -> (N, D) aligned image embeddings, normalised."""
        with torch.inference_mode():
            out = self.net.encode_image(
                torch.from_numpy(np.asarray(conse, np.float32)), torch.from_numpy(np.asarray(pooled, np.float32))
            )
        return l2_normalize(out.numpy())

    def embed_texts(self, text: np.ndarray) -> np.ndarray:
        """(N, D) sentence embeddings -> (N, D) aligned text embeddings, normalised."""
        with torch.inference_mode():
            out = self.net.encode_text(torch.from_numpy(np.asarray(text, np.float32)))
        return l2_normalize(out.numpy())

    def save(self, stem: str | Path) -> tuple[Path, Path]:
        """Write ``stem.safetensors`` and ``stem.json``; returns both paths."""
        from safetensors.torch import save_file

        stem = Path(stem)
        stem.parent.mkdir(parents=True, exist_ok=True)
        weights, card_path = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
        meta = {"format_version": str(HEAD_FORMAT_VERSION), "config": json.dumps(asdict(self.config))}
        state = {k: v.detach().contiguous() for k, v in self.net.state_dict().items()}
        save_file(state, str(weights), metadata=meta)
        card = {"format_version": HEAD_FORMAT_VERSION, "config": asdict(self.config), **self.card}
        card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        return weights, card_path

    @classmethod
    def load(cls, stem: str | Path) -> AlignmentHead:
        """Load a head saved by ``save`` (``stem`` with or without the .safetensors suffix)."""
        from safetensors import safe_open

        stem = Path(stem)
        weights = stem if stem.suffix == ".safetensors" else stem.with_suffix(".safetensors")
        if not weights.is_file():
            raise InvalidInputError(f"{weights}: no such head file")
        with safe_open(str(weights), framework="pt") as handle:
            meta = handle.metadata() or {}
            state = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118 (not a dict)
        if meta.get("format_version") != str(HEAD_FORMAT_VERSION) or "config" not in meta:
            raise IndexMismatchError(
                f"{weights}: head format {meta.get('format_version')!r}, this vocabfree reads {HEAD_FORMAT_VERSION}"
            )
        net = HeadNet(HeadConfig.from_dict(json.loads(meta["config"])))
        net.load_state_dict(state, strict=True)
        card_path = weights.with_suffix(".json")
        card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.is_file() else {}
        card = {k: v for k, v in card.items() if k not in ("format_version", "config")}
        return cls(net, card)


def load_shipped_head() -> AlignmentHead:
    """The head shipped inside the package (trained on caption_pairs train only; see its model card)."""
    stem = resources.files("vocabfree.models").joinpath(SHIPPED_HEAD + ".safetensors")
    if not stem.is_file():
        raise MissingDependencyError(
            f"the shipped alignment head {SHIPPED_HEAD}.safetensors is missing; reinstall vocabfree"
        )
    return AlignmentHead.load(Path(str(stem)))


# ------------------------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of ``train_head``."""

    epochs: int = 40
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.05
    init_temperature: float = 0.07
    seed: int = 0
    select_best: bool = True  # keep the epoch with the best validation recall (needs validation pairs)
    threads: int = 1  # torch CPU threads while training: the matrices are tiny, and on a busy machine more
    # threads spin against each other (3 epochs took 12.7 s with 2 threads, 0.6 s with 1, on 2 shared cores)


@contextlib.contextmanager
def _torch_threads(n: int):
    """Temporarily set torch's intra-op thread count, restoring the caller's setting afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def retrieval_recall(
    image: np.ndarray, text: np.ndarray, image_of_text: np.ndarray, ks: Sequence[int] = (1, 5)
) -> dict[str, float]:
    """Recall@k (in %) for text->image and image->text retrieval; an image hit counts any of its captions."""
    sim = np.asarray(text, np.float32) @ np.asarray(image, np.float32).T  # (K, M)
    return recall_from_scores(sim, image_of_text, ks)


def recall_from_scores(sim: np.ndarray, image_of_text: np.ndarray, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """``retrieval_recall`` from a (texts, images) score matrix, for scores that are not plain dot products
    (e.g. calibrated per text)."""
    n_texts, n_images = sim.shape
    out = {}
    t2i_rank = (sim > sim[np.arange(n_texts), image_of_text][:, None]).sum(axis=1)  # rank of the true image
    best_rank_i2t = np.full(n_images, np.iinfo(np.int64).max)
    order = np.argsort(-sim.T, axis=1, kind="stable")  # (M, K)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(n_texts)[None, :].repeat(n_images, 0), axis=1)
    for j, i in enumerate(image_of_text):
        best_rank_i2t[i] = min(best_rank_i2t[i], ranks[i, j])
    has_caption = best_rank_i2t < np.iinfo(np.int64).max
    for k in ks:
        out[f"t2i_r{k}"] = float(100 * np.mean(t2i_rank < k))
        out[f"i2t_r{k}"] = float(100 * np.mean(best_rank_i2t[has_caption] < k))
    out["mean_recall"] = float(np.mean([v for v in out.values()]))
    return out


def _evaluate(net: HeadNet, data: PairFeatures) -> dict[str, float]:
    net.eval()
    with torch.inference_mode():
        img = net.encode_image(torch.from_numpy(data.conse), torch.from_numpy(data.pooled))
        txt = net.encode_text(torch.from_numpy(data.text))
        scale = net.logit_scale.clamp(max=math.log(100.0)).exp()
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
    """Train a head with symmetric InfoNCE; returns it and a history (per-epoch losses and val metrics).

    Seeded end to end (init, caption choice, batch order). Each epoch visits every image once, paired with a
    random one of its captions. ``on_epoch(epoch, row)`` lets a caller show progress.
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
                best_score = row["val_mean_recall"]
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        history.append(row)
        log.info("alignment epoch %d: %s", epoch, row)
        if on_epoch is not None:
            on_epoch(epoch, row)
    if train_config.select_best and best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return AlignmentHead(net), {"history": history}


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
    precision: str = "auto"
    device: str | None = None
    notes: str = ""  # free text for the model card, e.g. a statement that the data is disjoint from eval sets


def _has_split_column(path: Path) -> bool:
    with path.open(newline="", encoding="utf-8") as handle:
        return "split" in (csv.DictReader(handle).fieldnames or ())


def align(config: AlignConfig, *, progress: bool = False, on_epoch: Callable[[int, dict], None] | None = None) -> dict:
    """Train a head on frozen EfficientNet-Lite + MiniLM features, save it with its model card; returns the card."""
    from vocabfree.models.local import build_local

    has_split = _has_split_column(Path(config.train_csv))
    train_pairs = read_pairs(config.train_csv, split=config.train_split if has_split else None)
    if config.val_csv is not None:
        val_has_split = _has_split_column(Path(config.val_csv))
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
    history = report["history"]
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
        "loss_curve": summarise_history(history),
        "metrics": {
            "val": history[-1]
            if val is None
            else max((r for r in history if "val_mean_recall" in r), key=lambda r: r["val_mean_recall"])
        },
        "precision": model.image_encoder.runtime.precision,
        "notes": config.notes,
    }
    weights, card = head.save(config.out)
    return {**head.card, "files": [str(weights), str(card)]}
