"""The method table: every vocabulary-free method builds by name and implements one protocol."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.conftest import TINY_CAPTIONS, build_tiny_db
from vocabfree.classify import steps
from vocabfree.classify.baselines import ClosestCaptionClassifier, StaticVocabularyClassifier
from vocabfree.classify.methods import (
    DEFAULT_METHOD,
    METHOD_NAMES,
    METHODS,
    VocabularyFreeMethod,
    make_classifier,
    method_spec,
)
from vocabfree.classify.vocabulary_free import VocabularyFreeClassifier
from vocabfree.errors import InvalidInputError


@pytest.fixture(scope="module")
def db(tmp_path_factory, tiny_model):
    return build_tiny_db(tmp_path_factory.mktemp("methods") / "db", tiny_model, TINY_CAPTIONS)


def test_the_table_in_the_papers_order():
    assert METHOD_NAMES == ("cased", "closest-caption", "wordnet", "english-words", "imagenet")
    assert DEFAULT_METHOD == "cased"
    assert [name for name in METHOD_NAMES if METHODS[name].needs_database] == ["cased", "closest-caption"]


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_every_method_builds_by_name_and_implements_the_protocol(name, tiny_model, db):
    clf = make_classifier(name, tiny_model, db)
    assert isinstance(clf, VocabularyFreeMethod) and clf.method == name


@pytest.mark.parametrize(
    ("name", "cls", "num_candidates"),
    [("cased", VocabularyFreeClassifier, None), ("closest-caption", ClosestCaptionClassifier, None)],
)
def test_fit_returns_self_and_candidates_vary_per_image(name, cls, num_candidates, tiny_model, db):
    clf = (
        make_classifier(name, tiny_model, db, lexicon=None)
        if name == "cased"
        else make_classifier(name, tiny_model, db)
    )
    assert type(clf) is cls and clf.fit() is clf and clf.num_candidates is num_candidates


def test_a_static_vocabulary_fits_its_embeddings(tiny_model, tmp_path):
    clf = make_classifier("imagenet", tiny_model, cache_dir=tmp_path)
    assert type(clf) is StaticVocabularyClassifier and clf.fit() is clf
    assert clf.class_embeddings_.shape == (clf.num_candidates, tiny_model.embed_dim)


def test_the_table_builds_what_the_classes_build(tiny_model, db):
    images = [Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))]
    by_name = make_classifier("cased", tiny_model, db, k=3, lexicon=None).predict(images, top_k=2)
    direct = VocabularyFreeClassifier(tiny_model, db, k=3, lexicon=None).predict(images, top_k=2)
    assert by_name == direct and [p.label for p in by_name] == ["red", "blue"]


def test_select_keeps_the_options_a_method_takes():
    options = {"k": 3, "alpha": 0.5, "lexicon": None}
    assert method_spec("cased").select(**options) == options
    assert method_spec("closest-caption").select(**options) == {"k": 3}
    assert method_spec("wordnet").select(**options) == {}


def test_unknown_and_database_less_methods_are_refused(tiny_model):
    with pytest.raises(InvalidInputError, match="^unknown method 'nope'; use one of cased, closest-caption, wordnet, "):
        make_classifier("nope", tiny_model)
    with pytest.raises(InvalidInputError, match=r"^method 'cased' needs a caption database \(--db DIR\)$"):
        make_classifier("cased", tiny_model, None)


def test_the_defaults_are_the_papers():
    assert (steps.K, steps.ALPHA, steps.TAU, steps.DEDUP_THRESHOLD, steps.FALLBACK) == (10, 0.7, 1.0, 0.94, "object")
    clf = VocabularyFreeClassifier(None, None)  # type: ignore[arg-type]
    assert (clf.k, clf.alpha, clf.tau, clf.dedup_threshold, clf.fallback) == (10, 0.7, 1.0, 0.94, "object")
    closest = ClosestCaptionClassifier(None, None)  # type: ignore[arg-type]
    assert (closest.k, closest.tau, closest.dedup_threshold) == (10, 1.0, 0.94)
