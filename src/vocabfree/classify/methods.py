"""The vocabulary-free family by name: CaSED and the paper's baselines, one table for every caller.

Each method's classifier implements ``VocabularyFreeMethod`` (``fit``, ``predict``, ``predict_embeddings``),
so the CLI, the evaluation runner, the batch jobs and the benchmarks use any of them alike. ``METHODS`` maps a
name to how to build it; ``make_classifier(name, model, database)`` builds one.

This module imports the classifiers only inside the builders, so the CLI can read the names (``--method``
choices) without loading them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

import numpy as np

from vocabfree.classify.results import VocabularyFreePrediction
from vocabfree.errors import InvalidInputError
from vocabfree.images import ImageInput
from vocabfree.models.protocol import VisionLanguageModel

if TYPE_CHECKING:
    from vocabfree.database.store import CaptionDatabase


@runtime_checkable
class VocabularyFreeMethod(Protocol):
    """A classifier that names images with no class list.

    ``fit()`` does the one-time setup (vocabulary embeddings, the lexicon; a no-op where there is none) and
    returns self; ``predict`` encodes images, ``predict_embeddings`` starts from image embeddings (N, D).
    ``num_candidates`` is the fixed vocabulary size, or None where candidates differ per image.
    """

    method: str

    @property
    def num_candidates(self) -> int | None: ...

    def fit(self, X: object = None, y: object = None, *, progress: bool = False) -> Self: ...  # noqa: N803

    def predict(
        self,
        images: Sequence[ImageInput],
        *,
        top_k: int = 5,
        sources: Sequence[str] | None = None,
        progress: bool = False,
    ) -> list[VocabularyFreePrediction]: ...

    def predict_embeddings(
        self,
        image_embeddings: np.ndarray,
        *,
        top_k: int = 5,
        sources: Sequence[str] | None = None,
        progress: bool = False,
    ) -> list[VocabularyFreePrediction]: ...


Builder = Callable[..., VocabularyFreeMethod]


@dataclass(frozen=True)
class MethodSpec:
    """One row of the method table: how to build the classifier and what it takes.

    ``build(model, database, cache_dir=..., **params)``; ``options`` are the tuning parameters the method
    accepts from the command line (``k``, ``alpha``, ``lexicon``), ``needs_database`` whether it retrieves.
    """

    name: str
    build: Builder
    needs_database: bool
    options: tuple[str, ...] = ()
    help: str = ""

    def select(self, **options: Any) -> dict[str, Any]:
        """The subset of ``options`` this method takes (the others do not apply to it)."""
        return {key: value for key, value in options.items() if key in self.options}


def _cased(model: VisionLanguageModel, database: CaptionDatabase | None, *, cache_dir=None, **kwargs: Any):
    from vocabfree.classify.vocabulary_free import VocabularyFreeClassifier

    assert database is not None  # make_classifier checked
    return VocabularyFreeClassifier(model, database, **kwargs)


def _closest_caption(model: VisionLanguageModel, database: CaptionDatabase | None, *, cache_dir=None, **kwargs: Any):
    from vocabfree.classify.baselines import ClosestCaptionClassifier

    assert database is not None  # make_classifier checked
    return ClosestCaptionClassifier(model, database, **kwargs)


def _wordnet(model: VisionLanguageModel, database: CaptionDatabase | None, *, cache_dir=None, **kwargs: Any):
    from vocabfree.classify.baselines import wordnet_classifier

    return wordnet_classifier(model, cache_dir=cache_dir, **kwargs)


def _english_words(model: VisionLanguageModel, database: CaptionDatabase | None, *, cache_dir=None, **kwargs: Any):
    from vocabfree.classify.baselines import english_words_classifier

    return english_words_classifier(model, cache_dir=cache_dir, **kwargs)


def _imagenet(model: VisionLanguageModel, database: CaptionDatabase | None, *, cache_dir=None, **kwargs: Any):
    from vocabfree.classify.baselines import imagenet_classifier

    return imagenet_classifier(model, cache_dir=cache_dir, **kwargs)


# The order is the paper's table order (and the default of ``benchmarks/vocab_free.py --methods``).
METHODS: Mapping[str, MethodSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            MethodSpec("cased", _cased, True, ("k", "alpha", "lexicon"), "CaSED: candidates from retrieved captions"),
            MethodSpec("closest-caption", _closest_caption, True, ("k",), "the nearest caption is the label"),
            MethodSpec("wordnet", _wordnet, False, (), "every WordNet noun"),
            MethodSpec("english-words", _english_words, False, (), "every English word"),
            MethodSpec("imagenet", _imagenet, False, (), "the ImageNet-1k class names"),
        )
    }
)
METHOD_NAMES: tuple[str, ...] = tuple(METHODS)
DEFAULT_METHOD = "cased"


def method_spec(method: str) -> MethodSpec:
    """The table row of ``method``; an unknown name is an ``InvalidInputError`` that lists the valid ones."""
    try:
        return METHODS[method]
    except KeyError:
        raise InvalidInputError(f"unknown method '{method}'; use one of {', '.join(METHOD_NAMES)}") from None


def make_classifier(
    method: str,
    model: VisionLanguageModel,
    database: CaptionDatabase | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    **kwargs: Any,
) -> VocabularyFreeMethod:
    """A classifier by method name (one of ``METHOD_NAMES``); ``kwargs`` go to its constructor."""
    spec = method_spec(method)
    if spec.needs_database and database is None:
        raise InvalidInputError(f"method '{method}' needs a caption database (--db DIR)")
    return spec.build(model, database, cache_dir=cache_dir, **kwargs)


def predict_vocabulary_free(
    model: VisionLanguageModel,
    database: CaptionDatabase | str | os.PathLike | None,
    images: Sequence[ImageInput],
    *,
    method: str = DEFAULT_METHOD,
    top_k: int = 5,
    sources: Sequence[str] | None = None,
    batch_size: int = 32,
    cache_dir: str | os.PathLike | None = None,
    **params: Any,
) -> list[VocabularyFreePrediction]:
    """One call: open ``database`` (a path or an open database; checked against ``model``), build the
    classifier for ``method`` and predict. ``params`` go to the classifier (``k``, ``alpha``, ``lexicon``, ...)."""
    from vocabfree.database.store import CaptionDatabase

    if database is not None and not isinstance(database, CaptionDatabase):
        database = CaptionDatabase.open(database, model=model)
    classifier = make_classifier(method, model, database, cache_dir=cache_dir, batch_size=batch_size, **params)
    return classifier.predict(images, top_k=top_k, sources=sources)
