"""The service over the real library tasks (no stand-ins): a caption database built with test-tiny.

Guards the adapters in ``vocabfree.serve.adapters`` against API drift in ``vocabfree.database`` and
``vocabfree.classify.vocabulary_free``.
"""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from tests.serve.serve_helpers import image_bytes
from vocabfree.errors import DatabaseError
from vocabfree.serve.app import create_app
from vocabfree.serve.settings import ServeSettings

# Every colour word appears twice, so it survives the candidate filters whatever else they drop.
CORPUS = ["a red car", "a red apple", "a blue boat", "a blue sky", "a green field", "a green tree"]


@pytest.fixture(scope="module")
def tiny_database(tmp_path_factory) -> str:
    database = pytest.importorskip("vocabfree.database")
    from vocabfree.models import load_model

    out = tmp_path_factory.mktemp("serve-db") / "colours"
    database.build_database(load_model("test-tiny"), [database.corpus_from_texts("colours", CORPUS)], out)
    return str(out)


@pytest.fixture(scope="module")
def client(tiny_database):
    settings = ServeSettings(models=("test-tiny",), database=tiny_database, warmup=True)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize("colour", ["red", "green", "blue"])
def test_vocabulary_free_names_the_colour_with_evidence(client, colour):
    response = client.post(
        "/v1/classify", files={"file": ("x.png", image_bytes(colour), "image/png")}, data={"top_k": "2"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "vocabulary-free"
    assert body["predictions"][0]["label"] == colour and len(body["predictions"]) == 2
    assert body["captions"][0]["text"].startswith(f"a {colour} ")
    assert {"red", "green", "blue"} <= {c["name"] for c in body["candidates"]}


def test_retrieved_caption_without_captioner(client):
    payload = {"image": {"base64": base64.b64encode(image_bytes("blue")).decode()}}
    body = client.post("/v1/caption", json=payload).json()
    assert body["method"] == "retrieved" and body["caption"].startswith("a blue ")


def test_models_reports_database(client):
    (info,) = client.get("/v1/models").json()["models"]
    assert info["vocabulary_free"] is True and info["caption"] == "retrieved"


def test_missing_database_fails_at_startup(tmp_path):
    missing = tmp_path / "nope"
    app = create_app(ServeSettings(models=("test-tiny",), database=str(missing), warmup=False))
    with pytest.raises(DatabaseError) as info, TestClient(app):
        pass
    assert str(info.value) == f"no caption database at {missing}: not a directory; build one with 'vocabfree db build'"


@pytest.mark.slow
def test_generated_caption_from_a_real_checkpoint(tmp_path):
    """Trains a 3-step toy captioner on test-tiny features (~10 s) and serves it: adapter drift shows here."""
    import csv

    from PIL import Image

    train_mod = pytest.importorskip("vocabfree.caption.train")
    (tmp_path / "images").mkdir()
    rows = []
    for i, (colour, split) in enumerate([("red", "train"), ("green", "train"), ("blue", "val")]):
        Image.new("RGB", (16, 16), colour).save(tmp_path / "images" / f"{i}.png")
        rows += [(f"images/{i}.png", f"a {colour} square", split, "toy")] * 2
    with (tmp_path / "captions.csv").open("w", newline="") as f:
        csv.writer(f).writerows([("path", "caption", "split", "source"), *rows])
    config = train_mod.TrainConfig(
        data=str(tmp_path / "captions.csv"),
        out_dir=str(tmp_path / "ckpt"),
        image_model="test-tiny",
        feature_cache=None,
        model={"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 16},
        vocab_size=64,
        epochs=1,
        batch_size=4,
        max_steps=3,
        device="cpu",
        precision="fp32",
        val_max_images=1,
    )
    result = train_mod.train(config, progress=False)
    settings = ServeSettings(models=("test-tiny",), caption_checkpoint=str(result.out_dir), warmup=True)
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/models").json()["models"][0]["caption"] == "generated"
        response = client.post("/v1/caption", files={"file": ("r.png", image_bytes("red"), "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["method"] == "generated"
    # the served caption is the library's greedy caption of the same image
    from vocabfree.caption.captioner import Captioner

    captioner = Captioner.load(result.out_dir, device="cpu", precision="fp32")
    assert body["caption"] == captioner.generate([image_bytes("red")])[0]


@pytest.mark.slow
def test_local_server_captions_with_the_shipped_captioner_out_of_the_box():
    """No --caption-checkpoint: a server of the offline model generates captions with the shipped captioner."""
    pytest.importorskip("efficientnet_lite_pytorch")
    from pathlib import Path

    photo = Path(__file__).parents[2].parent / "shared/data/caltech101/images/dalmatian/image_0001.jpg"
    if not photo.is_file():
        pytest.skip("needs ../shared/data")
    settings = ServeSettings(models=("local-conse",), warmup=False)
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/models").json()["models"][0]["caption"] == "generated"
        response = client.post("/v1/caption", files={"file": ("d.jpg", photo.read_bytes(), "image/jpeg")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["method"] == "generated" and len(body["caption"].split()) >= 3
