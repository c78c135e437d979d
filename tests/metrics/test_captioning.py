"""Caption metric wrappers on pairs whose scores are known by hand."""

import numpy as np
import pytest

from vocabfree.errors import InvalidInputError
from vocabfree.metrics import captioning
from vocabfree.metrics.captioning import caption_scores, clip_score, model_clip_score, simple_tokenize

REFS = [
    ["a dog runs across the green grass"],
    ["two children play in the snow"],
    ["a man rides a red bicycle down the street"],
]


@pytest.fixture
def no_java(monkeypatch):
    monkeypatch.setattr(captioning, "java_available", lambda: False)


def test_identical_candidates_score_perfectly(no_java):
    scores = caption_scores([r[0] for r in REFS], REFS)
    assert scores.bleu1 == pytest.approx(1.0, abs=1e-6)
    assert scores.bleu4 == pytest.approx(1.0, abs=1e-6)
    assert scores.rouge_l == pytest.approx(1.0, abs=1e-6)
    assert scores.cider == pytest.approx(10.0, abs=1e-3)  # CIDEr-D's 10x scaling of a cosine of 1
    assert scores.meteor is None and "METEOR skipped" in scores.notes[0]


def test_disjoint_candidates_score_zero(no_java):
    scores = caption_scores(["purple elephant sleeping", "blurry photograph outdoors", "xylophone concert hall"], REFS)
    assert scores.bleu1 < 1e-6 and scores.cider == pytest.approx(0.0) and scores.rouge_l == pytest.approx(0.0)


def test_bleu1_by_hand(no_java):
    # "the cat sat on the mat" vs "the cat is on the mat": 5 of 6 unigrams match (clipped), same length.
    scores = caption_scores(["the cat sat on the mat"], [["the cat is on the mat"]])
    assert scores.bleu1 == pytest.approx(5 / 6, abs=1e-6)


def test_simple_tokenizer_and_input_checks(no_java):
    assert simple_tokenize("A Dog, running!  Fast.") == "a dog running fast"
    with pytest.raises(InvalidInputError, match="reference lists"):
        caption_scores(["a"], [["a"], ["b"]])
    with pytest.raises(InvalidInputError, match="at least one reference"):
        caption_scores(["a"], [[]])
    assert caption_scores([""], [["a dog"]]).cider == pytest.approx(0.0)  # empty caption is scored, not a crash


def test_clip_score_is_w_times_clipped_cosine():
    img = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    txt = np.array([[0.6, 0.8], [-1.0, 0.0], [0.0, 5.0]])
    assert clip_score(img, txt) == pytest.approx([2.5 * 0.6, 0.0, 2.5])
    assert clip_score(img, txt, w=1.0)[0] == pytest.approx(0.6)
    with pytest.raises(InvalidInputError, match=r"^need two \(N, D\) arrays of one shape, got \(3, 2\) and \(2, 2\)$"):
        clip_score(img, txt[:2])


def test_model_clip_score_uses_the_models_text_encoder():
    from vocabfree.models import load_model

    tiny = load_model("test-tiny")
    from PIL import Image

    emb = tiny.encode_images([Image.new("RGB", (8, 8), "red")])
    good = model_clip_score(tiny, emb, ["red"])
    bad = model_clip_score(tiny, emb, ["blue"])
    assert good == pytest.approx(2.5, abs=1e-4) and bad < good


@pytest.mark.slow
@pytest.mark.skipif(not captioning.java_available(), reason="METEOR and the PTB tokenizer need Java")
def test_meteor_with_java():
    same = caption_scores([r[0] for r in REFS], REFS)
    other = caption_scores(["purple elephant sleeping", "blurry photograph outdoors", "xylophone concert hall"], REFS)
    assert same.meteor > 0.9 and other.meteor < 0.1 and same.notes == ()
