import pytest

from vocabfree.errors import InvalidInputError, MissingDependencyError
from vocabfree.vqa import VQAModel
from vocabfree.vqa import answerer as answerer_module
from vocabfree.vqa.checkpoint import export_checkpoint, read_meta


def test_answer_pairs_and_broadcast(tiny_vqa_checkpoint, tiny_vqa_root):
    model = VQAModel.load(tiny_vqa_checkpoint)
    images = sorted((tiny_vqa_root / "images").glob("test_*.png"))
    one = model.answer(images, "Is this red?")
    assert [a.question for a in one] == ["Is this red?"] * len(images)
    assert one == model.answer(images, ["Is this red?"] * len(images))
    with pytest.raises(InvalidInputError, match="2 questions for 4 images"):
        model.answer(images, ["a?", "b?"])
    with pytest.raises(InvalidInputError, match="empty question"):
        model.answer(images[:1], [" "])
    assert model.answer([], "Is this red?") == []


def test_exported_float16_copy_answers_the_same(tiny_vqa_checkpoint, tiny_vqa_root, tmp_path):
    out = export_checkpoint(tiny_vqa_checkpoint, tmp_path / "shipped", {"training_data": "tiny"})
    assert not (out / "state.pt").exists() and (out / "model_card.json").is_file()
    assert read_meta(out)["name"] == "shipped"
    images = sorted((tiny_vqa_root / "images").glob("test_*.png"))
    questions = ["What color is the picture?", "Is this blue?"] * 2
    original = VQAModel.load(tiny_vqa_checkpoint).answer(images, questions)
    assert VQAModel.load(out).answer(images, questions) == original


def test_missing_shipped_model_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(answerer_module, "SHIPPED", tmp_path / "nothing")
    with pytest.raises(MissingDependencyError, match="shipped VQA model is missing"):
        VQAModel.load()


def test_wrong_image_model_is_refused(tiny_vqa_checkpoint):
    from vocabfree.models import load_model

    with pytest.raises(InvalidInputError, match="reads tokens of 'test-vqa-tokens'"):
        VQAModel.load(tiny_vqa_checkpoint, image_model=load_model("test-tiny"))
