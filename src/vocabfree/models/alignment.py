"""Alignment heads: small projections trained to pull a frozen image encoder and a frozen text encoder together.

The idea is SAIL's (align pretrained unimodal encoders with light heads) on top of the training-free ConSE
embedding of ``vocabfree.models.local``. This module holds the head (``HeadConfig``, ``HeadNet``), its numpy
wrapper with save/load (``AlignmentHead``) and the head shipped with the package; training lives in
``vocabfree.models.align_train``.

With ``residual=True`` the image head adds a zero-initialised correction to the ConSE embedding and the text
adapter a zero-initialised linear correction to the sentence embedding, so training starts exactly at ConSE
and the first validation point is the training-free baseline.

Artifacts: ``AlignmentHead.save(stem)`` writes ``stem.safetensors`` (weights, config in the header) and
``stem.json`` (the model card: training data, loss curve summary, metrics, format version), each atomically.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vocabfree.atomic import atomic_path, atomic_write_text
from vocabfree.errors import IndexMismatchError, InvalidInputError, MissingDependencyError
from vocabfree.models.conse import ConseConfig
from vocabfree.models.efficientnet_lite import DEFAULT_ARCH, FEATURE_DIM
from vocabfree.models.protocol import l2_normalize

HEAD_FORMAT_VERSION = 1
SHIPPED_HEAD = "assets/local_head"  # stem inside the vocabfree.models package
MAX_LOGIT_SCALE = 100.0  # CLIP's clamp on the learned temperature
INIT_TEMPERATURE = 0.07  # CLIP's initial temperature


@dataclass(frozen=True)
class HeadConfig:
    """Shape of an alignment head, and the frozen encoders it was trained on."""

    arch: str = DEFAULT_ARCH  # EfficientNet-Lite tag of the image encoder
    conse: ConseConfig = field(default_factory=ConseConfig)  # ConSE settings the head sits on
    kind: Literal["linear", "mlp"] = "mlp"  # image head on the pooled features
    residual: bool = True  # image = ConSE + head(pooled); False: image = head(pooled) alone
    hidden_dim: int = 512  # MLP width
    dropout: float = 0.1
    text_adapter: bool = True  # zero-initialised residual linear map on the text side
    text_dim: int = 384  # sentence-encoder width (the output width)

    def __post_init__(self):
        if self.kind not in ("linear", "mlp"):
            raise InvalidInputError(f"head kind must be 'linear' or 'mlp', got {self.kind!r}")

    @classmethod
    def from_dict(cls, data: dict) -> HeadConfig:
        return cls(**{**data, "conse": ConseConfig(**data["conse"])})


class HeadNet(nn.Module):
    """The trainable part: image head (+ residual ConSE), text adapter and the temperature."""

    def __init__(self, config: HeadConfig, init_temperature: float = INIT_TEMPERATURE):
        super().__init__()
        self.config = config
        self.norm = nn.LayerNorm(FEATURE_DIM)
        if config.kind == "linear":
            out = nn.Linear(FEATURE_DIM, config.text_dim)
            self.image = nn.Sequential(out)
        else:
            hidden = nn.Linear(FEATURE_DIM, config.hidden_dim)
            out = nn.Linear(config.hidden_dim, config.text_dim)
            self.image = nn.Sequential(hidden, nn.GELU(), nn.Dropout(config.dropout), out)
        if config.residual:  # start exactly at ConSE
            nn.init.zeros_(out.weight)
            nn.init.zeros_(out.bias)
        self.text = nn.Linear(config.text_dim, config.text_dim, bias=False) if config.text_adapter else None
        if self.text is not None:
            nn.init.zeros_(self.text.weight)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))

    def encode_image(self, conse: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        z = self.image(self.norm(pooled))  # (B, D)
        return F.normalize(z + conse if self.config.residual else z, dim=-1)

    def encode_text(self, text: torch.Tensor) -> torch.Tensor:
        return F.normalize(text + self.text(text) if self.text is not None else text, dim=-1)

    def forward(self, conse, pooled, text, targets=None):
        """Returns (image embeddings (B, D), text embeddings (B, D), symmetric InfoNCE loss or None).

        Row i of the images and row i of the texts are a positive pair; every other row is a negative.
        """
        img, txt = self.encode_image(conse, pooled), self.encode_text(text)
        if targets is None:
            return img, txt, None
        logits = self.logit_scale.clamp(max=math.log(MAX_LOGIT_SCALE)).exp() * img @ txt.T  # (B, B)
        loss = (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
        return img, txt, loss


class AlignmentHead:
    """A trained head with numpy in/out, its config and model card; saved as safetensors + JSON."""

    def __init__(self, net: HeadNet, card: dict | None = None):
        self.net = net.eval()
        self.config: HeadConfig = net.config
        self.card = card or {}

    @property
    def logit_scale(self) -> float:
        return float(self.net.logit_scale.detach().clamp(max=math.log(MAX_LOGIT_SCALE)).exp())

    def embed_images(self, conse: np.ndarray, pooled: np.ndarray) -> np.ndarray:
        """(N, D) ConSE + (N, 1280) pooled -> (N, D) aligned image embeddings, normalised."""
        with torch.inference_mode():
            out = self.net.encode_image(
                torch.from_numpy(np.asarray(conse, np.float32)), torch.from_numpy(np.asarray(pooled, np.float32))
            )
        return l2_normalize(out.numpy())

    def embed_texts(self, text: np.ndarray) -> np.ndarray:
        """(N, D) sentence embeddings -> (N, D) aligned text embeddings, normalised."""
        with torch.inference_mode():
            out = self.net.encode_text(torch.from_numpy(np.asarray(text, np.float32)))
        return l2_normalize(out.numpy())

    def save(self, stem: str | Path) -> tuple[Path, Path]:
        """Write ``stem.safetensors`` and ``stem.json``; returns both paths."""
        from safetensors.torch import save_file

        stem = Path(stem)
        stem.parent.mkdir(parents=True, exist_ok=True)
        weights, card_path = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
        meta = {"format_version": str(HEAD_FORMAT_VERSION), "config": json.dumps(asdict(self.config))}
        state = {k: v.detach().contiguous() for k, v in self.net.state_dict().items()}
        with atomic_path(weights) as tmp:
            save_file(state, str(tmp), metadata=meta)
        card = {"format_version": HEAD_FORMAT_VERSION, "config": asdict(self.config), **self.card}
        atomic_write_text(card_path, json.dumps(card, indent=2) + "\n")
        return weights, card_path

    @classmethod
    def load(cls, stem: str | Path) -> AlignmentHead:
        """Load a head saved by ``save`` (``stem`` with or without the .safetensors suffix)."""
        from safetensors import safe_open

        stem = Path(stem)
        weights = stem if stem.suffix == ".safetensors" else stem.with_suffix(".safetensors")
        if not weights.is_file():
            raise InvalidInputError(f"{weights}: no such head file")
        with safe_open(str(weights), framework="pt") as handle:
            meta = handle.metadata() or {}
            state = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118 (not a dict)
        if meta.get("format_version") != str(HEAD_FORMAT_VERSION) or "config" not in meta:
            raise IndexMismatchError(
                f"{weights}: head format {meta.get('format_version')!r}, this vocabfree reads {HEAD_FORMAT_VERSION}"
            )
        net = HeadNet(HeadConfig.from_dict(json.loads(meta["config"])))
        net.load_state_dict(state, strict=True)
        card_path = weights.with_suffix(".json")
        card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.is_file() else {}
        card = {k: v for k, v in card.items() if k not in ("format_version", "config")}
        return cls(net, card)


def load_shipped_head() -> AlignmentHead:
    """The head shipped inside the package (trained on caption_pairs train only; see its model card)."""
    stem = resources.files("vocabfree.models").joinpath(SHIPPED_HEAD + ".safetensors")
    if not stem.is_file():
        raise MissingDependencyError(
            f"the shipped alignment head {SHIPPED_HEAD}.safetensors is missing; reinstall vocabfree"
        )
    return AlignmentHead.load(Path(str(stem)))
