"""Checkpoint directories: everything needed to caption images again, and to resume training.

Layout of ``out_dir``::

    config.json        decoder type, its model config, image-model name, feature kind, the TrainConfig
    model.safetensors  the selected (best-on-validation) weights; for the prefix LM only the trained part
    tokenizer/         the tokenizer (word pieces, or the LM's own)
    state.pt           the latest training state for --resume: weights, optimizer, step, RNG, history

The frozen LM of a prefix-LM checkpoint is not copied: ``config.json`` names it (hub id, path or alias)
and it is reloaded from there, so a checkpoint is megabytes, not the LM's size.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from vocabfree.atomic import atomic_path, atomic_write_text
from vocabfree.caption.decoder import CaptionDecoder, DecoderConfig
from vocabfree.caption.tokenizer import TOKENIZER_FILE, PretrainedTokenizer, WordPieceTokenizer
from vocabfree.errors import InvalidInputError, require

FORMAT_VERSION = 1
CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"
STATE_FILE, TOKENIZER_DIR = "state.pt", "tokenizer"


def write_meta(out_dir: str | Path, meta: dict[str, Any]) -> None:
    path = Path(out_dir) / CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"version": FORMAT_VERSION, **meta}, indent=2))


def read_meta(out_dir: str | Path) -> dict[str, Any]:
    path = Path(out_dir) / CONFIG_FILE
    if not Path(out_dir).is_dir():
        raise InvalidInputError(
            f"no caption checkpoint at {out_dir}: no such directory (train one with "
            "'vocabfree caption train', or leave out --checkpoint for the shipped captioner)"
        )
    if not path.is_file():
        raise InvalidInputError(f"{out_dir} is not a caption checkpoint (no {CONFIG_FILE})")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path} is corrupt ({exc})") from exc
    if not isinstance(meta, dict):
        raise InvalidInputError(f"{path} is corrupt: not a JSON object")
    if meta.get("version") != FORMAT_VERSION:
        raise InvalidInputError(f"{path}: checkpoint format {meta.get('version')}, expected {FORMAT_VERSION}")
    return meta


def save_tokenizer(tokenizer, out_dir: str | Path) -> None:
    folder = Path(out_dir) / TOKENIZER_DIR
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(folder)


def load_tokenizer(out_dir: str | Path):
    folder = Path(out_dir) / TOKENIZER_DIR
    if (folder / TOKENIZER_FILE).is_file() and not (folder / "tokenizer_config.json").is_file():
        return WordPieceTokenizer.load(folder)
    return PretrainedTokenizer.load(folder)


def build_decoder(decoder: str, model_config: dict[str, Any], lm=None, precision: str = "fp32") -> torch.nn.Module:
    """A fresh decoder of the given type; the prefix LM loads (or takes) its frozen language model and, under
    bf16/fp16 ``precision``, keeps it in that dtype."""
    if decoder == "own":
        return CaptionDecoder(DecoderConfig(**model_config))
    if decoder == "prefix_lm":
        from vocabfree.caption.prefix_lm import PrefixLM, PrefixLMConfig, load_language_model

        config = PrefixLMConfig(**model_config)
        if lm is None:
            lm, _ = load_language_model(config.lm)
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        return PrefixLM(config, lm, lm_dtype=dtype)
    raise InvalidInputError(f"unknown decoder '{decoder}'; use 'own' or 'prefix_lm'")


def trained_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The weights a checkpoint stores: all of the own decoder, only the trained part of a prefix LM."""
    from vocabfree.caption.prefix_lm import PrefixLM

    if isinstance(model, PrefixLM):
        return model.trainable_state_dict()
    return model.state_dict()


def save_weights(model: torch.nn.Module, out_dir: str | Path) -> None:
    """Write ``model.safetensors`` atomically (tied embeddings are stored once)."""
    st = require("safetensors.torch", "caption")
    state = trained_state(model)
    seen: dict[int, str] = {}
    tensors = {}
    for name, t in state.items():
        if t.data_ptr() in seen:  # a tied weight: safetensors refuses shared storage, the model re-ties it
            continue
        seen[t.data_ptr()] = name
        tensors[name] = t.detach().cpu().contiguous()
    with atomic_path(Path(out_dir) / WEIGHTS_FILE) as tmp:
        st.save_file(tensors, str(tmp))


def load_weights(model: torch.nn.Module, out_dir: str | Path) -> None:
    """Load ``model.safetensors``; every stored tensor must fit and every trained tensor must be present."""
    st = require("safetensors.torch", "caption")
    path = Path(out_dir) / WEIGHTS_FILE
    if not path.is_file():
        raise InvalidInputError(f"{out_dir}: no {WEIGHTS_FILE}; training has not saved weights yet")
    tensors = st.load_file(str(path))
    expected = trained_state(model)
    unexpected = sorted(set(tensors) - set(expected))
    if unexpected:
        raise InvalidInputError(f"{path}: tensors the model does not have: {unexpected[:5]}")
    for name, t in tensors.items():
        if t.shape != expected[name].shape:
            want = tuple(expected[name].shape)
            raise InvalidInputError(f"{path}: {name} has shape {tuple(t.shape)}, the model expects {want}")
    missing = model.load_state_dict(tensors, strict=False).missing_keys
    trained_missing = [k for k in missing if k in expected and not _tied(model, k, tensors)]
    if trained_missing:
        raise InvalidInputError(f"{path}: missing trained tensors {trained_missing[:5]}")


def _tied(model: torch.nn.Module, name: str, stored: dict[str, torch.Tensor]) -> bool:
    """True when ``name`` shares storage with a stored tensor (weight tying), so loading that one set it."""
    state = model.state_dict()
    return any(state[name].data_ptr() == state[k].data_ptr() for k in stored if k in state)


def config_dict(config) -> dict[str, Any]:
    return asdict(config)
