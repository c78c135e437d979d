"""API tests for every endpoint and every bad input, against the real app with the ``test-tiny`` model.

test-tiny aligns colour words with solid-colour images, so the right answers are known: a red PNG classified
against red/green/blue is red.
"""

from __future__ import annotations

import base64
import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from tests.serve.serve_helpers import ColourCaptioner, image_bytes

LABELS = ["red", "green", "blue"]


def upload(colour="red", name="square.png", **kwargs) -> dict:
    return {"files": {"file": (name, image_bytes(colour, **kwargs), "image/png")}}


def b64(colour="red") -> str:
    return base64.b64encode(image_bytes(colour)).decode()


def assert_error(response, status: int, code: str, *fragments: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code, body
    for fragment in fragments:
        assert fragment.lower() in body["detail"].lower(), body


# --- health, models, docs, page ------------------------------------------------------------------------


def test_health_reports_models_and_batching(client):
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["models"] == ["test-tiny"]
    assert body["batching"]["test-tiny"]["max_batch"] == client.app.state.services.settings.max_batch


def test_models_lists_capabilities(client, bare_client):
    (info,) = client.get("/v1/models").json()["models"]
    assert info == {
        "name": "test-tiny",
        "embed_dim": 32,
        "default": True,
        "zero_shot": True,
        "vocabulary_free": True,
        "caption": "generated",
    }
    (bare,) = bare_client.get("/v1/models").json()["models"]
    assert (bare["vocabulary_free"], bare["caption"]) == (False, "none")


def test_openapi_documents_both_body_types(client):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/classify"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}
    assert body["application/json"]["schema"]["$ref"] == "#/components/schemas/ClassifyRequest"
    for name in ("ClassifyRequest", "CaptionRequest", "EmbedRequest", "ImagePayload", "ClassifyResponse"):
        assert name in spec["components"]["schemas"]


def test_web_page_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'src="static/app.js"' in page.text and 'name="viewport"' in page.text
    for path in ("/static/app.js", "/static/style.css"):
        assert client.get(path).status_code == 200


# --- classify --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("colour", ["red", "green", "blue"])
def test_classify_upload_zero_shot(client, colour):
    response = client.post("/v1/classify", **upload(colour), data={"labels": "red, green,blue", "top_k": "2"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "zero-shot" and body["model"] == "test-tiny"
    assert [p["label"] for p in body["predictions"]][0] == colour
    assert len(body["predictions"]) == 2
    assert body["predictions"][0]["score"] >= body["predictions"][1]["score"]


def test_classify_json_base64_and_data_url(client):
    for payload in (b64("blue"), "data:image/png;base64," + b64("blue")):
        response = client.post("/v1/classify", json={"image": {"base64": payload}, "labels": LABELS})
        assert response.status_code == 200, response.text
        assert response.json()["predictions"][0]["label"] == "blue"


def test_classify_labels_are_cleaned_and_top_k_capped(client):
    body = client.post(
        "/v1/classify", json={"image": {"base64": b64("red")}, "labels": [" red ", "red", "green"], "top_k": 10}
    ).json()
    assert [p["label"] for p in body["predictions"]] == ["red", "green"]
    assert sum(p["score"] for p in body["predictions"]) == pytest.approx(1.0, abs=1e-5)


def test_classify_without_labels_is_vocabulary_free_with_evidence(client):
    body = client.post("/v1/classify", **upload("red"), data={"labels": ""}).json()
    assert body["mode"] == "vocabulary-free"
    assert body["predictions"][0]["label"] == "red"
    assert body["captions"] and "red" in body["captions"][0]["text"]
    assert {c["name"] for c in body["candidates"]} >= {"red"}


def test_classify_named_model(client):
    named = client.post("/v1/classify", json={"image": {"base64": b64()}, "labels": LABELS, "model": "test-tiny"})
    default = client.post("/v1/classify", json={"image": {"base64": b64()}, "labels": LABELS})
    assert (named.status_code, default.status_code) == (200, 200)
    body = named.json()
    assert body == default.json() and body["model"] == "test-tiny" and body["mode"] == "zero-shot"
    assert body["predictions"][0]["label"] == "red"


def test_classify_unknown_model_is_404_naming_the_loaded_ones(client):
    response = client.post("/v1/classify", json={"image": {"base64": b64()}, "labels": LABELS, "model": "nope"})
    assert response.status_code == 404
    assert response.json() == {
        "error": "unknown_model",
        "detail": "model 'nope' is not loaded on this server; loaded: test-tiny (see GET /v1/models)",
    }


# --- caption and embed -----------------------------------------------------------------------------------


def test_caption_generated(client):
    body = client.post("/v1/caption", **upload("green")).json()
    assert body == {"model": "test-tiny", "caption": "a green square", "method": "generated"}


def test_caption_falls_back_to_retrieval_with_database_only(make_client):
    client = make_client(database=True)
    body = client.post("/v1/caption", json={"image": {"base64": b64("blue")}}).json()
    assert body["method"] == "retrieved" and "blue" in body["caption"]


def test_embed_texts_and_image_share_the_space(client):
    texts = client.post("/v1/embed", json={"texts": ["red", "blue"]}).json()
    assert texts["kind"] == "text" and texts["embed_dim"] == 32 and len(texts["embeddings"]) == 2
    image = client.post("/v1/embed", **upload("red")).json()
    assert image["kind"] == "image" and len(image["embeddings"]) == 1
    red, blue = texts["embeddings"]
    (img,) = image["embeddings"]
    dot = lambda a, b: sum(x * y for x, y in zip(a, b, strict=True))  # noqa: E731
    assert dot(img, img) == pytest.approx(1.0, abs=1e-4)
    assert dot(img, red) > dot(img, blue)


def test_embed_texts_as_form_fields(client):
    response = client.post("/v1/embed", data={"texts": ["red", "green"]})
    assert response.status_code == 200 and len(response.json()["embeddings"]) == 2


# --- images by URL (loopback server) ---------------------------------------------------------------------


@pytest.fixture
def image_server() -> Iterator[str]:
    routes = {
        "/red.png": (200, image_bytes("red"), {}),
        "/moved": (302, b"", {"Location": "/red.png"}),
        "/text": (200, b"hello, not an image", {}),
        "/missing": (404, b"nope", {}),
        "/big.png": (200, image_bytes((10, 20, 30), size=400, fmt="BMP"), {}),
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            status, body, headers = routes.get(self.path, (404, b"", {}))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_classify_image_url_and_redirect(client, image_server):
    for path in ("/red.png", "/moved"):
        response = client.post("/v1/classify", json={"image": {"url": image_server + path}, "labels": LABELS})
        assert response.status_code == 200, response.text
        assert response.json()["predictions"][0]["label"] == "red"


def test_image_url_errors(make_client, image_server):
    client = make_client(max_upload_bytes=100_000)
    cases = {
        "/text": (422, "invalid_image", "not a readable image"),
        "/missing": (422, "invalid_image", "HTTP 404"),
        "/big.png": (413, "payload_too_large", "upload limit"),
    }
    for path, (status, code, fragment) in cases.items():
        response = client.post("/v1/classify", json={"image": {"url": image_server + path}, "labels": LABELS})
        assert_error(response, status, code, fragment)
    unreachable = client.post("/v1/caption", json={"image": {"url": "http://127.0.0.1:9/x.png"}})
    assert_error(unreachable, 422, "invalid_image", "download failed")
    scheme = client.post("/v1/classify", json={"image": {"url": "file:///etc/passwd"}, "labels": LABELS})
    assert_error(scheme, 400, "invalid_input", "http")


def test_private_urls_refused_by_default(make_client, image_server):
    client = make_client(allow_private_urls=False)
    response = client.post("/v1/classify", json={"image": {"url": image_server + "/red.png"}, "labels": LABELS})
    assert_error(response, 400, "invalid_input", "non-public address 127.0.0.1")


def test_urls_can_be_disabled(make_client, image_server):
    client = make_client(allow_urls=False)
    response = client.post("/v1/classify", json={"image": {"url": image_server + "/red.png"}, "labels": LABELS})
    assert_error(response, 400, "invalid_input", "disabled")


# --- bad inputs: each a 4xx JSON naming the problem ------------------------------------------------------


def test_not_an_image(client):
    response = client.post("/v1/classify", files={"file": ("notes.txt", b"just some text", "text/plain")})
    assert_error(response, 422, "invalid_image", "notes.txt", "not a readable image")
    formats = ", ".join(sorted(client.app.state.services.settings.image_formats))
    # named where it is raised: the upload's name, once, then the reason (no "<N bytes>")
    assert response.json()["detail"] == f"upload 'notes.txt': not a readable image (allowed formats: {formats})"


def test_corrupt_image(client):
    truncated = image_bytes("red", size=64, fmt="JPEG")[:200]
    response = client.post(
        "/v1/classify", files={"file": ("broken.jpg", truncated, "image/jpeg")}, data={"labels": "red"}
    )
    assert_error(response, 422, "invalid_image", "broken.jpg")


def test_empty_file(client):
    response = client.post("/v1/caption", files={"file": ("empty.png", b"", "image/png")})
    assert_error(response, 422, "invalid_image", "empty")


def test_missing_image(client):
    assert_error(client.post("/v1/classify", data={"labels": "red"}), 400, "invalid_input", "no image")
    assert_error(client.post("/v1/classify", json={"labels": ["red"]}), 422, "invalid_request", "image")
    both = client.post("/v1/classify", json={"image": {"base64": b64(), "url": "http://x/y.png"}})
    assert_error(both, 422, "invalid_request", "exactly one")


def test_bad_base64(client):
    response = client.post("/v1/classify", json={"image": {"base64": "%%% not base64 %%%"}, "labels": LABELS})
    assert_error(response, 400, "invalid_input", "base64")


@pytest.mark.parametrize(
    ("labels", "fragment"),
    [([], "labels is empty"), (["", "   "], "labels is empty"), (["x" * 300], "300 characters")],
)
def test_bad_labels_json(client, labels, fragment):
    response = client.post("/v1/classify", json={"image": {"base64": b64()}, "labels": labels})
    assert_error(response, 400, "invalid_input", fragment)


def test_separator_only_labels_form(client):
    response = client.post("/v1/classify", **upload(), data={"labels": " , ,\n"})
    assert_error(response, 400, "invalid_input", "labels is empty")


def test_too_many_labels(make_client):
    client = make_client(max_labels=3)
    response = client.post("/v1/classify", **upload(), data={"labels": "a,b,c,d"})
    assert_error(response, 400, "invalid_input", "4 labels", "limit is 3")


def test_top_k_out_of_range(client):
    zero = client.post("/v1/classify", json={"image": {"base64": b64()}, "labels": LABELS, "top_k": 0})
    assert_error(zero, 422, "invalid_request", "top_k")
    huge = client.post("/v1/classify", **upload(), data={"labels": "red", "top_k": "1000"})
    assert_error(huge, 400, "invalid_input", "top_k=1000")
    text = client.post("/v1/classify", **upload(), data={"labels": "red", "top_k": "many"})
    assert_error(text, 400, "invalid_input", "top_k")


def test_unknown_model(client):
    response = client.post("/v1/classify", json={"image": {"base64": b64()}, "labels": LABELS, "model": "gpt-9"})
    assert_error(response, 404, "unknown_model", "gpt-9", "test-tiny")


def test_vocabulary_free_without_database(bare_client):
    response = bare_client.post("/v1/classify", **upload())
    assert_error(response, 400, "not_configured", "caption database", "--db")


def test_caption_without_captioner_or_database(bare_client):
    response = bare_client.post("/v1/caption", **upload())
    assert_error(response, 400, "not_configured", "--caption-checkpoint")


def test_upload_over_limit(make_client):
    client = make_client(max_upload_bytes=2_000)
    big = image_bytes((1, 2, 3), size=64, fmt="BMP")  # ~12 kB
    response = client.post("/v1/classify", files={"file": ("big.bmp", big, "image/bmp")}, data={"labels": "red"})
    assert_error(response, 413, "payload_too_large")
    encoded = client.post("/v1/classify", json={"image": {"base64": base64.b64encode(big).decode()}, "labels": ["a"]})
    assert_error(encoded, 413, "payload_too_large", "upload limit")


def test_body_over_limit_is_refused_before_reading(make_client):
    client = make_client(max_upload_bytes=1_000, max_labels=2, max_label_chars=10)
    limit = client.app.state.services.settings.max_body_bytes
    response = client.post("/v1/classify", content=b"x" * (limit + 1), headers={"content-type": "application/json"})
    assert_error(response, 413, "payload_too_large", "exceeds the limit")


def test_body_over_limit_without_content_length(make_client):
    client = make_client(max_upload_bytes=1_000, max_labels=2, max_label_chars=10)
    limit = client.app.state.services.settings.max_body_bytes

    def chunks():  # a streamed body: no Content-Length, only the running count can stop it
        for _ in range(limit // 1000 + 2):
            yield b"x" * 1000

    response = client.post("/v1/embed", content=chunks(), headers={"content-type": "application/json"})
    assert_error(response, 413, "payload_too_large")


def test_too_many_pixels(make_client):
    client = make_client(max_pixels=1_000)
    response = client.post("/v1/classify", **upload(size=64), data={"labels": "red"})
    assert_error(response, 413, "image_too_large", "square.png", "4,096 pixels")


def test_texts_limits(make_client):
    client = make_client(max_texts=2, max_text_chars=20)
    assert_error(client.post("/v1/embed", json={"texts": []}), 400, "invalid_input", "texts is empty")
    assert_error(client.post("/v1/embed", json={"texts": ["a", "b", "c"]}), 400, "invalid_input", "limit is 2")
    assert_error(client.post("/v1/embed", json={"texts": ["y" * 21]}), 400, "invalid_input", "texts[0]")
    assert_error(client.post("/v1/embed", json={"texts": ["  "]}), 400, "invalid_input", "blank")
    both = client.post("/v1/embed", json={"texts": ["a"], "image": {"base64": b64()}})
    assert_error(both, 422, "invalid_request", "exactly one")


def test_wrong_content_type_and_malformed_bodies(client):
    assert_error(
        client.post("/v1/classify", content=b"hi", headers={"content-type": "text/plain"}),
        415,
        "unsupported_media_type",
        "text/plain",
    )
    assert_error(
        client.post("/v1/classify", content=b"{not json", headers={"content-type": "application/json"}),
        422,
        "invalid_request",
    )
    bad_multipart = client.post(
        "/v1/classify", content=b"--x\r\ngarbage", headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert 400 <= bad_multipart.status_code < 500 and "error" in bad_multipart.json()
    unknown_field = client.post("/v1/classify", json={"image": {"base64": b64()}, "lables": ["red"]})
    assert_error(unknown_field, 422, "invalid_request", "lables")


def test_unknown_route_and_method_are_json(client):
    assert_error(client.get("/v1/nothing"), 404, "not_found")
    assert_error(client.get("/v1/classify"), 405, "method_not_allowed")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"json": None},
        {"json": []},
        {"json": {"image": None}},
        {"json": {"image": {"base64": ""}, "labels": ["a"]}},
        {"json": {"image": {"base64": b64()}, "labels": "red"}},
        {"json": {"image": {"base64": b64()}, "labels": [1, 2]}},
        {"json": {"image": {"url": ""}, "labels": ["a"]}},
        {"files": {"file": ("x.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")}, "data": {"labels": "a"}},
        {"files": {"file": ("x.gif", b"GIF89a" + b"\xff" * 30, "image/gif")}},
        {"data": {"file": "not a file", "labels": "a"}},
    ],
)
@pytest.mark.parametrize("path", ["/v1/classify", "/v1/caption", "/v1/embed"])
def test_garbage_never_500(client, path, kwargs):
    response = client.post(path, **kwargs)
    assert 400 <= response.status_code < 500, response.text
    assert set(response.json()) == {"error", "detail"}


# --- timeouts and concurrency ----------------------------------------------------------------------------


def test_slow_inference_times_out_and_server_stays_responsive(make_client):
    client = make_client(captioner=ColourCaptioner(delay_s=1.0), request_timeout_s=0.2)
    response = client.post("/v1/caption", **upload())
    assert_error(response, 503, "timeout", "0.2 s")
    assert response.headers["retry-after"] == "1"
    assert client.get("/health").status_code == 200


def test_event_loop_stays_free_during_inference(make_client):
    client = make_client(captioner=ColourCaptioner(delay_s=1.0))
    slow = threading.Thread(target=lambda: client.post("/v1/caption", **upload()))
    slow.start()
    time.sleep(0.2)  # the caption is now computing on the inference thread
    t0 = time.perf_counter()
    assert client.get("/health").status_code == 200
    assert time.perf_counter() - t0 < 0.5
    slow.join(timeout=10)


def test_concurrent_requests_share_batches(make_client):
    captioner = ColourCaptioner(delay_s=0.05)
    client = make_client(captioner=captioner, max_batch=8, max_wait_ms=50)
    results: list[int] = []

    def call(colour):
        results.append(client.post("/v1/caption", **upload(colour)).status_code)

    threads = [threading.Thread(target=call, args=(c,)) for c in ["red", "green", "blue", "yellow"] * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == [200] * 8
    assert sum(captioner.calls) == 8 and max(captioner.calls) > 1  # at least one real batch


def test_models_load_in_the_lifespan_not_in_create_app():
    from fastapi.testclient import TestClient

    from tests.serve.serve_helpers import StandInLibrary
    from vocabfree.serve.app import create_app
    from vocabfree.serve.dependencies import get_library
    from vocabfree.serve.settings import ServeSettings

    library = StandInLibrary()
    app = create_app(ServeSettings(models=("test-tiny",), warmup=False))
    app.dependency_overrides[get_library] = lambda: library
    assert library.loaded == []
    with TestClient(app) as client:
        assert library.loaded == ["test-tiny"]
        assert client.get("/health").status_code == 200
        assert client.post("/v1/embed", json={"texts": ["red"]}).status_code == 200
    assert library.loaded == ["test-tiny"]  # once, at start
