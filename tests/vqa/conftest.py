"""VQA fixtures: a tiny token backend (3 x 3 colour grid), a tiny VQA dataset and a trained tiny checkpoint."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vocabfree.images import load_image
from vocabfree.models import register_backend

COLOURS = {"red": (230, 20, 20), "green": (20, 200, 20), "blue": (20, 20, 230), "yellow": (230, 230, 20)}
TINY_TOKENS = "test-vqa-tokens"


class TinyTokenModel:
    """Image tokens = CLS (mean) + a 3 x 3 grid of mean colours (RGB and 1 - RGB): (N, 10, 6), deterministic."""

    name = TINY_TOKENS
    embed_dim = 6
    logit_scale = 1.0

    def encode_image_tokens(self, images, *, layer=-1, keep_cls=True, batch_size=32, progress=False):
        out = []
        for item in images:
            arr = np.asarray(load_image(item).resize((9, 9)), np.float32) / 255.0  # (9, 9, 3)
            grid = arr.reshape(3, 3, 3, 3, 3).mean(axis=(1, 3)).reshape(9, 3)
            grid = np.concatenate([grid, 1.0 - grid], axis=1)  # (9, 6)
            out.append(np.concatenate([grid.mean(0, keepdims=True), grid]) if keep_cls else grid)
        return np.stack(out).astype(np.float32) if out else np.zeros((0, 10, 6), np.float32)


@register_backend(TINY_TOKENS, "tests only: colour-grid image tokens")
def _create_tiny_tokens(**_: object) -> TinyTokenModel:
    return TinyTokenModel()


def write_tiny_vqa(root: Path) -> Path:
    """A tiny question file: solid-colour images, colour and yes/no questions; train and test images differ."""
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows, qid = [], 0
    for split, copies in (("train", 4), ("test", 1)):
        for colour, rgb in COLOURS.items():
            for k in range(copies):
                name = f"images/{split}_{colour}_{k}.png"
                Image.new("RGB", (24 + k, 24), rgb).save(root / name)
                for question, answers, kind in (
                    ("What color is the picture?", {colour: 1.0}, "other"),
                    ("Is this red?", {"yes" if colour == "red" else "no": 1.0}, "yes/no"),
                    ("Is this blue?", {"yes" if colour == "blue" else "no": 1.0, "maybe": 0.3}, "yes/no"),
                ):
                    rows.append(
                        {
                            "question_id": qid,
                            "image": name,
                            "question": question,
                            "answers": answers,
                            "dataset": "tiny",
                            "split": split,
                            "answer_type": kind,
                            "question_type": "x",
                        }
                    )
                    qid += 1
    path = root / "questions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_tiny_captions(root: Path) -> Path:
    path = root / "captions.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "caption", "split", "source"])
        for colour, rgb in COLOURS.items():
            name = f"cap_{colour}.png"
            Image.new("RGB", (20, 20), rgb).save(root / name)
            for _ in range(3):
                writer.writerow([name, f"A {colour} dog is running on the grass .", "train", "tiny"])
    return path


def tiny_train_config(root: Path, out: Path, **overrides):
    from vocabfree.vqa.train import VQATrainConfig

    values = dict(
        data=str(root / "questions.jsonl"),
        captions=str(root / "captions.csv"),
        out_dir=str(out),
        image_model=TINY_TOKENS,
        pool_grid=None,
        token_cache=str(root / "cache"),
        holdout_fraction=0.25,
        vqa_repeat=2,
        model={"d_model": 32, "n_layers": 1, "n_heads": 2, "dropout": 0.1},
        vocab_size=200,
        batch_size=8,
        lr=3e-3,
        min_lr=3e-4,
        warmup_steps=5,
        total_steps=60,
        eval_every=20,
    )
    values.update(overrides)
    return VQATrainConfig(**values)


@pytest.fixture(scope="session")
def tiny_vqa_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny-vqa")
    write_tiny_vqa(root)
    write_tiny_captions(root)
    return root


@pytest.fixture(scope="session")
def tiny_vqa_checkpoint(tiny_vqa_root, tmp_path_factory) -> Path:
    from vocabfree.vqa.train import train

    out = tmp_path_factory.mktemp("tiny-vqa-ckpt") / "run"
    train(
        tiny_train_config(
            tiny_vqa_root,
            out,
            total_steps=200,
            eval_every=50,
            lr=5e-3,
            min_lr=5e-4,
            model={"d_model": 32, "n_layers": 1, "n_heads": 2, "dropout": 0.0},
        )
    )
    return out
