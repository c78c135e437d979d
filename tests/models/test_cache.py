import numpy as np
import pytest

from vocabfree.models.cache import cache_key, cached_encode, encode_images_cached


def test_cache_resumes_after_a_kill(tmp_path):
    calls = []

    def encode(chunk):
        calls.append(list(chunk))
        if len(calls) == 3:
            raise KeyboardInterrupt  # simulated kill in the third chunk
        return np.array([[float(x), 1.0] for x in chunk], dtype=np.float32)

    items = list(range(10))
    key = cache_key("model", items)
    with pytest.raises(KeyboardInterrupt):
        cached_encode(encode, items, tmp_path, key, chunk_size=3)
    assert len(list((tmp_path / key).glob("chunk_*.npy"))) == 2  # finished chunks survived, no partial file
    calls.clear()
    out = cached_encode(lambda c: encode(c) if len(calls) < 2 else None, items, tmp_path, key, chunk_size=3)
    assert [c[0] for c in calls] == [6, 9]  # only the missing chunks were encoded
    np.testing.assert_array_equal(out[:, 0], np.arange(10))


def test_no_cache_dir_just_encodes():
    out = cached_encode(lambda c: np.ones((len(c), 4), np.float32), list(range(5)), None, "k", chunk_size=2)
    assert out.shape == (5, 4)
    assert cache_key("a", [1]) != cache_key("b", [1])


def test_image_cache_is_invalidated_when_the_model_changes(tmp_path, colour_images):
    from vocabfree.models.tiny import TinyModel

    paths = list(colour_images.values())
    cache = tmp_path / "cache"
    first = encode_images_cached(TinyModel(seed=0), paths, cache)
    np.testing.assert_array_equal(encode_images_cached(TinyModel(seed=0), paths, cache), first)
    changed = TinyModel(seed=1)  # same name, different outputs: must not reuse the cache
    assert changed.name == "test-tiny"
    np.testing.assert_allclose(encode_images_cached(changed, paths, cache), changed.encode_images(paths), atol=1e-6)
    assert len(list(cache.iterdir())) == 2
