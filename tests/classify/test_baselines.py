"""Baselines: static vocabularies (with their embedding cache) and the closest caption."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vocabfree.classify.baselines import ClosestCaptionClassifier, StaticVocabularyClassifier, encode_vocabulary
from vocabfree.classify.methods import make_classifier
from vocabfree.errors import InvalidInputError

RED, BLUE = (255, 0, 0), (0, 0, 255)


def test_static_vocabulary_picks_the_aligned_name(tiny_model):
    clf = StaticVocabularyClassifier(tiny_model, ["tree", "red", "blue", "house"], chunk=1)
    preds = clf.predict([Image.new("RGB", (8, 8), RED), Image.new("RGB", (8, 8), BLUE)], top_k=3)
    assert [p.label for p in preds] == ["red", "blue"]
    assert len(preds[0].labels) == 3 and preds[0].scores[0] >= preds[0].scores[1] >= preds[0].scores[2]
    assert sum(preds[0].scores) <= 1.0 + 1e-6 and clf.num_candidates == 4


def test_static_scores_are_a_softmax_over_the_whole_vocabulary(tiny_model):
    names = ["red", "blue", "green", "tree"]
    clf = StaticVocabularyClassifier(tiny_model, names, prompt="a {}")
    emb = tiny_model.encode_images([Image.new("RGB", (8, 8), RED)])
    pred = clf.predict_embeddings(emb, top_k=4)[0]
    logits = tiny_model.logit_scale * (tiny_model.encode_texts([f"a {n}" for n in names]) @ emb[0])
    p = np.exp(logits - logits.max())
    p /= p.sum()
    assert pred.scores == pytest.approx(tuple(sorted(p, reverse=True)), abs=1e-5)


def test_vocabulary_embeddings_are_cached_per_model(tmp_path, tiny_model):
    class Counting:
        name, embed_dim, logit_scale = tiny_model.name, tiny_model.embed_dim, tiny_model.logit_scale
        calls = 0

        def encode_texts(self, texts, **kwargs):
            Counting.calls += 1
            return tiny_model.encode_texts(texts)

    first = encode_vocabulary(Counting(), ["a", "b"], cache_dir=tmp_path)
    second = encode_vocabulary(Counting(), ["a", "b"], cache_dir=tmp_path)
    np.testing.assert_array_equal(first, second)
    assert Counting.calls == 1 and len(list((tmp_path / "test-tiny").glob("*.npy"))) == 1
    assert [p.name.startswith("vocab-") for p in (tmp_path / "test-tiny").iterdir()] == [True]  # no temporaries
    encode_vocabulary(Counting(), ["a", "b"], prompt="{}!", cache_dir=tmp_path)
    assert Counting.calls == 2
    with pytest.raises(InvalidInputError):
        encode_vocabulary(Counting(), [], cache_dir=tmp_path)


def test_closest_caption(tmp_path, tiny_model):
    from vocabfree.database import CaptionDatabase, build_database, corpus_from_texts

    build_database(tiny_model, [corpus_from_texts("c", ["a red car", "the blue sea", "a tree"])], tmp_path / "db")
    db = CaptionDatabase.open(tmp_path / "db", model=tiny_model)
    pred = ClosestCaptionClassifier(tiny_model, db, k=2).predict([Image.new("RGB", (8, 8), BLUE)])[0]
    assert pred.label == "the blue sea" and pred.captions[0].text == "the blue sea"
    assert len(pred.candidates) == 2


def test_make_classifier(tiny_model):
    with pytest.raises(InvalidInputError, match="needs a caption database"):
        make_classifier("cased", tiny_model, None)
    with pytest.raises(InvalidInputError, match="unknown method"):
        make_classifier("nope", tiny_model, None)
    clf = make_classifier("imagenet", tiny_model)
    assert clf.method == "imagenet" and 990 <= clf.num_candidates <= 1000
