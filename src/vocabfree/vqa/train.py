"""Training the VQA answer generator: VQA train questions + QA pairs derived from training captions.

nanoGPT's loop shape as functions over a ``VQATrainConfig``: prepare (read data, cached image tokens,
tokenizer), build or resume, then AdamW steps with a pure warm-up + cosine ``lr_at(step)``; every
``eval_every`` steps the held-out part of the VQA train split (whole images, never seen in training) is
answered and the best weights by VQA accuracy are kept. Resuming is exact: the batch order is a pure
function of (seed, epoch), dropout is reseeded from (seed, step), and ``state.pt`` holds weights, optimizer,
step, best score and history. ``max_steps`` stops a run early (bounded runs) without changing the schedule.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vocabfree.caption.train import lr_at, read_config_values
from vocabfree.errors import InvalidInputError
from vocabfree.vqa import checkpoint as ckpt
from vocabfree.vqa.answerer import generate_answers, prompt_ids
from vocabfree.vqa.data import VQAQuestion, read_questions
from vocabfree.vqa.features import pool_tokens, tokens_by_image
from vocabfree.vqa.model import IGNORE, VQAGenerator, VQAModelConfig
from vocabfree.vqa.scoring import score_predictions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VQATrainConfig:
    data: str = "../shared/data/vqa/questions.jsonl"  # VQA questions (JSONL); only its train split is read
    captions: str | None = "../shared/data/flickr8k/captions.csv"  # derive QA pairs from its train captions
    out_dir: str = "runs/vqa"
    image_model: str = "local-conse"  # frozen encoder whose tokens are read, by load_model name
    layer: int = -1  # which token layer (vocabfree.models.tokens)
    keep_cls: bool = True
    pool_grid: int | None = 3  # average-pool the patch grid to grid x grid tokens; None keeps all
    token_cache: str | None = "artifacts/vqa/tokens"
    holdout_fraction: float = 0.2  # of the VQA train images: held out for model selection
    vqa_repeat: int = 4  # each VQA train question appears this often per epoch (derived pairs once)
    max_derived: int | None = None  # cap on derived pairs (smoke runs)
    model: dict[str, Any] | None = None  # VQAModelConfig fields other than vocab/token sizes
    vocab_size: int = 3000
    batch_size: int = 64
    lr: float = 5e-4
    min_lr: float = 2e-5
    warmup_steps: int = 200
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    total_steps: int = 4000  # length of the run and of its lr schedule
    max_steps: int | None = None  # stop after this global step (bounded runs); the schedule is unchanged
    eval_every: int = 250
    max_answer_tokens: int = 6
    seed: int = 0

    def __post_init__(self):
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise InvalidInputError("holdout_fraction must be in [0, 1)")
        if self.batch_size < 1 or self.total_steps < 1 or self.eval_every < 1:
            raise InvalidInputError("batch_size, total_steps and eval_every must be >= 1")


@dataclass
class Prepared:
    tokens: np.ndarray  # (M, T, D) float32 pooled image tokens of every image used
    train: list[tuple[int, str, str]]  # (token row, question, answer)
    holdout: list[VQAQuestion]
    holdout_rows: list[int]
    tokenizer: Any
    spec: dict[str, Any]


def split_holdout(questions: list[VQAQuestion], fraction: float, seed: int) -> tuple[list, list]:
    """(train, holdout) split of questions by image: a seeded ``fraction`` of the images is held out."""
    images = sorted({q.image for q in questions})
    rng = np.random.default_rng(seed)
    held = set(np.asarray(images)[rng.permutation(len(images))[: round(fraction * len(images))]].tolist())
    return [q for q in questions if q.image not in held], [q for q in questions if q.image in held]


def prepare(config: VQATrainConfig, image_model=None) -> Prepared:
    from vocabfree.caption.data import read_caption_csv
    from vocabfree.caption.tokenizer import WordPieceTokenizer
    from vocabfree.models import load_model
    from vocabfree.models.tokens import token_spec
    from vocabfree.vqa.derive import derive_qa_pairs

    questions = read_questions(config.data, "train")
    train_q, holdout = split_holdout(questions, config.holdout_fraction, config.seed)
    derived, caption_images = [], []
    if config.captions:
        pairs = read_caption_csv(config.captions, splits=["train"])
        derived = derive_qa_pairs([(p.image, p.caption) for p in pairs], seed=config.seed)[: config.max_derived]
        caption_images = [p.image for p in pairs]  # all of them: one token cache key however many pairs
    image_model = image_model or load_model(config.image_model)
    spec = token_spec(image_model, layer=config.layer, keep_cls=config.keep_cls).as_dict()
    parts: list[np.ndarray] = []
    rows: dict[str, int] = {}
    for paths in ([q.image for q in questions], caption_images if derived else []):
        if not paths:
            continue
        raw, index = tokens_by_image(
            image_model, paths, config.token_cache, layer=config.layer, keep_cls=config.keep_cls, progress=True
        )
        offset = sum(len(p) for p in parts)
        parts.append(pool_tokens(raw, config.pool_grid, has_cls=config.keep_cls))
        rows.update({p: offset + i for p, i in index.items() if p not in rows})
    train = [(rows[q.image], q.question, q.top_answer) for q in train_q if q.top_answer] * config.vqa_repeat
    train += [(rows[p.image], p.question, p.answer) for p in derived]
    tokenizer = WordPieceTokenizer.train([t for _, q, a in train for t in (q, a)], vocab_size=config.vocab_size)
    return Prepared(np.concatenate(parts), train, holdout, [rows[q.image] for q in holdout], tokenizer, spec)


def encode_example(tokenizer, question: str, answer: str, max_text: int, max_answer: int) -> tuple[list, list]:
    """(ids, targets): question, BOS, answer, EOS; targets[i] = ids[i+1] on the answer and EOS, else IGNORE."""
    prompt = prompt_ids(tokenizer, question, max_text, max_answer)
    ids = prompt + tokenizer.encode(answer)[:max_answer] + [tokenizer.eos_id]
    targets = [IGNORE] * (len(prompt) - 1) + ids[len(prompt) :] + [IGNORE]
    return ids, targets


def _batch(prep: Prepared, encoded: list, idx: np.ndarray, pad_id: int):
    length = max(len(encoded[i][0]) for i in idx)
    text = torch.full((len(idx), length), pad_id, dtype=torch.long)
    targets = torch.full((len(idx), length), IGNORE, dtype=torch.long)
    for row, i in enumerate(idx):
        ids, tgt = encoded[i]
        text[row, : len(ids)] = torch.tensor(ids)
        targets[row, : len(tgt)] = torch.tensor(tgt)
    images = torch.from_numpy(prep.tokens[[prep.train[i][0] for i in idx]])
    return images, text, targets


def batch_indices(n: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """The examples of global ``step``: a pure function of (seed, epoch), so resuming is exact."""
    per_epoch = max(1, n // batch_size)
    epoch, offset = divmod(step, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return order[offset * batch_size : (offset + 1) * batch_size]


def evaluate_holdout(model: VQAGenerator, prep: Prepared, config: VQATrainConfig, *, blind: bool = False) -> float:
    if not prep.holdout:
        return float("nan")
    answers = generate_answers(
        model,
        prep.tokenizer,
        prep.tokens[prep.holdout_rows],
        [q.question for q in prep.holdout],
        blind=blind,
        max_answer_tokens=config.max_answer_tokens,
    )
    return score_predictions(answers, prep.holdout).accuracy


def train(config: VQATrainConfig, *, resume: bool = False, image_model=None, prep: Prepared | None = None) -> dict:
    """Train (or resume) into ``config.out_dir``; returns the final meta (history, best held-out accuracy)."""
    from tqdm.auto import tqdm

    out = Path(config.out_dir)
    state = ckpt.load_state(out) if resume else None
    if resume and state is None:
        raise InvalidInputError(f"nothing to resume in {out} (no {ckpt.STATE_FILE})")
    prep = prep or prepare(config, image_model)
    if state is not None:  # the saved tokenizer, so ids stay those the weights were trained on
        prep.tokenizer = ckpt.load_tokenizer(out)
    model_cfg = VQAModelConfig(
        vocab_size=prep.tokenizer.vocab_size,
        token_dim=prep.tokens.shape[2],
        num_image_tokens=prep.tokens.shape[1],
        **(config.model or {}),
    )
    torch.manual_seed(config.seed)
    model = VQAGenerator(model_cfg)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
    )
    step, best, history, window = 0, None, [], [0.0, 0]  # window: train-loss sum and count since last eval
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, best, history, window = state["step"], state["best"], state["history"], state["window"]
    meta = {
        "model": asdict(model_cfg),
        "tokens": prep.spec,
        "pool_grid": config.pool_grid,
        "train": asdict(config),
        "train_examples": len(prep.train),
        "holdout_questions": len(prep.holdout),
    }
    out.mkdir(parents=True, exist_ok=True)
    ckpt.save_tokenizer(prep.tokenizer, out)
    encoded = [
        encode_example(prep.tokenizer, q, a, model_cfg.max_text, config.max_answer_tokens) for _, q, a in prep.train
    ]
    stop = min(config.total_steps, config.max_steps or config.total_steps)
    started = time.perf_counter()

    def checkpoint() -> None:
        ckpt.save_state(
            out,
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "step": step,
                "best": best,
                "history": history,
                "window": window,
            },
        )
        ckpt.write_meta(out, {**meta, "history": history, "best": best})

    bar = tqdm(total=stop, initial=step, desc="train vqa", unit="step")
    while step < stop:
        model.train()
        for group in opt.param_groups:
            group["lr"] = lr_at(
                step,
                lr=config.lr,
                min_lr=config.min_lr,
                warmup_steps=config.warmup_steps,
                total_steps=config.total_steps,
            )
        torch.manual_seed(config.seed * 1_000_003 + step)  # dropout depends on (seed, step) only
        images, text, targets = _batch(
            prep, encoded, batch_indices(len(encoded), config.batch_size, config.seed, step), prep.tokenizer.pad_id
        )
        _, loss = model(images, text, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        opt.step()
        step += 1
        window = [window[0] + float(loss.detach()), window[1] + 1]
        bar.update(1)
        if step % config.eval_every == 0 or step == config.total_steps:
            acc = evaluate_holdout(model, prep, config)
            row = {
                "step": step,
                "train_loss": window[0] / window[1],
                "holdout_accuracy": acc,
                "seconds": round(time.perf_counter() - started, 1),
            }
            history.append(row)
            log.info("step %d: %s", step, row)
            bar.set_postfix(loss=f"{row['train_loss']:.3f}", acc=f"{acc:.3f}")
            window = [0.0, 0]
            if not prep.holdout:  # nothing to select on: keep the latest weights
                best = {"step": step, "holdout_accuracy": None}
                ckpt.save_weights(model, out)
            elif best is None or acc > best["holdout_accuracy"]:
                best = {"step": step, "holdout_accuracy": acc}
                ckpt.save_weights(model, out)
            checkpoint()
    bar.close()
    if not prep.holdout or not (out / ckpt.WEIGHTS_FILE).is_file():  # no selection, or stopped before it
        best = {"step": step, "holdout_accuracy": None} if not prep.holdout else best
        ckpt.save_weights(model, out)
    checkpoint()
    return {**meta, "history": history, "best": best, "step": step}


def load_train_config(path: str | Path | None = None, **overrides: Any) -> VQATrainConfig:
    """A ``VQATrainConfig`` from a JSON file plus overrides (None values ignored: unset CLI flags)."""
    values = read_config_values(path, VQATrainConfig.__dataclass_fields__, "VQA training", **overrides)
    return replace(VQATrainConfig(), **values)
