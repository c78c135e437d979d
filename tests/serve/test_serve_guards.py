"""Guards of the public service: API keys, the per-request label budget, format whitelist and malformed files,
images reduced at decode, and the image queue's byte budget."""

from __future__ import annotations

import asyncio
import io
import struct
import zlib

import pytest
from PIL import Image

from tests.serve.serve_helpers import image_bytes
from vocabfree.serve import services as services_module
from vocabfree.serve.batching import MicroBatcher
from vocabfree.serve.errors import OverloadedError
from vocabfree.serve.inputs import ImageBytes
from vocabfree.serve.settings import ServeSettings

LABELS = ["red", "green", "blue"]


# --- API keys ----------------------------------------------------------------------------------------------


def test_api_keys(make_client):
    client = make_client(api_keys=("key-one", "key-two"))
    body = {"texts": ["red"]}
    assert client.get("/health").status_code == 200  # open for load balancers
    assert client.get("/").status_code == 200  # the page computes nothing
    missing = client.post("/v1/embed", json=body)
    assert missing.status_code == 401 and missing.json()["error"] == "unauthorized"
    assert "Authorization: Bearer" in missing.json()["detail"]
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/v1/models").status_code == 401
    for headers in ({"Authorization": "Bearer key-one"}, {"authorization": "bearer key-two"}, {"X-API-Key": "key-two"}):
        assert client.post("/v1/embed", json=body, headers=headers).status_code == 200, headers
    for headers in ({"Authorization": "Bearer key-three"}, {"X-API-Key": "key-on"}, {"Authorization": "key-one"}):
        wrong = client.post("/v1/embed", json=body, headers=headers)
        assert wrong.status_code == 401, headers


def test_no_keys_means_open(bare_client):
    assert bare_client.post("/v1/embed", json={"texts": ["red"]}).status_code == 200


def test_api_keys_from_the_environment_are_not_shown():
    settings = ServeSettings.load(env={"VOCABFREE_API_KEYS": "alpha, beta"})
    assert settings.api_keys == ("alpha", "beta")
    assert "alpha" not in repr(settings)
    with pytest.raises(ValueError, match="api_keys"):
        ServeSettings(api_keys=("has space",))


# --- label budget ------------------------------------------------------------------------------------------


def test_label_budget_is_413_naming_the_budget(make_client):
    client = make_client(max_label_budget=50)
    labels = [f"label number {i}" for i in range(5)]  # 5 x 14 = 70 characters
    response = client.post(
        "/v1/classify", files={"file": ("x.png", image_bytes(), "image/png")}, data={"labels": ",".join(labels)}
    )
    assert response.status_code == 413, response.text
    body = response.json()
    assert body["error"] == "label_budget_exceeded" and "70 characters" in body["detail"] and "50" in body["detail"]
    ok = client.post("/v1/classify", json={"image": {"base64": _b64(image_bytes())}, "labels": LABELS})
    assert ok.status_code == 200


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def test_label_sets_are_cached_per_model(make_client):
    client = make_client(label_cache_size=2)
    engine = client.app.state.services.engine(None)
    payload = {"image": {"base64": _b64(image_bytes("green"))}}
    for labels in (LABELS, LABELS, ["red", "green"], LABELS, ["a", "b"], ["c", "d"]):
        response = client.post("/v1/classify", json={**payload, "labels": labels})
        assert response.status_code == 200
    stats = client.get("/health").json()["batching"]["test-tiny"]
    assert stats["label_cache_hits"] == 2 and stats["text_jobs"] == 4
    assert len(engine.texts._cache) == 2  # LRU bounded


# --- formats and malformed files ---------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes, length: int | None = None) -> bytes:
    size = len(data) if length is None else length
    return struct.pack(">I", size) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_with(chunk: bytes) -> bytes:
    """A valid 1x1 PNG with ``chunk`` inserted after IHDR."""
    data = image_bytes("red", size=1)
    return data[:33] + chunk + data[33:]


def _bomb(kind: bytes, prefix: bytes) -> bytes:
    return _png_with(_png_chunk(kind, prefix + zlib.compress(b"\0" * 50_000_000, 9)))


