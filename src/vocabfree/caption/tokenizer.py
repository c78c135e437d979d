"""Tokenizers behind one small interface: a word-piece tokenizer trained on the training captions (own
decoder), and an adapter over a pretrained Hugging Face tokenizer (prefix LM).

Both expose ``encode``, ``decode``, ``bos_id``, ``eos_id``, ``pad_id``, ``vocab_size`` and ``save(dir)``, so
the training loop and the captioner never ask which decoder they serve.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from vocabfree.errors import InvalidInputError, require

PAD, UNK, BOS, EOS = "[PAD]", "[UNK]", "[BOS]", "[EOS]"
TOKENIZER_FILE = "tokenizer.json"


class Tokenizer(Protocol):
    bos_id: int
    eos_id: int
    pad_id: int
    vocab_size: int

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Iterable[int]) -> str: ...

    def save(self, directory: str | Path) -> None: ...


class WordPieceTokenizer:
    """Lower-cased word pieces learned from the caption corpus; special tokens [PAD] [UNK] [BOS] [EOS]."""

    def __init__(self, tokenizer):
        self._tok = tokenizer
        ids = [tokenizer.token_to_id(t) for t in (PAD, UNK, BOS, EOS)]
        if None in ids:
            raise InvalidInputError(f"tokenizer lacks one of the special tokens {PAD} {UNK} {BOS} {EOS}")
        self.pad_id, self.unk_id, self.bos_id, self.eos_id = ids
        self.vocab_size = tokenizer.get_vocab_size()

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 4096, min_frequency: int = 2) -> WordPieceTokenizer:
        """Learn a vocabulary from ``texts``: every character (as a word start and as a ``##`` continuation),
        then whole words by descending frequency (ties alphabetical) while they fit in ``vocab_size``.

        Rarer words are spelled from the character pieces, so nothing is ever [UNK]. The vocabulary is built
        here rather than by the ``tokenizers`` WordPiece trainer because that trainer breaks frequency ties in
        hash-map order, so the same captions gave different ids from run to run (and seeded training was
        not reproducible).
        """
        tokenizers = require("tokenizers", "caption")
        from collections import Counter

        from tokenizers import decoders, models, normalizers, pre_tokenizers

        normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
        pre = pre_tokenizers.BertPreTokenizer()
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
        chars = sorted({c for w in counts for c in w})
        vocab = [PAD, UNK, BOS, EOS, *chars, *(f"##{c}" for c in chars)]
        if vocab_size < len(vocab):
            raise InvalidInputError(f"vocab_size {vocab_size} is below the {len(vocab)} special and character tokens")
        frequent = (w for w, n in counts.items() if n >= min_frequency and len(w) > 1)
        words = sorted(frequent, key=lambda w: (-counts[w], w))
        vocab += words[: vocab_size - len(vocab)]
        tok = tokenizers.Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token=UNK))
        tok.normalizer = normalizer
        tok.pre_tokenizer = pre
        tok.decoder = decoders.WordPiece()
        return cls(tok)

    @classmethod
    def load(cls, directory: str | Path) -> WordPieceTokenizer:
        tokenizers = require("tokenizers", "caption")
        return cls(tokenizers.Tokenizer.from_file(str(Path(directory) / TOKENIZER_FILE)))

    def save(self, directory: str | Path) -> None:
        self._tok.save(str(Path(directory) / TOKENIZER_FILE))

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text).ids

    def decode(self, ids: Iterable[int]) -> str:
        specials = {self.pad_id, self.bos_id, self.eos_id}
        return self._tok.decode([i for i in ids if i not in specials]).strip()


class PretrainedTokenizer:
    """Adapter over a Hugging Face tokenizer (the prefix LM's own).

    Captions start from the LM's BOS token where it has one, else from EOS (GPT-2 style), and end with EOS.
    A leading space is added so the first word is tokenised as it is mid-sentence, the way LMs saw it.
    """

    def __init__(self, tokenizer):
        self._tok = tokenizer
        eos = tokenizer.eos_token_id
        if eos is None:
            raise InvalidInputError("the language model's tokenizer has no EOS token; captions could not end")
        self.eos_id = eos
        self.bos_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else eos
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
        self.vocab_size = len(tokenizer)

    @classmethod
    def load(cls, directory: str | Path) -> PretrainedTokenizer:
        transformers = require("transformers", "caption")
        return cls(transformers.AutoTokenizer.from_pretrained(str(directory)))

    def save(self, directory: str | Path) -> None:
        self._tok.save_pretrained(str(directory))

    def encode(self, text: str) -> list[int]:
        return self._tok(" " + text.strip(), add_special_tokens=False).input_ids

    def decode(self, ids: Iterable[int]) -> str:
        specials = {self.pad_id, self.bos_id, self.eos_id}
        return self._tok.decode([i for i in ids if i not in specials], skip_special_tokens=True).strip()
