import json

import pytest

from tests.vqa.test_data import VQA_FILE
from vocabfree.vqa import VQAModel
from vocabfree.vqa.answerer import SHIPPED


def test_shipped_model_card_and_config():
    card = json.loads((SHIPPED / "model_card.json").read_text())
    assert "Flickr8k" in " ".join(card["training_data"]) or "VQAv2" in " ".join(card["training_data"])
    assert card["licence"] and card["metrics"]["rows"]
    assert (SHIPPED / "model.safetensors").stat().st_size < 10_000_000
    config = json.loads((SHIPPED / "config.json").read_text())
    assert config["tokens"]["image_model"] == "local-conse"


@pytest.mark.slow
@pytest.mark.skipif(not VQA_FILE.is_file(), reason="shared VQA data not present")
def test_shipped_model_answers_a_real_photo():
    pytest.importorskip("efficientnet_lite_pytorch")
    model = VQAModel.load()
    photo = VQA_FILE.parent / "images" / "COCO_val2014_000000001292.jpg"
    answers = model.answer([photo, photo], ["Are her legs extended?", "How many people are there?"])
    assert answers[0].answer in {"yes", "no"}
    assert answers[1].answer.isdigit()
