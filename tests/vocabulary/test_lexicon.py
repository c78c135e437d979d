"""Lexicons (the POS-tagger stand-in), WordNet reading, static vocabularies and built-in corpora."""

from __future__ import annotations

import pytest

from tests.conftest import needs_wordnet
from vocabfree.errors import MissingDependencyError
from vocabfree.vocabulary import SetLexicon, WordNetLexicon
from vocabfree.vocabulary.wordnet import find_wordnet_dir


def test_set_lexicon():
    lexicon = SetLexicon(noun=["dog", "red"], adj=["red"])
    assert lexicon.tags("red") == {"noun", "adj"}
    assert lexicon.tags("unknown") == frozenset()
    with pytest.raises(ValueError, match="unknown tags"):
        SetLexicon(pronoun=["it"])


def test_missing_wordnet_names_the_package(tmp_path):
    with pytest.raises(MissingDependencyError, match="wordnet-base"):
        find_wordnet_dir(tmp_path)
    with pytest.raises(MissingDependencyError, match=r"\(index\.noun, data\.noun\) not found in .*wordnet-base"):
        WordNetLexicon(tmp_path).tags("dog")


def test_wordnet_lexicon_reads_a_tiny_database(tmp_path):
    # index.<pos> lines: lemma pos synset_cnt p_cnt [ptr...] sense_cnt tagsense_cnt offsets...
    (tmp_path / "index.noun").write_text("  licence line\ndog n 1 1 @ 1 5 00000001\nsit n 1 0 1 0 00000002\n")
    (tmp_path / "index.verb").write_text("sit v 1 0 1 9 00000003\n")
    (tmp_path / "index.adj").write_text("red a 1 0 1 3 00000004\n")
    (tmp_path / "index.adv").write_text("")
    (tmp_path / "data.noun").write_text("")
    lexicon = WordNetLexicon(tmp_path)
    assert lexicon.tags("dog") == {"noun"}
    assert lexicon.tags("sit") == {"verb"}  # dominant part of speech by tagged-sense count
    assert WordNetLexicon(tmp_path, dominant=False).tags("sit") == {"noun", "verb"}
    assert lexicon.tags("two") == {"other"}  # closed-class words never count as nouns


@needs_wordnet
def test_real_wordnet_lexicon_and_vocabularies():
    from vocabfree.vocabulary import wordnet_captions, wordnet_nouns

    lexicon = WordNetLexicon()
    assert "noun" in lexicon.tags("dog") and "adj" in lexicon.tags("large")
    assert not lexicon.tags("the") & {"noun", "adj"}
    nouns = wordnet_nouns()
    assert len(nouns) > 100_000 and "golden retriever" in nouns and nouns == tuple(dict.fromkeys(nouns))
    captions = wordnet_captions()
    assert 20_000 < len(captions) < 60_000 and "sunflower, helianthus, a flower" in captions


def test_english_words():
    from vocabfree.vocabulary import english_words

    words = english_words()
    assert len(words) > 200_000 and "dog" in words and all(w.isalpha() for w in words[:1000])