def _tiff_zero_width() -> bytes:
    entries = [
        (256, 4, 1, 0),
        (257, 4, 1, 1),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, 1, 122),
        (278, 4, 1, 1),
        (279, 4, 1, 1),
    ]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\0\0\0\0"
    return b"II*\0" + struct.pack("<I", 8) + ifd + b"\0" * 20


def _saved(fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(buffer, fmt, **kwargs)
    return buffer.getvalue()


MALFORMED = {
    "truncated-ihdr.png": b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + b"\0\0\0\x10\0",
    "ztxt-bomb.png": _bomb(b"zTXt", b"Comment\0\0"),
    "iccp-bomb.png": _bomb(b"iCCP", b"icc\0\0"),
    "zero-width.tif": _tiff_zero_width(),
    "bad-crc.png": _png_with(b"\0\0\0\x04tEXt" + b"ab\0c" + b"\0\0\0\0"),
    "garbage.gif": b"GIF89a" + b"\xff" * 40,
    "half.webp": _saved("WEBP")[:40],
    "half.bmp": _saved("BMP")[:60],
    "fake.eps": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
    "not-whitelisted.tga": _saved("TGA"),
    "not-whitelisted.pcx": _saved("PCX"),
    "not-whitelisted.ico": _saved("ICO"),
    "not-whitelisted.ppm": _saved("PPM"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_or_unlisted_files_are_422_naming_the_file(client, name):
    response = client.post("/v1/classify", files={"file": (name, MALFORMED[name], "image/png")}, data={"labels": "red"})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_image" and name in body["detail"], body


def test_whitelist_names_the_allowed_formats_and_is_configurable(make_client):
    client = make_client(image_formats=("PNG",))
    jpeg = client.post("/v1/classify", files={"file": ("x.jpg", _saved("JPEG"), "image/jpeg")}, data={"labels": "red"})
    assert jpeg.status_code == 422 and "allowed formats: PNG" in jpeg.json()["detail"]
    png = client.post("/v1/classify", files={"file": ("x.png", image_bytes(), "image/png")}, data={"labels": "red"})
    assert png.status_code == 200
    with pytest.raises(ValueError, match="unknown Pillow format"):
        ServeSettings(image_formats=("PNG", "NOPE"))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_every_default_format_decodes(client, fmt):
    response = client.post(
        "/v1/classify", files={"file": (f"x.{fmt.lower()}", _saved(fmt), "image/x")}, data={"labels": "red, blue"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["label"] == "red"


# --- decoded images are small; the queue has a byte budget -------------------------------------------------


def test_large_upload_is_reduced_at_decode():
    settings = ServeSettings()
    data = image_bytes((10, 200, 30), size=3000)  # 9 MP of one colour: a few kB as PNG
    image = services_module._decode(ImageBytes(data, "big.png"), settings, 32)
    assert 64 <= min(image.size) < 128 and image.mode == "RGB"
    assert image.getpixel((5, 5)) == (10, 200, 30)
    assert services_module.image_bytes(image) < 100_000


def test_image_queue_refuses_beyond_its_byte_budget():
    async def run() -> tuple[list, int]:
        release = asyncio.Event()

        async def wait_release() -> None:
            await release.wait()

        loop = asyncio.get_running_loop()

        def fn(items):  # runs on an executor thread; blocks until released
            asyncio.run_coroutine_threadsafe(wait_release(), loop).result(timeout=10)
            return items

        batcher = MicroBatcher(fn, executor=None, max_batch=1, max_wait_s=0, max_queue_weight=10, weight=len)
        first = asyncio.ensure_future(batcher.submit("aaaaaa"))  # 6 units: computing, still counted
        await asyncio.sleep(0.05)
        outcomes = []
        for item in ("bbbbbb", "cc"):  # 6 more would exceed 10; 2 fits
            task = asyncio.ensure_future(batcher.submit(item))
            await asyncio.sleep(0.01)
            outcomes.append(task)
        release.set()
        results = [await first]
        for task in outcomes:
            try:
                results.append(await task)
            except OverloadedError as exc:
                results.append(type(exc).__name__)
        weight = batcher.queued_weight
        await batcher.aclose()
        return results, weight

    results, weight = asyncio.run(run())
    assert results == ["aaaaaa", "OverloadedError", "cc"]
    assert weight == 0  # released when each request finished
