"""Train a caption decoder on image–caption pairs, with the image encoder frozen.

nanoGPT's train.py shape, as functions over a frozen ``TrainConfig``: prepare data (``prepare.py``: image
features or token sequences computed once and cached on disk), build or resume the model, then one loop of
AdamW steps with a pure warm-up + cosine ``lr_at(step)``, gradient clipping and bf16 autocast where the
hardware has it. Each epoch ends with
validation loss and greedy-decoding metrics (CIDEr, BLEU-4); the epoch with the best validation CIDEr is
what ``model.safetensors`` holds. ``state.pt`` is rewritten every ``checkpoint_every`` steps and holds the
optimizer, step and RNG states, so ``resume=True`` continues the same run exactly.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from vocabfree.atomic import atomic_path
from vocabfree.caption import checkpoint as ckpt
from vocabfree.caption.decoder import IGNORE_INDEX
from vocabfree.caption.generation import DEFAULT_MAX_LEN, DecodeConfig
from vocabfree.caption.prepare import Split, batch_rows, make_batch, model_config, prepare, steps_per_epoch
from vocabfree.errors import InvalidInputError
from vocabfree.models import OFFLINE_MODEL

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    data: str  # captions CSV (path,caption,split,source) or Karpathy dataset JSON
    out_dir: str = "runs/caption/own"
    decoder: Literal["own", "prefix_lm"] = "own"
    image_model: str = OFFLINE_MODEL  # frozen image encoder, by load_model name
    image_root: str | None = None  # images folder, for Karpathy JSON only
    tokens: bool = False  # condition on the encoder's image tokens (cross-attention / LLaVA projector)
    token_layer: int = -1  # which hidden layer's tokens (-1: last_hidden_state)
    keep_cls: bool = True  # keep CLS (and other special tokens) in front of the patch grid
    feature_cache: str | None = "artifacts/caption/features"  # None: recompute features every run
    train_split: str = "train"
    val_split: str = "val"
    model: dict[str, Any] = field(default_factory=dict)  # DecoderConfig / PrefixLMConfig fields
    vocab_size: int = 4096  # own decoder: word-piece vocabulary to learn from the training captions
    epochs: int = 10
    batch_size: int = 64
    images_per_batch: int | None = None  # batch by image: this many images with all their captions per step
    lr: float = 1e-3
    min_lr: float = 1e-5  # the cosine decays to this
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0  # max global gradient norm; 0 turns clipping off
    checkpoint_every: int = 200  # steps between state.pt rewrites (also written at each epoch end)
    val_max_images: int | None = None  # validate on only the first this many validation images (speed)
    max_len: int = DEFAULT_MAX_LEN  # longest generated caption, in tokens
    total_steps: int | None = None  # length of the run and its lr schedule; None: epochs x steps per epoch
    max_steps: int | None = None  # stop early after this global step (smoke runs, tests); schedule unchanged
    seed: int = 0
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"

    def __post_init__(self):
        if self.decoder not in ("own", "prefix_lm"):
            raise InvalidInputError(f"unknown decoder '{self.decoder}'; use 'own' or 'prefix_lm'")
        if self.epochs < 1 or self.batch_size < 1:
            raise InvalidInputError("epochs and batch_size must be >= 1")


@dataclass(frozen=True)
class TrainResult:
    out_dir: Path
    best_epoch: float | None  # None when no validation ran (the final weights were kept)
    best_cider: float | None
    history: list[dict[str, Any]]  # one row per epoch: train/val loss, val metrics, seconds
    train_seconds: float


def lr_at(step: int, *, lr: float, min_lr: float, warmup_steps: int, total_steps: int) -> float:
    """Learning rate at ``step``: linear warm-up to ``lr``, then cosine decay to ``min_lr`` at ``total_steps``."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)


