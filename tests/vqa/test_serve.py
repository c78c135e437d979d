"""POST /v1/vqa with the tiny trained checkpoint (the route's model dependency overridden)."""

import base64

import pytest
from fastapi.testclient import TestClient

from tests.vqa.conftest import COLOURS


@pytest.fixture
def vqa_client(tiny_vqa_checkpoint):
    from vocabfree.serve.app import create_app
    from vocabfree.serve.routers.vqa import get_vqa_model
    from vocabfree.serve.settings import ServeSettings
    from vocabfree.vqa import VQAModel

    model = VQAModel.load(tiny_vqa_checkpoint)
    app = create_app(ServeSettings(models=("test-tiny",)))
    app.dependency_overrides[get_vqa_model] = lambda: model
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, model


def test_vqa_form_and_json_give_the_library_answer(vqa_client, tiny_vqa_root):
    client, model = vqa_client
    path = tiny_vqa_root / "images" / "test_blue_0.png"
    expected = model.answer([path], ["What color is the picture?"])[0].answer
    with path.open("rb") as handle:
        r = client.post(
            "/v1/vqa", files={"file": ("b.png", handle, "image/png")}, data={"question": "What color is the picture?"}
        )
    assert r.status_code == 200, r.text
    assert r.json() == {"model": model.name, "question": "What color is the picture?", "answer": expected}
    payload = {
        "image": {"base64": base64.b64encode(path.read_bytes()).decode()},
        "question": "What color is the picture?",
    }
    r = client.post("/v1/vqa", json=payload)
    assert r.status_code == 200 and r.json()["answer"] == expected


def test_vqa_bad_requests_are_4xx(vqa_client, tiny_vqa_root):
    client, _ = vqa_client
    path = tiny_vqa_root / "images" / f"test_{next(iter(COLOURS))}_0.png"
    with path.open("rb") as handle:
        r = client.post("/v1/vqa", files={"file": ("x.png", handle, "image/png")}, data={"question": "  "})
    assert r.status_code == 400 and "question" in r.text
    r = client.post("/v1/vqa", json={"image": {"base64": "bm90IGFuIGltYWdl"}, "question": "What?"})
    assert 400 <= r.status_code < 500
    r = client.post("/v1/vqa", json={"question": "What?"})
    assert r.status_code == 422
    r = client.post("/v1/vqa", content=b"x", headers={"content-type": "text/plain"})
    assert r.status_code == 415


def test_openapi_documents_the_route(vqa_client):
    client, _ = vqa_client
    body = client.get("/openapi.json").json()["paths"]["/v1/vqa"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}
    assert body["application/json"]["schema"]["required"] == ["image", "question"]
