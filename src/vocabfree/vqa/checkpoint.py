"""VQA checkpoint directories: all that is needed to answer questions again, and to resume training.

Layout of ``out_dir``::

    config.json         format version, the model config, the image-token spec, the TrainConfig, history
    model.safetensors   the selected (best on the held-out questions) weights
    tokenizer/          the word-piece tokenizer of questions and answers
    state.pt            the latest training state for resume: weights, optimizer, step, best, history
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from vocabfree.atomic import atomic_path, atomic_write_text
from vocabfree.caption.tokenizer import WordPieceTokenizer
from vocabfree.errors import InvalidInputError
from vocabfree.vqa.model import VQAGenerator, VQAModelConfig

FORMAT_VERSION = 1
CONFIG_FILE, WEIGHTS_FILE, STATE_FILE, TOKENIZER_DIR = "config.json", "model.safetensors", "state.pt", "tokenizer"


def write_meta(out_dir: str | Path, meta: dict[str, Any]) -> None:
    path = Path(out_dir) / CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"version": FORMAT_VERSION, **meta}, indent=2))


def read_meta(out_dir: str | Path) -> dict[str, Any]:
    path = Path(out_dir) / CONFIG_FILE
    if not path.is_file():
        raise InvalidInputError(f"{out_dir} is not a VQA checkpoint (no {CONFIG_FILE})")
    meta = json.loads(path.read_text())
    if meta.get("version") != FORMAT_VERSION or "model" not in meta:
        raise InvalidInputError(f"{path}: not a VQA checkpoint of format {FORMAT_VERSION}")
    return meta


def save_weights(model: VQAGenerator, out_dir: str | Path, *, half: bool = False) -> None:
    """Weights as safetensors (the tied output layer is stored once); float16 when ``half``."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items() if k != "head.weight"}
    if half:
        state = {k: v.half() for k, v in state.items()}
    path = Path(out_dir) / WEIGHTS_FILE
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))


def load_generator(out_dir: str | Path, meta: dict[str, Any] | None = None) -> VQAGenerator:
    """The generator of a checkpoint, weights loaded (every key must match) and in eval mode."""
    from safetensors.torch import load_file

    meta = meta or read_meta(out_dir)
    model = VQAGenerator(VQAModelConfig(**meta["model"]))
    path = Path(out_dir) / WEIGHTS_FILE
    if not path.is_file():
        raise InvalidInputError(f"VQA checkpoint {out_dir} has no {WEIGHTS_FILE}")
    state = {k: v.float() for k, v in load_file(str(path)).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if k != "head.weight"]:
        raise InvalidInputError(f"{path} does not match its config: missing {missing}, unexpected {unexpected}")
    return model.eval()


def save_tokenizer(tokenizer, out_dir: str | Path) -> None:
    folder = Path(out_dir) / TOKENIZER_DIR
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(folder)


def load_tokenizer(out_dir: str | Path) -> WordPieceTokenizer:
    return WordPieceTokenizer.load(Path(out_dir) / TOKENIZER_DIR)


def save_state(out_dir: str | Path, state: dict[str, Any]) -> None:
    with atomic_path(Path(out_dir) / STATE_FILE) as tmp:
        torch.save(state, tmp)


def load_state(out_dir: str | Path) -> dict[str, Any] | None:
    path = Path(out_dir) / STATE_FILE
    return torch.load(path, map_location="cpu", weights_only=False) if path.is_file() else None


def export_checkpoint(checkpoint_dir: str | Path, out_dir: str | Path, card: dict[str, Any]) -> Path:
    """Copy a trained checkpoint for shipping: float16 weights, config (with ``name``), tokenizer and
    ``model_card.json``; ``state.pt`` (for resuming) is left behind. Built in a sibling folder, then swapped in."""
    out = Path(out_dir)
    meta = read_meta(checkpoint_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        tmp.mkdir()
        save_weights(load_generator(checkpoint_dir, meta), tmp, half=True)
        save_tokenizer(load_tokenizer(checkpoint_dir), tmp)
        write_meta(tmp, {k: v for k, v in meta.items() if k != "version"} | {"name": out.name})
        (tmp / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    return out
