"""Vocabulary-free classification with CaSED (Conti et al., "Vocabulary-free Image Classification",
NeurIPS 2023): name what is in an image with no class list, using a caption database.

For each image: retrieve its k=10 nearest captions (near-duplicates at inner product >= 0.94 removed),
extract candidate names from them (``vocabulary.default_transform``), and score each candidate twice, from
the image embedding and from the centroid of the retrieved captions' embeddings; the answer is the
candidate with the highest ``alpha * p_image + (1 - alpha) * p_text`` (alpha = 0.7). The published
defaults are defined once, named, in ``classify/steps.py`` (``K``, ``ALPHA``, ``DEDUP_THRESHOLD``, ...).

    model = load_model("local")
    database = CaptionDatabase.open("artifacts/db/captions", model=model)
    predictions = VocabularyFreeClassifier(model, database).predict(["dog.jpg"], top_k=5)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from vocabfree.classify import steps
from vocabfree.classify.results import VocabularyFreePrediction
from vocabfree.database.store import CaptionDatabase, check_model
from vocabfree.errors import InvalidInputError
from vocabfree.images import ImageInput, describe
from vocabfree.models.protocol import VisionLanguageModel

if TYPE_CHECKING:
    from vocabfree.vocabulary import Lexicon

Transform = Callable[[Sequence[str]], list[str]]


def resolve_transform(transform: Transform | None, lexicon: Lexicon | str | None) -> Transform:
    """The candidate-extraction transform: ``transform`` if given, else CaSED's default with ``lexicon``
    (``"wordnet"`` = ``WordNetLexicon()``, ``None`` = no part-of-speech filter, or a ``Lexicon``)."""
    from vocabfree.vocabulary import WordNetLexicon, default_transform

    if transform is not None:
        return transform
    if lexicon == "wordnet":
        lexicon = WordNetLexicon()
        lexicon.tags("dog")  # load now, so a missing WordNet fails before any image is encoded
    elif isinstance(lexicon, str):
        raise InvalidInputError(f"unknown lexicon '{lexicon}'; use 'wordnet', None or a Lexicon object")
    return default_transform(lexicon)


class TextEncoderCache:
    """Embeddings of short texts (candidate names with the prompt applied), computed once per process.

    Candidate names repeat across images (``dog`` comes back for every dog photo), so encoding only the
    unseen ones makes batch prediction several times faster. Bounded: cleared when it exceeds ``max_size``.
    """

    def __init__(self, model: VisionLanguageModel, prompt: str = steps.PROMPT, max_size: int = 200_000):
        if "{}" not in prompt:
            raise InvalidInputError(f"prompt must contain '{{}}', got {prompt!r}")
        self.model, self.prompt, self.max_size = model, prompt, max_size
        self._rows: dict[str, np.ndarray] = {}

    def __call__(self, names: Sequence[str], *, batch_size: int = 256) -> np.ndarray:
        missing = [n for n in dict.fromkeys(names) if n not in self._rows]
        if missing:
            if len(self._rows) + len(missing) > self.max_size:
                self._rows.clear()
            emb = self.model.encode_texts([self.prompt.format(n) for n in missing], batch_size=batch_size)
            self._rows.update(zip(missing, emb, strict=False))
        return np.stack([self._rows[n] for n in names]) if names else np.zeros((0, self.model.embed_dim), np.float32)


class VocabularyFreeClassifier:
    """CaSED over a caption database. ``__init__`` only stores its arguments (scikit-learn style).

    Args:
        model: the vision-language model the database was built with.
        database: an open ``CaptionDatabase``.
        k: captions retrieved per image (CaSED: 10).
        alpha: weight of the image view; ``1 - alpha`` goes to the caption-centroid view (CaSED: 0.7).
        tau: softmax temperature applied on top of ``model.logit_scale`` (CaSED: 1.0).
        dedup_threshold: retrieved captions with inner product >= this are merged (CaSED: 0.94); None: off.
        prompt: template for encoding candidate names (CaSED: "{}", the bare name).
        lexicon: part-of-speech source for the noun/adjective filter: "wordnet", None (no filter) or a Lexicon.
        transform: a custom candidate-extraction transform (overrides ``lexicon``).
        fallback: the candidate used when extraction leaves nothing (CaSED: "object").
        batch_size: images per forward pass and per retrieval batch.
    """

    method = "cased"

    def __init__(
        self,
        model: VisionLanguageModel,
        database: CaptionDatabase,
        *,
        k: int = steps.K,
        alpha: float = steps.ALPHA,
        tau: float = steps.TAU,
        dedup_threshold: float | None = steps.DEDUP_THRESHOLD,
        prompt: str = steps.PROMPT,
        lexicon: Lexicon | str | None = "wordnet",
        transform: Transform | None = None,
        fallback: str = steps.FALLBACK,
        batch_size: int = 32,
    ):
        self.model = model
        self.database = database
        self.k = k
        self.alpha = alpha
        self.tau = tau
        self.dedup_threshold = dedup_threshold
        self.prompt = prompt
        self.lexicon = lexicon
        self.transform = transform
        self.fallback = fallback
        self.batch_size = batch_size

    num_candidates = None  # the names extracted from each image's captions: per image

    def fit(self, X=None, y=None, *, progress: bool = False) -> VocabularyFreeClassifier:  # noqa: N803
        """Nothing is learned; loads the candidate transform (WordNet lexicon) now instead of on the first
        ``predict``, and checks the arguments and that the database matches the model. Returns self."""
        self._prepare()
        return self

    def _prepare(self) -> None:
        if self.k < 1:
            raise InvalidInputError(f"k must be >= 1, got {self.k}")
        if not 0.0 <= self.alpha <= 1.0:
            raise InvalidInputError(f"alpha must be in [0, 1], got {self.alpha}")
        check_model(self.database.manifest, self.model, self.database.path)
        if getattr(self, "_ready_for", None) != (self.transform, self.lexicon, self.prompt):
            self.transform_ = resolve_transform(self.transform, self.lexicon)
            self.encoder_ = TextEncoderCache(self.model, self.prompt)
            self._ready_for = (self.transform, self.lexicon, self.prompt)

    def predict(
        self,
        images: Sequence[ImageInput],
        *,
        top_k: int = 5,
        sources: Sequence[str] | None = None,
        progress: bool = False,
    ) -> list[VocabularyFreePrediction]:
        """Name each image: top-k candidates with scores and the evidence. Images are encoded in batches;
        ``sources`` names them in the results (default: the path, or a description of the object)."""
        self._prepare()
        emb = steps.embed_images(self.model, images, batch_size=self.batch_size, progress=progress)
        return self.predict_embeddings(emb, top_k=top_k, sources=sources or [describe(x) for x in images])

    def predict_embeddings(
        self,
        image_embeddings: np.ndarray,
        *,
        top_k: int = 5,
        sources: Sequence[str] | None = None,
        progress: bool = False,
    ) -> list[VocabularyFreePrediction]:
        """As ``predict``, from precomputed image embeddings (N, D) of ``self.model``."""
        self._prepare()
        emb = np.atleast_2d(np.asarray(image_embeddings, dtype=np.float32))
        sources = list(sources) if sources is not None else [""] * len(emb)
        if len(sources) != len(emb):
            raise InvalidInputError(f"{len(sources)} sources for {len(emb)} embeddings")
        from tqdm.auto import tqdm

        out: list[VocabularyFreePrediction] = []
        with tqdm(total=len(emb), desc="CaSED", unit="img", disable=not progress, leave=False) as bar:
            for start in range(0, len(emb), self.batch_size):
                block = emb[start : start + self.batch_size]
                out += self._predict_block(block, sources[start : start + len(block)], top_k)
                bar.update(len(block))
        return out

    def _predict_block(self, emb: np.ndarray, sources: Sequence[str], top_k: int) -> list[VocabularyFreePrediction]:
        all_hits = steps.retrieve(self.database, emb, k=self.k, dedup_threshold=self.dedup_threshold)
        names = [steps.extract_candidates(h.captions, self.transform_, fallback=self.fallback) for h in all_hits]
        self.encoder_([n for per_image in names for n in per_image])  # one encoder call for the whole block
        results = []
        for image, hits, cands, source in zip(emb, all_hits, names, sources, strict=False):
            cand_emb = self.encoder_(cands)
            scale = float(self.model.logit_scale)
            p_img = steps.softmax_scores(image, cand_emb, logit_scale=scale, tau=self.tau)
            if len(hits):
                p_txt = steps.softmax_scores(
                    steps.caption_centroid(hits.embeddings), cand_emb, logit_scale=scale, tau=self.tau
                )
            else:  # an approximate index found nothing: no caption view, the image view decides alone
                p_txt = p_img
            p = steps.mix_scores(p_img, p_txt, self.alpha)
            results.append(steps.answer(cands, p_img, p_txt, p, hits=hits, top_k=top_k, source=source))
        return results
