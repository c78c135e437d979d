"""Words: candidate extraction from captions, lexicon filters, static vocabularies, built-in corpora.

Pure text: this package imports nothing of vocabfree's except ``errors``.
"""

from vocabfree.vocabulary.corpora import BUILTIN_CORPORA, wordnet_captions
from vocabfree.vocabulary.lexicon import CLOSED_CLASS, Lexicon, SetLexicon, WordNetLexicon
from vocabfree.vocabulary.static import clean_names, english_words, wordnet_nouns
from vocabfree.vocabulary.transforms import (
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
    TextCompose,
    TextTransform,
    ToLowercase,
    ToSingular,
    default_transform,
)

__all__ = [
    "BUILTIN_CORPORA",
    "CLOSED_CLASS",
    "MEDIUM_WORDS",
    "DropFileExtensions",
    "DropNonAlpha",
    "DropShortWords",
    "DropSpecialCharacters",
    "DropTokens",
    "DropURLs",
    "DropWords",
    "FilterLexicon",
    "Lexicon",
    "MinWordCount",
    "RemoveDuplicates",
    "ReplaceSeparators",
    "SetLexicon",
    "TextCompose",
    "TextTransform",
    "ToLowercase",
    "ToSingular",
    "WordNetLexicon",
    "clean_names",
    "default_transform",
    "english_words",
    "wordnet_captions",
    "wordnet_nouns",
]
