"""Vision-only ``hf:`` backend: any Hugging Face vision backbone with a ``last_hidden_state`` (ViT, DeiT,
DINOv2, BEiT, a CLIP or SigLIP vision tower saved alone, ...), by hub id or local directory.

It has no text encoder, so it cannot classify or retrieve; it is the frozen encoder of caption and VQA
decoders, which read its token sequence (``vocabfree.models.tokens.encode_image_tokens``). ``encode_images``
returns the pooled image vector (the pooler output where the model has one, else the CLS token, else the
mean token), L2-normalised; ``encode_texts`` raises a clear error. ``hf.create_hf`` falls back to this
backend when a checkpoint is not an image-text dual encoder.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vocabfree.errors import InvalidInputError, UnknownBackendError
from vocabfree.images import ImageInput, load_image
from vocabfree.models._runtime import Precision, Runtime, batches, select_runtime
from vocabfree.models.protocol import l2_normalize


class HFVisionModel:
    """Adapter from a transformers vision backbone to the image half of ``VisionLanguageModel``."""

    def __init__(self, model, image_processor, *, name: str, runtime: Runtime):
        self.model = model
        self.image_processor = image_processor
        self.name = name
        self.runtime = runtime
        config = model.config
        self.model_type = config.model_type
        self.embed_dim = int(config.hidden_size)
        self.patch_size = int(config.patch_size)
        self.logit_scale = 1.0  # no contrastive temperature: there is no text side

    def vision_backbone(self):
        """The module that maps ``pixel_values`` to hidden states (used by ``encode_image_tokens``)."""
        return self.model

    def encode_images(
        self, images: Sequence[ImageInput], *, batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        import torch

        out = [np.zeros((0, self.embed_dim), np.float32)]
        for chunk in batches(images, batch_size, progress=progress, desc="encode images"):
            pixels = self.image_processor(images=[load_image(x) for x in chunk], return_tensors="pt")["pixel_values"]
            with torch.inference_mode(), self.runtime.autocast():
                result = self.model(pixel_values=pixels.to(self.runtime.device))
            pooled = getattr(result, "pooler_output", None)
            if pooled is None:
                states = result.last_hidden_state
                grid = (pixels.shape[-2] // self.patch_size) * (pixels.shape[-1] // self.patch_size)
                pooled = states[:, 0] if states.shape[1] > grid else states.mean(dim=1)
            out.append(pooled.float().cpu().numpy())
        return l2_normalize(np.concatenate(out))

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 256, progress: bool = False) -> np.ndarray:
        raise InvalidInputError(
            f"'{self.name}' is a vision-only {self.model_type} backbone: it has no text encoder. Use it as the "
            "image encoder of captioning or VQA, or load an image-text model (CLIP, SigLIP, local) for text"
        )


def create_hf_vision(
    model_id: str, device: str | None = None, precision: Precision = "auto", model=None
) -> HFVisionModel:
    """Load a vision backbone (or wrap an already loaded ``model``) with its image processor."""
    from transformers import AutoImageProcessor, AutoModel
    from transformers.utils import logging as hf_logging

    runtime = select_runtime(device, precision)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model = model if model is not None else AutoModel.from_pretrained(model_id)
        image_processor = AutoImageProcessor.from_pretrained(model_id)
    except (OSError, ValueError) as exc:  # unknown id, no network, missing preprocessor_config.json
        raise UnknownBackendError(f"cannot load Hugging Face vision model '{model_id}': {exc}") from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    config = model.config
    if not (hasattr(config, "hidden_size") and hasattr(config, "patch_size")):
        raise UnknownBackendError(
            f"'{model_id}' is a {type(model).__name__}: neither an image-text dual encoder nor a vision "
            "transformer with a last_hidden_state (ViT, DeiT, DINOv2, a CLIP/SigLIP vision tower)"
        )
    model = model.to(runtime.device).eval()
    return HFVisionModel(model, image_processor, name=f"hf:{model_id}", runtime=runtime)
