"""Save architecture-true CLIP/SigLIP checkpoints with random weights, and a tokenizer built in-process.

No CLIP-family checkpoint can be downloaded on machines without hub access, yet the ``hf:`` code path must
be tested and its speed measured. The cost of a forward pass does not depend on the weight values, so a
randomly initialised ViT-B/32 saved with ``save_pretrained`` and loaded back through ``hf:<dir>`` exercises
exactly the code users run and times it honestly (accuracy is chance, by construction).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vocabfree.atomic import atomic_path

ARCHITECTURES: dict[str, dict[str, Any]] = {
    # transformers' CLIPConfig defaults are openai/clip-vit-base-patch32's architecture.
    "clip-vit-b32": {"family": "clip", "text": {}, "vision": {}, "projection_dim": 512, "image_size": 224},
    "siglip-base-p16-224": {
        "family": "siglip",
        "text": {"max_position_embeddings": 64},
        "vision": {},
        "projection_dim": None,
        "image_size": 224,
    },
    "tiny-clip": {
        "family": "clip",
        "text": dict(
            hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2, max_position_embeddings=32
        ),
        "vision": dict(
            hidden_size=32,
            intermediate_size=64,
            num_attention_heads=4,
            num_hidden_layers=2,
            image_size=32,
            patch_size=8,
        ),
        "projection_dim": 16,
        "image_size": 32,
    },
    "tiny-siglip": {
        "family": "siglip",
        "text": dict(
            hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2, max_position_embeddings=16
        ),
        "vision": dict(
            hidden_size=32,
            intermediate_size=64,
            num_attention_heads=4,
            num_hidden_layers=2,
            image_size=32,
            patch_size=8,
        ),
        "projection_dim": None,
        "image_size": 32,
    },
}

_WORDS = (
    "a",
    "an",
    "the",
    "of",
    "photo",
    "picture",
    "image",
    "small",
    "large",
    "dog",
    "cat",
    "car",
    "bird",
    "plane",
    "ship",
    "truck",
    "horse",
    "red",
    "green",
    "blue",
    "flower",
    "tree",
    "house",
    "person",
    "man",
    "woman",
    "child",
    "in",
    "on",
    "with",
    "and",
    "is",
    "are",
    "sitting",
    "standing",
)


def build_word_tokenizer(vocab_size: int, model_max_length: int):
    """A word-level fast tokenizer (lower-cased, whitespace/punctuation split) over a fixed vocabulary."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<unk>", "<bos>", "<eos>"]
    words = specials + list(_WORDS) + [f"w{i}" for i in range(max(0, vocab_size - len(specials) - len(_WORDS)))]
    vocab = {w: i for i, w in enumerate(words[:vocab_size])}
    tok = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation()])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<bos>",
        eos_token="<eos>",
        model_max_length=model_max_length,
    )


def save_random_checkpoint(out_dir: str | Path, arch: str = "clip-vit-b32", seed: int = 0) -> Path:
    """Write a random-weight ``arch`` model, its tokenizer and image processor to ``out_dir``."""
    import torch
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        SiglipConfig,
        SiglipImageProcessor,
        SiglipModel,
    )

    if arch not in ARCHITECTURES:
        raise KeyError(f"unknown architecture '{arch}'; known: {', '.join(ARCHITECTURES)}")
    spec = ARCHITECTURES[arch]
    torch.manual_seed(seed)
    text = dict(spec["text"])
    vocab_size = text.setdefault("vocab_size", 49408 if spec["family"] == "clip" else 32000)
    max_len = text.get("max_position_embeddings", 77 if spec["family"] == "clip" else 64)
    tokenizer = build_word_tokenizer(vocab_size, max_len)
    text.update(
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id
    )
    size = spec["image_size"]
    config: Any
    model: Any
    processor: Any
    if spec["family"] == "clip":
        config = CLIPConfig(text_config=text, vision_config=spec["vision"], projection_dim=spec["projection_dim"])
        model = CLIPModel(config)
        processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    else:
        config = SiglipConfig(text_config=text, vision_config=spec["vision"])
        model = SiglipModel(config)
        processor = SiglipImageProcessor(size={"height": size, "width": size})
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:  # a killed run leaves no half-written checkpoint under the real name
        tmp.mkdir()
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        processor.save_pretrained(tmp)
    return out
