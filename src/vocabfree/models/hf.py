"""``hf:`` backend: any Hugging Face CLIP or SigLIP checkpoint, by hub id or local directory.

Built on transformers' ``AutoModel`` and the PIL image processors (torchvision is not needed). Users with
internet get real checkpoints (``hf:openai/clip-vit-base-patch32``, ``hf:google/siglip-base-patch16-224``);
tests load random-weight checkpoints saved to a temporary directory through exactly the same path.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vocabfree.errors import InvalidInputError, UnknownBackendError
from vocabfree.images import ImageInput, load_image
from vocabfree.models._registry import register_backend
from vocabfree.models._runtime import Precision, Runtime, batches, select_runtime
from vocabfree.models.protocol import l2_normalize


def _features(output):
    """transformers 5 returns a ModelOutput from get_*_features (projected embeds in pooler_output); 4.x a tensor."""
    return output if hasattr(output, "float") else output.pooler_output


class HFVisionLanguageModel:
    """Adapter from a transformers dual encoder (CLIP, SigLIP, ...) to ``VisionLanguageModel``."""

    def __init__(self, model, tokenizer, image_processor, *, name: str, runtime: Runtime):
        self.model = model
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.name = name
        self.runtime = runtime
        config = model.config
        self.model_type = config.model_type
        self.embed_dim = int(getattr(config, "projection_dim", None) or config.text_config.hidden_size)
        self.logit_scale = float(model.logit_scale.detach().float().exp().item())
        # SigLIP was trained with text padded to a fixed length; padding to the longest changes its outputs.
        self._pad_to_max = self.model_type.startswith("siglip")
        self._max_text_len = int(getattr(config.text_config, "max_position_embeddings", 77))

    def encode_images(
        self, images: Sequence[ImageInput], *, batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        import torch

        out = [np.zeros((0, self.embed_dim), np.float32)]
        for chunk in batches(images, batch_size, progress=progress, desc="encode images"):
            pil = [load_image(x) for x in chunk]
            pixels = self.image_processor(images=pil, return_tensors="pt")["pixel_values"]
            with torch.inference_mode(), self.runtime.autocast():
                feats = _features(self.model.get_image_features(pixel_values=pixels.to(self.runtime.device)))
            out.append(feats.float().cpu().numpy())
        return l2_normalize(np.concatenate(out))

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 256, progress: bool = False) -> np.ndarray:
        import torch

        if any(not isinstance(t, str) for t in texts):
            raise InvalidInputError("encode_texts expects a sequence of strings")
        out = [np.zeros((0, self.embed_dim), np.float32)]
        for chunk in batches(texts, batch_size, progress=progress, desc="encode texts"):
            tokens = self.tokenizer(
                list(chunk),
                padding="max_length" if self._pad_to_max else True,
                truncation=True,
                max_length=self._max_text_len,
                return_tensors="pt",
            ).to(self.runtime.device)
            with torch.inference_mode(), self.runtime.autocast():
                feats = _features(self.model.get_text_features(**tokens))
            out.append(feats.float().cpu().numpy())
        return l2_normalize(np.concatenate(out))


@register_backend("hf:", "any Hugging Face CLIP/SigLIP checkpoint: hf:<hub id> or hf:<local directory>")
def create_hf(model_id: str, device: str | None = None, precision: Precision = "auto", **_: object):
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    runtime = select_runtime(device, precision)
    verbosity = hf_logging.get_verbosity()
    # The PIL image processors are what we want (no torchvision); silence transformers' note about it.
    hf_logging.set_verbosity_error()
    try:
        model = AutoModel.from_pretrained(model_id)
        if not (hasattr(model, "get_image_features") and hasattr(model, "get_text_features")):
            from vocabfree.models.hf_vision import create_hf_vision  # vision-only backbone: ViT, DINOv2, ...

            return create_hf_vision(model_id, device, precision, model=model)
        tokenizer = AutoTokenizer.from_pretrained(model_id)
        image_processor = AutoImageProcessor.from_pretrained(model_id)
    except OSError as exc:  # unknown hub id, no network, missing files in a local directory
        raise UnknownBackendError(f"cannot load Hugging Face model '{model_id}': {exc}") from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    if not (hasattr(model, "get_image_features") and hasattr(model, "get_text_features")):
        raise UnknownBackendError(
            f"'{model_id}' is a {type(model).__name__}, not an image-text dual encoder (CLIP, SigLIP, ...)"
        )
    model = model.to(runtime.device).eval()
    return HFVisionLanguageModel(model, tokenizer, image_processor, name=f"hf:{model_id}", runtime=runtime)
