"""Captioning with a frozen image encoder and a trained text decoder (own transformer or prefix LM).

``Captioner.load(checkpoint_dir).generate(images)`` captions images; ``vocabfree.caption.train.train(
TrainConfig(...))`` trains a decoder. Names are resolved lazily so importing the package does not import torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Captioner": "vocabfree.caption.captioner",
    "Caption": "vocabfree.caption.captioner",
    "TrainConfig": "vocabfree.caption.train",
    "DecoderConfig": "vocabfree.caption.decoder",
    "CaptionDecoder": "vocabfree.caption.decoder",
    "PrefixLMConfig": "vocabfree.caption.prefix_lm",
    "PrefixLM": "vocabfree.caption.prefix_lm",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vocabfree.caption' has no attribute '{name}'")
