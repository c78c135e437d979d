"""The captioner that ships inside the package, so ``vocabfree caption photo.jpg`` works offline with no
checkpoint argument.

It is an ordinary checkpoint directory (``config.json``, float16 ``model.safetensors``, ``tokenizer/``) plus
``model_card.json`` (training data and its licence, metrics with the commands that measured them), under
``vocabfree/caption/assets/``. Its image encoder is the offline ``local-conse`` EfficientNet-Lite2, so no
download is ever needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vocabfree.atomic import atomic_path
from vocabfree.errors import MissingDependencyError

SHIPPED_NAME = "flickr8k-own"
SHIPPED_DIR = Path(__file__).parent / "assets" / SHIPPED_NAME
CARD_FILE = "model_card.json"


def shipped_checkpoint() -> Path:
    """The directory of the shipped captioner (a clear error if the package was installed without it)."""
    if not (SHIPPED_DIR / "config.json").is_file():
        raise MissingDependencyError(
            f"the shipped captioner is missing from {SHIPPED_DIR}; reinstall vocabfree or pass --checkpoint DIR"
        )
    return SHIPPED_DIR


def model_card() -> dict[str, Any]:
    """The shipped captioner's model card: training data, licence, metrics."""
    return json.loads((shipped_checkpoint() / CARD_FILE).read_text())


def export_checkpoint(checkpoint_dir: str | Path, out_dir: str | Path, card: dict[str, Any]) -> Path:
    """Copy a trained checkpoint for shipping: float16 weights, config, tokenizer, ``model_card.json``.

    ``state.pt`` (optimizer state, for resuming) is left behind. Written to a temporary sibling folder and
    renamed into place (``vocabfree.atomic``), so a half-written export never replaces a working one.
    """
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    from vocabfree.caption import checkpoint as ckpt

    src, out = Path(checkpoint_dir), Path(out_dir)
    ckpt.read_meta(src)  # fails clearly when src is not a checkpoint
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        tmp.mkdir()
        shutil.copy2(src / ckpt.CONFIG_FILE, tmp / ckpt.CONFIG_FILE)
        shutil.copytree(src / ckpt.TOKENIZER_DIR, tmp / ckpt.TOKENIZER_DIR)
        tensors = load_file(str(src / ckpt.WEIGHTS_FILE))
        save_file({k: v.to(torch.float16).contiguous() for k, v in tensors.items()}, str(tmp / ckpt.WEIGHTS_FILE))
        (tmp / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    return out
