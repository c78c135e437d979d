"""The hf: backend round trip: save a random checkpoint, load it by path, encode."""

import numpy as np
import pytest

from tests.conftest import noise_image
from tests.models.test_preprocess import needs_photos, photos
from vocabfree.errors import ImageLoadError, UnknownBackendError
from vocabfree.images import load_image
from vocabfree.models import VisionLanguageModel, load_model
from vocabfree.models.protocol import l2_normalize


@pytest.mark.parametrize("fixture", ["tiny_clip_dir", "tiny_siglip_dir"])
def test_round_trip_shapes_norms_determinism(fixture, request):
    path = request.getfixturevalue(fixture)
    model = load_model(f"hf:{path}", precision="fp32")
    assert isinstance(model, VisionLanguageModel)
    assert model.name == f"hf:{path}"
    images = [noise_image(i) for i in range(5)]
    emb = model.encode_images(images, batch_size=2)
    assert emb.shape == (5, model.embed_dim) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(emb, model.encode_images(images, batch_size=5), atol=1e-5)  # batch-invariant
    texts = ["a photo of a dog", "red car", "the small bird on a tree"]
    t = model.encode_texts(texts, batch_size=2)
    assert t.shape == (3, model.embed_dim)
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(t, model.encode_texts(texts), atol=1e-6)
    assert model.logit_scale > 0


def test_reload_gives_identical_embeddings(tiny_clip_dir):
    a = load_model(f"hf:{tiny_clip_dir}", precision="fp32").encode_images([noise_image(1)])
    b = load_model(f"hf:{tiny_clip_dir}", precision="fp32").encode_images([noise_image(1)])
    np.testing.assert_array_equal(a, b)


def test_bf16_autocast_is_close_to_fp32(tiny_clip_dir):
    images = [noise_image(i) for i in range(3)]
    fp32 = load_model(f"hf:{tiny_clip_dir}", precision="fp32").encode_images(images)
    bf16 = load_model(f"hf:{tiny_clip_dir}", precision="bf16").encode_images(images)
    assert bf16.dtype == np.float32
    assert np.min(np.sum(fp32 * bf16, axis=1)) > 0.97


def test_empty_inputs_give_empty_arrays(tiny_clip_dir):
    model = load_model(f"hf:{tiny_clip_dir}")
    assert model.encode_images([]).shape == (0, model.embed_dim)
    assert model.encode_texts([]).shape == (0, model.embed_dim)


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(UnknownBackendError, match="cannot load Hugging Face model"):
        load_model(f"hf:{tmp_path / 'nope'}")


def test_fp16_on_cpu_is_rejected(tiny_clip_dir):
    with pytest.raises(ValueError, match="fp16 is only supported on CUDA"):
        load_model(f"hf:{tiny_clip_dir}", device="cpu", precision="fp16")


# ------------------------------------------------------------------------- the fast paths vs the reference


