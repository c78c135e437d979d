"""``evaluate_vocabulary_free``: every method of the table on the tiny caption database, with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import TINY_CAPTIONS, build_tiny_db
from tests.test_evaluation import colour_dataset
from vocabfree.classify.baselines import ClosestCaptionClassifier
from vocabfree.classify.methods import METHOD_NAMES
from vocabfree.errors import InvalidInputError
from vocabfree.evaluation_vocab import evaluate_vocabulary_free


class ExactMatchEncoder:
    """One orthogonal vector per distinct text: semantic similarity = 100 x the share of exact matches."""

    def encode(self, texts):
        return np.eye(len(texts), dtype=np.float32)


@pytest.fixture(scope="module")
def db(tmp_path_factory, tiny_model):
    return build_tiny_db(tmp_path_factory.mktemp("eval") / "db", tiny_model, TINY_CAPTIONS)


@pytest.fixture
def data(tmp_path):
    # the last green image is labelled blue: CaSED (no POS filter) names the colours, so 3 of 4 are right
    return colour_dataset(tmp_path, [("red", "red"), ("green", "green"), ("blue", "blue"), ("green", "blue")])


def evaluate(tiny_model, data, method, db, **params):
    result = evaluate_vocabulary_free(
        tiny_model, data, method, db, sentence_encoder=ExactMatchEncoder(), progress=False, **params
    )
    for key in ("classify_seconds", "images_per_second_from_embeddings", "encode_seconds"):
        value = result.pop(key)
        assert value is None or value >= 0
    return result


def test_cased_known_answers_and_every_metric_key(tiny_model, db, data):
    result = evaluate(tiny_model, data, "cased", db, lexicon=None, k=3)
    avg_candidates = result.pop("avg_candidates")
    assert result == {
        "dataset": "colours",
        "model": "test-tiny",
        "method": "cased",
        "database": str(db.path),
        "n_images": 4,
        "cluster_accuracy": 75.0,
        "semantic_similarity": 75.0,
        "semantic_iou": 75.0,
        "unique_predictions": 3,
        "examples": [
            {"label": "red", "prediction": "red"},
            {"label": "green", "prediction": "green"},
            {"label": "blue", "prediction": "blue"},
            {"label": "blue", "prediction": "green"},
        ],
    }
    # CaSED's candidates differ per image: the average of each answer's candidate list
    assert avg_candidates > 1.0 and float(avg_candidates * 4).is_integer()


def test_closest_caption_counts_the_retrieved_captions(tiny_model, db, data):
    result = evaluate(tiny_model, data, "closest-caption", db, k=2)
    expected = ClosestCaptionClassifier(tiny_model, db, k=2).predict(list(data.paths), top_k=1)
    assert result["avg_candidates"] == np.mean([len(p.candidates) for p in expected])
    assert [e["prediction"] for e in result["examples"]] == [p.label for p in expected][:5]
    assert result["database"] == str(db.path) and result["method"] == "closest-caption"


def test_a_static_vocabulary_reports_its_size_and_no_database(tiny_model, db, data, tmp_path):
    from vocabfree.models.imagenet import imagenet_classnames
    from vocabfree.vocabulary import clean_names

    result = evaluate(tiny_model, data, "imagenet", db, vocab_cache_dir=tmp_path / "vocab")
    assert result["avg_candidates"] == float(len(clean_names(imagenet_classnames())))
    assert result["database"] is None and result["n_images"] == 4
    assert len(list((tmp_path / "vocab" / "test-tiny").glob("vocab-*.npy"))) == 1  # written through the cache


def test_precomputed_embeddings_skip_encoding(tiny_model, db, data):
    emb = tiny_model.encode_images(list(data.paths))
    emb[3] = emb[0]  # the fourth image now looks red: a wrong answer for its label, as the embeddings say
    result = evaluate(tiny_model, data, "cased", db, lexicon=None, k=3, image_embeddings=emb)
    assert [e["prediction"] for e in result["examples"]] == ["red", "green", "blue", "red"]


def test_methods_outside_the_table_are_refused_by_name(tiny_model, db, data):
    valid = "cased, closest-caption, wordnet, english-words, imagenet"
    assert ", ".join(METHOD_NAMES) == valid
    with pytest.raises(InvalidInputError, match=f"^unknown method 'nope'; use one of {valid}$"):
        evaluate_vocabulary_free(tiny_model, data, "nope", db, sentence_encoder=ExactMatchEncoder())
    with pytest.raises(InvalidInputError, match=r"^method 'closest-caption' needs a caption database \(--db DIR\)$"):
        evaluate_vocabulary_free(tiny_model, data, "closest-caption", None, sentence_encoder=ExactMatchEncoder())
