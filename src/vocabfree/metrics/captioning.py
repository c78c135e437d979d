"""Caption metrics: the COCO-caption suite (BLEU-1..4, METEOR, ROUGE-L, CIDEr, via pycocoevalcap) and the
reference-free CLIPScore (Hessel et al., 2021).

Scores are corpus-level, computed over all images at once (CIDEr's IDF weights depend on the whole set).
Text is tokenised by the Stanford PTB tokenizer when Java is present, exactly as the COCO server does; without
Java a lower-case word tokenizer stands in and METEOR (a Java program) is skipped, and the returned
``notes`` say so, so a table never silently mixes the two.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vocabfree.errors import InvalidInputError, require

CLIPSCORE_W = 2.5  # Hessel et al. rescale cosines with w = 2.5 so scores spread over roughly [0, 1]


@dataclass(frozen=True)
class CaptionScores:
    """Corpus-level caption metrics; ``meteor`` is None when it could not be computed (see ``notes``)."""

    bleu1: float
    bleu2: float
    bleu3: float
    bleu4: float
    meteor: float | None
    rouge_l: float
    cider: float
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, float | None]:
        names = ("bleu1", "bleu2", "bleu3", "bleu4", "meteor", "rouge_l", "cider")
        return {k: getattr(self, k) for k in names}


def java_available() -> bool:
    """True when a ``java`` executable is on PATH (PTB tokenizer and METEOR need it)."""
    return shutil.which("java") is not None


_PUNCT = re.compile(r"[^\w\s']|_")


def simple_tokenize(text: str) -> str:
    """Lower-case, drop punctuation, collapse spaces: the fallback when the PTB tokenizer cannot run."""
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def _tokenize(captions: dict[int, list[str]], use_java: bool) -> dict[int, list[str]]:
    if not use_java:
        return {k: [simple_tokenize(c) for c in v] for k, v in captions.items()}
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    return PTBTokenizer().tokenize({k: [{"caption": c} for c in v] for k, v in captions.items()})


def caption_scores(
    candidates: Sequence[str], references: Sequence[Sequence[str]], *, meteor: bool = True
) -> CaptionScores:
    """BLEU-1..4, METEOR, ROUGE-L and CIDEr of one candidate per image against that image's references.

    ``meteor=False`` skips METEOR (it starts a Java process and is the slowest metric); it is also skipped,
    with a note, when Java is absent.
    """
    if len(candidates) != len(references):
        raise InvalidInputError(f"{len(candidates)} candidates but {len(references)} reference lists")
    if not candidates:
        raise InvalidInputError("no captions to score")
    if any(len(r) == 0 for r in references):
        raise InvalidInputError("every image needs at least one reference caption")
    require("pycocoevalcap", "caption")
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    notes = []
    use_java = java_available()
    if not use_java:
        notes.append("Java not found: simple lower-case tokenizer instead of PTB, METEOR skipped")
    gts = _tokenize({i: list(r) for i, r in enumerate(references)}, use_java)
    res = _tokenize({i: [c] for i, c in enumerate(candidates)}, use_java)
    res = {k: [v[0] if v and v[0] else "."] for k, v in res.items()}  # empty captions break BLEU's asserts

    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    rouge, _ = Rouge().compute_score(gts, res)
    cider, _ = Cider().compute_score(gts, res)
    meteor_score = None
    if meteor and use_java:
        from pycocoevalcap.meteor.meteor import Meteor

        meteor_score = float(Meteor().compute_score(gts, res)[0])  # its __del__ stops the Java process
    elif not meteor:
        notes.append("METEOR not requested")
    b1, b2, b3, b4 = (float(b) for b in bleu)
    return CaptionScores(b1, b2, b3, b4, meteor_score, float(rouge), float(cider), tuple(notes))


def clip_score(image_embeddings: np.ndarray, text_embeddings: np.ndarray, *, w: float = CLIPSCORE_W) -> np.ndarray:
    """Per-pair CLIPScore ``w * max(cos(image, text), 0)`` of row-aligned embeddings (N, D) -> (N,).

    Reference-free: it asks whether the caption fits the image in the aligned space, not whether it matches
    human wording. Embeddings must come from the same aligned model; they are re-normalised here.
    """
    img = np.asarray(image_embeddings, dtype=np.float32)
    txt = np.asarray(text_embeddings, dtype=np.float32)
    if img.shape != txt.shape or img.ndim != 2:
        raise InvalidInputError(f"need two (N, D) arrays of one shape, got {img.shape} and {txt.shape}")
    img = img / np.maximum(np.linalg.norm(img, axis=1, keepdims=True), 1e-12)
    txt = txt / np.maximum(np.linalg.norm(txt, axis=1, keepdims=True), 1e-12)
    return w * np.clip((img * txt).sum(axis=1), 0.0, None)


def model_clip_score(model, image_embeddings: np.ndarray, captions: Sequence[str], *, w: float = CLIPSCORE_W) -> float:
    """Mean CLIPScore of ``captions`` given precomputed image embeddings of the aligned ``model``."""
    if len(captions) != len(image_embeddings):
        raise InvalidInputError(f"{len(captions)} captions but {len(image_embeddings)} image embeddings")
    return float(clip_score(image_embeddings, model.encode_texts(list(captions)), w=w).mean())