def processor_path_embeddings(model, paths):
    """The reference: full decode, the Hugging Face image processor, one fp32 forward per batch."""
    import torch

    pixels = model.image_processor(images=[load_image(p) for p in paths], return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        feats = model.model.get_image_features(pixel_values=pixels)
    feats = feats if hasattr(feats, "float") else feats.pooler_output
    return l2_normalize(feats.float().numpy())


TINY_224 = dict(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2)


@pytest.fixture(scope="module")
def tiny_224_dirs(tmp_path_factory):
    """Tiny random CLIP and SigLIP with real 224-px inputs (patch 32), so decode and resize are realistic."""
    from vocabfree.models.random_checkpoint import ARCHITECTURES, save_random_checkpoint

    out = {}
    for family in ("clip", "siglip"):
        arch = f"test-{family}-224"
        base = ARCHITECTURES[f"tiny-{family}"]
        ARCHITECTURES[arch] = {**base, "vision": dict(TINY_224, image_size=224, patch_size=32), "image_size": 224}
        try:
            out[family] = save_random_checkpoint(tmp_path_factory.mktemp(arch), arch)
        finally:
            del ARCHITECTURES[arch]
    return out


@pytest.fixture(scope="module")
def big_photos(tmp_path_factory):
    """Caltech-101 photos and 4x enlarged JPEG copies of them (over 1000 px: decoded at reduced DCT scale)."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("big-photos")
    paths = photos(5)
    for i, path in enumerate(paths[:3]):
        with Image.open(path) as image:
            big = image.convert("RGB").resize((image.width * 4, image.height * 4), Image.Resampling.LANCZOS)
        big.save(folder / f"big_{i}.jpg", quality=95)
        paths.append(str(folder / f"big_{i}.jpg"))
    return paths


@needs_photos
@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_image_embeddings_match_the_processor_path_on_photos(family, tiny_224_dirs, big_photos):
    model = load_model(f"hf:{tiny_224_dirs[family]}", precision="fp32")
    assert model.image_size == 224
    reference = processor_path_embeddings(model, big_photos)
    for workers in (0, 3):
        ours = model.encode_images(big_photos, batch_size=3, workers=workers)
        assert np.min(np.sum(ours * reference, axis=1)) >= 0.999
    # bf16 autocast on top stays within the same bound (where the CPU runs bf16 natively, the default)
    bf16 = load_model(f"hf:{tiny_224_dirs[family]}", precision="bf16").encode_images(big_photos, batch_size=4)
    assert np.min(np.sum(bf16 * reference, axis=1)) >= 0.999


@needs_photos
def test_tiny_input_sizes_match_without_reduced_decoding(tiny_clip_dir):
    model = load_model(f"hf:{tiny_clip_dir}", precision="fp32")
    assert model.image_size == 32
    paths = photos(4)
    ours = l2_normalize(model.image_features([model.transform.prepare(load_image(p)) for p in paths]).numpy())
    np.testing.assert_allclose(ours, processor_path_embeddings(model, paths), atol=1e-5)


def test_a_bad_image_is_reported_by_name_in_its_turn(tiny_clip_dir, tmp_path):
    model = load_model(f"hf:{tiny_clip_dir}", precision="fp32")
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    images = [noise_image(i) for i in range(5)] + [bad] + [noise_image(9)]
    with pytest.raises(ImageLoadError, match="broken.jpg"):
        model.encode_images(images, batch_size=2, workers=2)


def test_sorted_text_batches_give_the_per_batch_padding_result(tiny_clip_dir):
    import torch

    model = load_model(f"hf:{tiny_clip_dir}", precision="fp32")
    texts = [
        "a dog",
        "the small red bird sitting on a green tree in a house",
        "car",
        "a photo of a blue ship",
        "man and woman standing with a child",
        "horse",
    ] * 3
    ours = model.encode_texts(texts, batch_size=4, token_budget=20)
    rows = []
    for text in texts:  # one text at a time: no padding at all
        tokens = model.tokenizer([text], return_tensors="pt")
        with torch.inference_mode():
            feats = model.model.get_text_features(**tokens)
        rows.append((feats if hasattr(feats, "float") else feats.pooler_output)[0].numpy())
    np.testing.assert_allclose(ours, l2_normalize(np.stack(rows)), atol=1e-5)


@needs_photos
def test_fast_forward_equals_plain_autocast_and_stays_close_to_eager_fp32(tiny_224_dirs, big_photos):
    from vocabfree.models._runtime import cpu_supports_bf16

    if not cpu_supports_bf16():
        pytest.skip("bf16 is only the default where the CPU has native bf16 kernels")
    path = tiny_224_dirs["clip"]
    fast = load_model(f"hf:{path}", precision="bf16")
    plain = load_model(f"hf:{path}", precision="bf16", fast_forward=False)
    eager = load_model(f"hf:{path}", precision="fp32", fast_forward=False)
    assert fast.model.visual_projection.weight.dtype.itemsize == 2  # stored once in bf16
    assert plain.model.visual_projection.weight.dtype.itemsize == 4
    texts = ["a photo of a dog", "red car", "the small bird on a tree", "a man standing with a child"]
    for encode in (lambda m: m.encode_images(big_photos, batch_size=4), lambda m: m.encode_texts(texts)):
        ours, autocast, reference = encode(fast), encode(plain), encode(eager)
        np.testing.assert_allclose(ours, autocast, atol=1e-6)  # the same casts, done once
        assert np.min(np.sum(ours * reference, axis=1)) >= 0.999


@pytest.mark.slow
@needs_photos
def test_compiled_image_tower_stays_equal_to_eager(tiny_224_dirs, big_photos):
    path = tiny_224_dirs["clip"]
    eager = load_model(f"hf:{path}", precision="fp32", fast_forward=False)
    compiled = load_model(f"hf:{path}", precision="fp32", compile=True)
    assert type(compiled.model.vision_model).__name__ == "OptimizedModule"
    reference = eager.encode_images(big_photos, batch_size=5)
    ours = compiled.encode_images(big_photos, batch_size=5)  # a full and a partial batch: two shapes
    assert np.min(np.sum(ours * reference, axis=1)) >= 0.999
    from vocabfree.models._runtime import cpu_supports_bf16

    if cpu_supports_bf16():  # the configuration the docs measure: bf16 weights, autocast, compiled tower
        fast = load_model(f"hf:{path}", precision="bf16", compile=True).encode_images(big_photos, batch_size=5)
        assert np.min(np.sum(fast * reference, axis=1)) >= 0.999
