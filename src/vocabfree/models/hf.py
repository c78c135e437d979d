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
from vocabfree.models._runtime import Precision, Runtime, cast_matmul_weights, compile_enabled, select_runtime
from vocabfree.models._runtime import fast_forward as use_fast_forward
from vocabfree.models.pipeline import (
    collate,
    default_token_budget,
    default_workers,
    lagged_outputs,
    length_batches,
    prepared_batches,
)
from vocabfree.models.preprocess import from_processor
from vocabfree.models.protocol import l2_normalize


def _features(output):
    """transformers 5 returns a ModelOutput from get_*_features (projected embeds in pooler_output); 4.x a tensor."""
    return output if hasattr(output, "float") else output.pooler_output


class HFVisionLanguageModel:
    """Adapter from a transformers dual encoder (CLIP, SigLIP, ...) to ``VisionLanguageModel``.

    Images: decoded at reduced size and preprocessed to uint8 in worker threads (``pipeline``,
    ``preprocess``) while the model runs; normalised in torch on the device. Texts: tokenised once, sorted by
    length, batched by a token budget, returned in input order.
    """

    def __init__(self, model, tokenizer, image_processor, *, name: str, runtime: Runtime):
        self.model = model
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.transform = from_processor(image_processor)
        self.name = name
        self.runtime = runtime
        config = model.config
        self.model_type = config.model_type
        self.embed_dim = int(getattr(config, "projection_dim", None) or config.text_config.hidden_size)
        self.logit_scale = float(model.logit_scale.detach().float().exp().item())
        vision = getattr(config, "vision_config", None)
        self.image_size = int(self.transform.image_size or getattr(vision, "image_size", 0) or 224)
        # SigLIP was trained with text padded to a fixed length; padding to the longest changes its outputs.
        self._pad_to_max = self.model_type.startswith("siglip")
        self._max_text_len = int(getattr(config.text_config, "max_position_embeddings", 77))

    def prepare_image(self, item: ImageInput) -> np.ndarray:
        """Decode one input (at reduced size) and apply the per-image half of preprocessing (worker threads)."""
        return self.transform.prepare(load_image(item, min_side=self.image_size))

    def image_features(self, prepared: Sequence[np.ndarray]):
        """Projected image features (B, D) on the device, not normalised, from ``prepare_image`` outputs."""
        import torch

        device = self.runtime.device
        batch = collate(prepared, pin_memory=device.startswith("cuda"))
        with torch.inference_mode():
            pixels = self.transform.to_pixels(batch, device)
            with self.runtime.autocast():
                return _features(self.model.get_image_features(pixel_values=pixels))

    def encode_images(
        self,
        images: Sequence[ImageInput],
        *,
        batch_size: int = 32,
        progress: bool = False,
        workers: int | None = None,
    ) -> np.ndarray:
        """L2-normalised image embeddings (N, D), in input order; ``workers`` decode threads (default
        ``pipeline.default_workers``; 0 decodes in this thread). A bad input raises ``ImageLoadError``."""
        workers = default_workers(self.runtime.device) if workers is None else workers
        chunks = prepared_batches(
            images, self.prepare_image, batch_size=batch_size, workers=workers, progress=progress, desc="encode images"
        )
        out = lagged_outputs(chunks, self.image_features, lambda t: t.float().cpu().numpy())
        return l2_normalize(np.concatenate([np.zeros((0, self.embed_dim), np.float32), *out]))

    def encode_texts(
        self, texts: Sequence[str], *, batch_size: int = 256, progress: bool = False, token_budget: int | None = None
    ) -> np.ndarray:
        """L2-normalised text embeddings (N, D) in input order; ``token_budget`` caps padded tokens per batch
        (default ``batch_size`` x 32)."""
        import torch
        from tqdm.auto import tqdm

        if any(not isinstance(t, str) for t in texts):
            raise InvalidInputError("encode_texts expects a sequence of strings")
        if len(texts) == 0:
            return np.zeros((0, self.embed_dim), np.float32)
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self._max_text_len)  # tokenise once
        keys = [k for k in ("input_ids", "attention_mask") if k in encoded]
        lengths = [self._max_text_len if self._pad_to_max else len(ids) for ids in encoded["input_ids"]]
        budget = token_budget or default_token_budget(batch_size, self.runtime.device)
        groups = length_batches(lengths, token_budget=budget)
        padding = {"padding": "max_length", "max_length": self._max_text_len} if self._pad_to_max else {}
        bar = tqdm(total=len(texts), desc="encode texts", unit="text", disable=not progress, leave=False)

        def forward(indices):
            batch = self.tokenizer.pad(
                {k: [encoded[k][i] for i in indices] for k in keys}, return_tensors="pt", **padding
            )
            batch = {k: v.to(self.runtime.device, non_blocking=True) for k, v in batch.items()}
            with torch.inference_mode(), self.runtime.autocast():
                feats = _features(self.model.get_text_features(**batch))
            bar.update(len(indices))
            return feats

        with bar:
            parts = lagged_outputs(groups, forward, lambda t: t.float().cpu().numpy())
        out = np.empty((len(texts), self.embed_dim), np.float32)
        out[np.concatenate(groups)] = np.concatenate(parts)  # back to input order
        return l2_normalize(out)


@register_backend("hf:", "any Hugging Face CLIP/SigLIP checkpoint: hf:<hub id> or hf:<local directory>")
def create_hf(
    model_id: str,
    device: str | None = None,
    precision: Precision = "auto",
    fast_forward: bool | None = None,
    compile: bool | None = None,  # noqa: A002
):
    """Load a dual encoder; ``fast_forward=False`` (or ``VOCABFREE_FAST_FORWARD=0``) keeps the weights in fp32
    and lets autocast cast them per batch, as before (same outputs, slower). ``compile=True`` (or
    ``VOCABFREE_COMPILE=1``) runs the image tower through ``torch.compile``: faster for long jobs, after a
    compilation of a minute or so (``_runtime.compile_enabled``)."""
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
    if use_fast_forward(fast_forward):
        cast_matmul_weights(model, runtime)
    if compile_enabled(compile) and hasattr(model, "vision_model"):
        import torch

        model.vision_model = torch.compile(model.vision_model)  # get_image_features calls it by this name
    return HFVisionLanguageModel(model, tokenizer, image_processor, name=f"hf:{model_id}", runtime=runtime)
