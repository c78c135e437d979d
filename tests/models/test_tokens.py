"""Image tokens of every encoder family: shapes, CLS handling, layers, and the vision-only hf backend."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import noise_image
from vocabfree.errors import IndexMismatchError, InvalidInputError
from vocabfree.models import load_model
from vocabfree.models.tokens import TokenSpec, cached_image_tokens, encode_image_tokens, token_spec

TINY_VIT = dict(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2)


def _save_vision(out, family: str):
    """A random-weight vision-only backbone with its image processor, saved like a hub checkpoint."""
    import torch
    from transformers import (
        BitImageProcessor,
        CLIPImageProcessor,
        CLIPVisionConfig,
        CLIPVisionModel,
        Dinov2WithRegistersConfig,
        Dinov2WithRegistersModel,
        ViTConfig,
        ViTImageProcessor,
        ViTModel,
    )

    torch.manual_seed(0)
    if family == "vit":  # google/vit-base-patch16-224-in21k's shape, shrunk: 32 px, patch 8 -> 16 + CLS
        model = ViTModel(ViTConfig(image_size=32, patch_size=8, **TINY_VIT))
        proc = ViTImageProcessor(size={"height": 32, "width": 32})
    elif family == "dinov2":  # DINOv2 with 2 registers: CLS + 2 registers + 4x4 patches at 28 px, patch 7
        config = Dinov2WithRegistersConfig(image_size=28, patch_size=7, num_register_tokens=2, **TINY_VIT)
        model = Dinov2WithRegistersModel(config)
        proc = BitImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28})
    else:  # a CLIP vision tower saved alone
        model = CLIPVisionModel(CLIPVisionConfig(image_size=32, patch_size=8, **TINY_VIT))
        proc = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    model.save_pretrained(out)
    proc.save_pretrained(out)
    return out


@pytest.fixture(scope="module", params=["vit", "dinov2", "clip-tower"])
def vision_dir(request, tmp_path_factory):
    return request.param, _save_vision(tmp_path_factory.mktemp(request.param), request.param)


IMAGES = [noise_image(i) for i in range(3)]


@pytest.mark.parametrize("fixture,special", [("tiny_clip_dir", 1), ("tiny_siglip_dir", 0)])
def test_dual_encoder_tokens(fixture, special, request):
    model = load_model(f"hf:{request.getfixturevalue(fixture)}", precision="fp32")
    tokens = encode_image_tokens(model, IMAGES, batch_size=2)
    assert tokens.shape == (3, 16 + special, 32) and tokens.dtype == np.float32  # 32 px / patch 8 = 4x4 grid
    no_cls = encode_image_tokens(model, IMAGES, keep_cls=False)
    assert no_cls.shape == (3, 16, 32)
    np.testing.assert_allclose(no_cls, tokens[:, special:], atol=1e-5)  # dropping CLS keeps the grid as is
    np.testing.assert_allclose(tokens, encode_image_tokens(model, IMAGES, batch_size=3), atol=1e-5)
    first = encode_image_tokens(model, IMAGES, layer=0)  # patch embeddings: a different layer, same shape
    assert first.shape == tokens.shape and not np.allclose(first, tokens)


def test_vision_only_backbones(vision_dir):
    family, path = vision_dir
    model = load_model(f"hf:{path}", precision="fp32")
    special = {"vit": 1, "dinov2": 3, "clip-tower": 1}[family]
    tokens = encode_image_tokens(model, IMAGES)
    assert tokens.shape == (3, 16 + special, 32)
    assert encode_image_tokens(model, IMAGES, keep_cls=False).shape == (3, 16, 32)
    assert encode_image_tokens(model, IMAGES, layer=-2).shape == (3, 16 + special, 32)
    with pytest.raises(InvalidInputError, match="out of range"):
        encode_image_tokens(model, IMAGES, layer=9)
    emb = model.encode_images(IMAGES)
    assert emb.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    with pytest.raises(InvalidInputError, match="vision-only .* no text encoder"):
        model.encode_texts(["a dog"])


def test_token_spec_and_cache_round_trip(tiny_clip_dir, tmp_path):
    model = load_model(f"hf:{tiny_clip_dir}", precision="fp32")
    spec = token_spec(model, layer=-2, keep_cls=False)
    assert spec == TokenSpec(model.name, -2, False, 16, 32)
    paths = []
    for i, image in enumerate(IMAGES):
        paths.append(tmp_path / f"{i}.png")
        image.save(paths[-1])
    first = cached_image_tokens(model, paths, tmp_path / "cache", layer=-2, keep_cls=False, chunk_size=2)
    assert first.dtype == np.float16 and first.shape == (3, 16, 32)
    np.testing.assert_allclose(first, encode_image_tokens(model, paths, layer=-2, keep_cls=False), atol=2e-2)
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 2
    again = cached_image_tokens(model, paths, tmp_path / "cache", layer=-2, keep_cls=False, chunk_size=2)
    np.testing.assert_array_equal(first, again)
    subset = cached_image_tokens(model, paths[::-1][:2], tmp_path / "cache", layer=-2, keep_cls=False)
    np.testing.assert_array_equal(subset, first[::-1][:2])  # a subset in another order is read, not encoded
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 2
    other = cached_image_tokens(model, paths[:1], tmp_path / "cache", layer=-1, keep_cls=False)
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 3 and not np.allclose(other, first[:1], atol=0.1)
    spec.check(first.astype(np.float32))
    with pytest.raises(IndexMismatchError):
        TokenSpec("x", token_dim=64).check(first)


def test_local_tokens_are_the_feature_map_grid():
    from vocabfree.models.local import load_efficientnet_lite

    class Local:  # the part of LocalModel that tokens use: its image encoder (no sentence encoder needed)
        name = "lite0"

        def __init__(self):
            self.image_encoder = load_efficientnet_lite("lite0")

    model = Local()
    tokens = encode_image_tokens(model, IMAGES[:2])
    assert tokens.shape == (2, 1 + 7 * 7, 1280)  # pooled stand-in for CLS + 7x7 grid at 224 px
    np.testing.assert_allclose(tokens[:, 0], tokens[:, 1:].mean(axis=1), rtol=1e-3, atol=1e-3)
    pooled = model.image_encoder.forward(IMAGES[:2]).pooled  # the classifier's own pooled vector
    np.testing.assert_allclose(tokens[:, 0], pooled, rtol=1e-3, atol=1e-3)
    assert encode_image_tokens(model, IMAGES[:2], keep_cls=False).shape == (2, 49, 1280)
    earlier = encode_image_tokens(model, IMAGES[:2], layer=-2, keep_cls=False)  # last MBConv block output
    assert earlier.shape[:2] == (2, 49) and earlier.shape[2] != 1280
