"""``Captioner``: a trained checkpoint plus its frozen image model, as one object the CLI and the HTTP
service call: ``Captioner.load(checkpoint_dir).generate(images, DecodeConfig(beam_size=5))`` (or ``beam_size=5``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vocabfree.caption import checkpoint as ckpt
from vocabfree.caption.features import FeatureKind, encode_for_caption
from vocabfree.caption.generation import DEFAULT_MAX_LEN, DecodeConfig, Hypothesis
from vocabfree.errors import IndexMismatchError
from vocabfree.images import ImageInput
from vocabfree.models.protocol import VisionLanguageModel


@dataclass(frozen=True)
class Caption:
    """One generated caption with its decoder score (length-penalised log-probability)."""

    text: str
    score: float


class Captioner:
    """Frozen image model + trained decoder + tokenizer; captions images or precomputed features."""

    def __init__(
        self,
        decoder,
        tokenizer,
        image_model: VisionLanguageModel,
        *,
        feature_kind: FeatureKind,
        runtime,
        max_len: int = DEFAULT_MAX_LEN,
        meta: dict[str, Any] | None = None,
    ):
        self.decoder = decoder.eval()
        self.tokenizer = tokenizer
        self.image_model = image_model
        self.feature_kind = feature_kind
        self.tokens = (meta or {}).get("tokens")  # layer / keep_cls / num_tokens / token_dim, for "tokens"
        self.runtime = runtime
        self.max_len = max_len
        self.meta = meta or {}

    @classmethod
    def load(
        cls,
        checkpoint_dir: str | Path | None = None,
        model: VisionLanguageModel | None = None,
        *,
        device: str | None = None,
        precision: str = "auto",
    ) -> Captioner:
        """Load a checkpoint (None: the captioner shipped in the package, ``vocabfree.caption.shipped``);
        ``model`` (an already loaded image model) must be the one it was trained on.

        Without ``model`` the image model named in the checkpoint is loaded with ``load_model``.
        """
        from vocabfree.models._runtime import select_runtime

        if checkpoint_dir is None:
            from vocabfree.caption.shipped import shipped_checkpoint

            checkpoint_dir = shipped_checkpoint()
        meta = ckpt.read_meta(checkpoint_dir)
        if model is None:
            from vocabfree.models import load_model

            model = load_model(meta["image_model"], device=device)
        elif model.name != meta["image_model"]:
            raise IndexMismatchError(
                f"checkpoint {checkpoint_dir} was trained on features of '{meta['image_model']}', "
                f"got model '{model.name}'; pass that model or none"
            )
        runtime = select_runtime(device, precision)  # type: ignore[arg-type]
        decoder = ckpt.build_decoder(meta["decoder"], meta["model_config"], precision=runtime.precision)
        ckpt.load_weights(decoder, checkpoint_dir)
        return cls(
            decoder.to(runtime.device),
            ckpt.load_tokenizer(checkpoint_dir),
            model,
            feature_kind=meta["feature_kind"],
            runtime=runtime,
            max_len=meta.get("max_len", DEFAULT_MAX_LEN),
            meta={**meta, "checkpoint": str(checkpoint_dir)},
        )

    def features(self, images: Sequence[ImageInput], *, batch_size: int = 32) -> np.ndarray:
        """The decoder's input features for images (paths, PIL images, arrays, bytes): (N, F) pooled vectors,
        or (N, T, D) image tokens for a token decoder."""
        return encode_for_caption(
            self.image_model, images, self.feature_kind, batch_size=batch_size, tokens=self.tokens
        )

    def decode_config(self, decode: DecodeConfig | None = None, **options: Any) -> DecodeConfig:
        """``decode`` (default: greedy) with ``options`` (DecodeConfig fields) changed; ``max_len`` unset
        means the checkpoint's."""
        config = replace(decode or DecodeConfig(), **options)
        return config if config.max_len is not None else replace(config, max_len=self.max_len)

    @torch.no_grad()
    def generate_from_features(
        self, features: np.ndarray, decode: DecodeConfig | None = None, *, batch_size: int = 32, **options: Any
    ) -> list[Caption]:
        """Captions for precomputed features (N, F) or tokens (N, T, D), decoded with ``decode`` (default:
        greedy); ``options`` change single fields of it, e.g. ``beam_size=5`` or ``top_p=0.9, seed=0``."""
        config = self.decode_config(decode, **options)
        want = self.meta.get("model_config", {}).get("feature_dim")
        ndim = 3 if self.feature_kind == "tokens" else 2
        if np.ndim(features) != ndim or (want is not None and np.shape(features)[-1] != want):
            shape = "(N, T, D) image tokens" if ndim == 3 else "(N, F) feature vectors"
            raise IndexMismatchError(
                f"features of shape {np.shape(features)}; the decoder expects {shape} of width {want}"
            )
        generator = config.generator()  # one per call, shared by its batches
        out: list[Caption] = []
        for start in range(0, len(features), batch_size):
            chunk = np.asarray(features[start : start + batch_size], dtype=np.float32)
            prefix = torch.from_numpy(chunk).to(self.runtime.device)
            with self.runtime.autocast():
                hyps: list[Hypothesis] = self.decoder.generate(
                    prefix,
                    config,
                    bos_id=self.tokenizer.bos_id,
                    eos_id=self.tokenizer.eos_id,
                    generator=generator,
                )
            out.extend(Caption(self.tokenizer.decode(h.tokens), h.score) for h in hyps)
        return out

    def generate(
        self, images: Sequence[ImageInput], decode: DecodeConfig | None = None, *, batch_size: int = 32, **options: Any
    ) -> list[str]:
        """One caption per image, decoded with ``decode`` (default: greedy) changed by ``options`` (DecodeConfig
        fields: beam_size, length_penalty, top_p, temperature, seed, max_len)."""
        config = self.decode_config(decode, **options)  # checked before any image is encoded
        if not len(images):
            return []
        features = self.features(images)
        return [c.text for c in self.generate_from_features(features, config, batch_size=batch_size)]
