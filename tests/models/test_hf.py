"""The hf: backend round trip: save a random checkpoint, load it by path, encode."""

import numpy as np
import pytest

from tests.conftest import noise_image
from vocabfree.errors import UnknownBackendError
from vocabfree.models import VisionLanguageModel, load_model


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
