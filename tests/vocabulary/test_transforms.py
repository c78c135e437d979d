"""Candidate extraction: each CaSED text transform alone, then the composed default chain."""

from __future__ import annotations

import pytest

from vocabfree.vocabulary import (
    MEDIUM_WORDS,
    DropFileExtensions,
    DropNonAlpha,
    DropShortWords,
    DropSpecialCharacters,
    DropTokens,
    DropURLs,
    DropWords,
    FilterLexicon,
    MinWordCount,
    RemoveDuplicates,
    ReplaceSeparators,
    SetLexicon,
    TextCompose,
    ToLowercase,
    ToSingular,
    default_transform,
)


@pytest.mark.parametrize(
    ("transform", "text", "expected"),
    [
        (DropTokens(), "a <PERSON> walks <br/>home", "a   walks  home"),
        (DropURLs(), "see http://x.org/a.jpg and www.y.com now", "see   and   now"),
        (DropSpecialCharacters(), "cat, (dog) & bird's t-shirt.", "cat   dog  & bird's t-shirt."),
        (DropFileExtensions(), "dog.jpg cat.png end", "dog cat end"),
        (ReplaceSeparators(), "golden_retriever t-shirt", "golden retriever t shirt"),
        (DropShortWords(3), "a dog on an ox bed", "dog bed"),
        (DropNonAlpha(), "dog's 2010 3d grass. a.m cat", "dogs grass cat"),
        (ToLowercase(), "Red CAR", "red car"),
        (ToSingular(), "dogs puppies glass bus cactus knives", "dog puppy glass bus cactus knife"),
        (DropWords(), "photo of a dog image logo", "of a dog"),
        (RemoveDuplicates(), "b a b c a", "b a c"),
    ],
)
def test_each_transform(transform, text, expected):
    assert transform(text) == expected


def test_drop_words_is_case_insensitive_and_whole_word():
    assert DropWords(["photo"])("Photo photographer PHOTO") == "photographer"


def test_min_word_count_keeps_repeated_words_in_order():
    assert MinWordCount(2)("dog cat dog bird cat fish") == "dog cat dog cat"


def test_min_word_count_falls_back_to_the_top_count():
    # nothing is seen twice: keep every word at the highest count (1), CaSED's fallback
    assert MinWordCount(2)("dog cat bird") == "dog cat bird"
    # threshold above the max count: drop to the max count (3), not to nothing
    assert MinWordCount(5)("dog dog dog cat cat") == "dog dog dog"
    assert MinWordCount(2)("") == ""


def test_filter_lexicon_keeps_requested_tags_only():
    lexicon = SetLexicon(noun=["dog", "red"], adj=["red", "small"], verb=["run"])
    assert FilterLexicon(lexicon)("small dog run quickly red") == "small dog red"
    assert FilterLexicon(lexicon, keep_tags=("verb",))("small dog run") == "run"


def test_reprs_show_parameters():
    assert repr(DropShortWords(4)) == "DropShortWords(min_length=4)"
    assert repr(MinWordCount(2)) == "MinWordCount(min_count=2)"
    assert (
        repr(FilterLexicon(SetLexicon(noun=["x"]), keep_tags=("noun",)))
        == "FilterLexicon(lexicon=SetLexicon(1 words), keep_tags=('noun',))"
    )
    assert repr(default_transform()) == (
        "TextCompose([\n    DropTokens(),\n    DropURLs(),\n    DropSpecialCharacters(),\n    DropFileExtensions(),\n"
        "    ReplaceSeparators(),\n    DropShortWords(min_length=3),\n    DropNonAlpha(),\n    ToLowercase(),\n"
        "    ToSingular(),\n    DropWords(words=('image', 'photo', 'picture', 'thumbnail', 'logo', 'symbol', "
        "'clipart', 'portrait', 'painting', 'illustration', 'icon', 'profile')),\n    MinWordCount(min_count=2),\n"
        "    RemoveDuplicates(),\n])"
    )


def test_default_transform_steps_in_published_order():
    names = [type(t).__name__ for t in default_transform(SetLexicon(noun=["dog"])).transforms]
    assert names == [
        "DropTokens",
        "DropURLs",
        "DropSpecialCharacters",
        "DropFileExtensions",
        "ReplaceSeparators",
        "DropShortWords",
        "DropNonAlpha",
        "ToLowercase",
        "ToSingular",
        "DropWords",
        "MinWordCount",
        "FilterLexicon",
        "RemoveDuplicates",
    ]
    assert default_transform(None).transforms[-2].__class__ is MinWordCount  # no lexicon: no POS step
    assert set(MEDIUM_WORDS) >= {"image", "photo", "picture", "icon", "profile"}


def test_default_transform_on_captions():
    lexicon = SetLexicon(noun=["dog", "grass", "field", "toy"], adj=["brown"])
    captions = [
        "Two brown dogs playing in the grass.",
        "A brown dog's toy <PERSON> http://x.com/a.jpg on the_grass-field",
        "Photo of puppies and dogs, 2010 3d",
    ]
    assert default_transform(lexicon)(captions) == ["brown", "dog", "grass"]


def test_compose_is_deterministic_and_accepts_a_string():
    compose = TextCompose([ToLowercase(), RemoveDuplicates()])
    assert compose("B a b A c") == ["b", "a", "c"]
    assert [compose(["Zeta alpha", "beta zeta"]) for _ in range(3)] == [["zeta", "alpha", "beta"]] * 3