@torch.no_grad()
def evaluate_loss(model, split: Split, runtime, batch_size: int) -> float:
    """Mean token cross-entropy over a split (eval mode, no dropout)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    order = np.argsort(split.image_of, kind="stable")  # captions of one image together: each encoded once
    for start in range(0, len(order), batch_size):
        feats, tokens, targets, index = make_batch(split, order[start : start + batch_size], runtime.device)
        with runtime.autocast():
            _, loss = model(feats, tokens, targets, image_index=index)
        n = int((targets != IGNORE_INDEX).sum())
        total, count = total + float(loss) * n, count + n
    model.train(was_training)
    return total / max(count, 1)


@torch.no_grad()
def decode_features(
    model, tokenizer, features: np.ndarray, runtime, decode: DecodeConfig, *, batch_size: int = 64
) -> list[str]:
    """Captions for precomputed features (N, F), decoded with ``decode``."""
    was_training = model.training
    model.eval()
    out: list[str] = []
    for start in range(0, len(features), batch_size):
        feats = torch.from_numpy(np.asarray(features[start : start + batch_size], dtype=np.float32)).to(runtime.device)
        with runtime.autocast():
            hyps = model.generate(feats, decode, bos_id=tokenizer.bos_id, eos_id=tokenizer.eos_id)
        out.extend(tokenizer.decode(h.tokens) for h in hyps)
    model.train(was_training)
    return out


def validate(model, tokenizer, split: Split, runtime, config: TrainConfig) -> dict[str, float | str]:
    """Validation loss and greedy-decoding BLEU-4 / CIDEr (METEOR skipped: it is slow and selects the same)."""
    from vocabfree.metrics.captioning import caption_scores

    row: dict[str, float | str] = {"val_loss": evaluate_loss(model, split, runtime, config.batch_size)}
    limit = config.val_max_images or len(split.images)
    captions = decode_features(model, tokenizer, split.features[:limit], runtime, DecodeConfig(max_len=config.max_len))
    scores = caption_scores(captions, split.references[:limit], meteor=False)
    row.update(val_bleu4=scores.bleu4, val_cider=scores.cider, val_example=captions[0])
    return row


def train(config: TrainConfig, *, resume: bool = False, image_model=None, progress: bool = True) -> TrainResult:
    """Run (or resume) training; returns where the checkpoint is and the per-epoch history."""
    from tqdm.auto import tqdm

    from vocabfree.models._runtime import select_runtime

    out = Path(config.out_dir)
    if resume and not (out / ckpt.STATE_FILE).is_file():
        raise InvalidInputError(f"cannot resume: {out / ckpt.STATE_FILE} does not exist")
    if not resume and (out / ckpt.STATE_FILE).is_file():
        raise InvalidInputError(f"{out} already holds a training run; pass resume or choose another out_dir")
    torch.manual_seed(config.seed)
    runtime = select_runtime(None if config.device == "auto" else config.device, config.precision)
    tokenizer, train_split, val_split, image_model_name, kind, spec, lm = prepare(config, image_model)
    decoder_config = model_config(config, tokenizer, train_split.features, spec)
    model = ckpt.build_decoder(config.decoder, decoder_config, lm, runtime.precision).to(runtime.device)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]  # no weight decay on biases and norms (nanoGPT)
    no_decay = [p for p in params if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        betas=(0.9, 0.98),
    )
    per_epoch = steps_per_epoch(train_split, config.batch_size, config.images_per_batch)
    total_steps = config.total_steps or config.epochs * per_epoch
    groups = train_split.captions_of()
    last_step = min(total_steps, config.max_steps or total_steps)

    meta = {
        "decoder": config.decoder,
        "model_config": decoder_config,
        "image_model": image_model_name,
        "feature_kind": kind,
        "tokens": spec,
        "max_len": config.max_len,
        "train_config": asdict(config),
    }
    step, history, losses, best, elapsed = 0, [], [], None, 0.0
    if resume:
        state = torch.load(out / ckpt.STATE_FILE, map_location=runtime.device, weights_only=False)
        model.load_state_dict(state["model"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        step, history, losses, best = state["step"], state["history"], state["losses"], state["best"]
        elapsed = state.get("train_seconds", 0.0)
        torch.set_rng_state(state["torch_rng"])
        log.info("resumed %s at step %d", out, step)
    else:
        ckpt.write_meta(out, meta)
        ckpt.save_tokenizer(tokenizer, out)
    n_train = sum(p.numel() for p in params)
    log.info(
        "%s decoder: %.2fM trainable parameters, %d steps (%d/epoch), %s %s",
        config.decoder,
        n_train / 1e6,
        total_steps,
        per_epoch,
        runtime.device,
        runtime.precision,
    )

    def save_state() -> None:
        state = {
            "model": ckpt.trained_state(model),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "history": history,
            "losses": losses,
            "best": best,
            "torch_rng": torch.get_rng_state(),
            "train_seconds": elapsed + time.perf_counter() - started,
        }
        with atomic_path(out / ckpt.STATE_FILE) as tmp:
            torch.save(state, tmp)

    model.train()
    started = time.perf_counter()
    bar = tqdm(total=last_step, initial=step, desc=f"train {config.decoder}", disable=not progress)
    epoch_loss: list[float] = []
    while step < last_step:
        rows = batch_rows(
            train_split,
            step,
            seed=config.seed,
            batch_size=config.batch_size,
            images_per_batch=config.images_per_batch,
            groups=groups,
        )
        lr = lr_at(step, lr=config.lr, min_lr=config.min_lr, warmup_steps=config.warmup_steps, total_steps=total_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        feats, tokens, targets, index = make_batch(train_split, rows, runtime.device)
        with runtime.autocast():
            _, loss = model(feats, tokens, targets, image_index=index)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        value = loss.detach().item()
        losses.append(value)
        epoch_loss.append(value)
        bar.update(1)
        bar.set_postfix(loss=f"{value:.3f}", lr=f"{lr:.2e}")
        # An epoch ends every steps_per_epoch steps, and a run cut short by total_steps ends in one too.
        epoch_done = step % per_epoch == 0 or step == total_steps
        if epoch_done:
            row: dict[str, Any] = {
                "epoch": round(step / per_epoch, 3),
                "step": step,
                "train_loss": float(np.mean(epoch_loss)),
            }
            epoch_loss = []
            if val_split is not None:
                row.update(validate(model, tokenizer, val_split, runtime, config))
                if best is None or row["val_cider"] > best["val_cider"]:
                    best = {"epoch": row["epoch"], "val_cider": row["val_cider"]}
                    ckpt.save_weights(model, out)
            row["seconds"] = round(elapsed + time.perf_counter() - started, 1)
            history.append(row)
            log.info("epoch %s", {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
        if epoch_done or step % config.checkpoint_every == 0 or step == last_step:
            save_state()
    bar.close()
    seconds = elapsed + time.perf_counter() - started
    if best is None:  # no validation split: keep the final weights
        ckpt.save_weights(model, out)
    ckpt.write_meta(out, {**meta, "history": history, "best": best, "train_seconds": round(seconds, 1)})
    return TrainResult(out, best and best["epoch"], best and best["val_cider"], history, seconds)


def read_config_values(path: str | Path | None, fields: Any, what: str, **overrides: Any) -> dict[str, Any]:
    """Values for a config dataclass: a JSON file's, then ``overrides`` (None values ignored: unset CLI
    flags); a key that is not one of ``fields`` is an error naming the valid ones."""
    import json

    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise InvalidInputError(f"config file {path} does not exist")
        values = json.loads(path.read_text())
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise InvalidInputError(f"unknown {what} option(s) {unknown}; valid: {sorted(fields)}")
    return values


def load_train_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """A ``TrainConfig`` from a JSON file plus overrides (None values ignored: unset CLI flags)."""
    values = read_config_values(path, TrainConfig.__dataclass_fields__, "training", **overrides)
    if "data" not in values:
        raise InvalidInputError("no training data: set 'data' in the config or pass --data")
    return replace(TrainConfig(data=values.pop("data")), **values)
