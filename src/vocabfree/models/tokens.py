"""Image tokens: the encoder's token sequence (last hidden state, or another layer) for decoders that attend.

One function for every backend::

    tokens = encode_image_tokens(model, images, layer=-1, keep_cls=True)  # (N, T, D) float32

- ``hf:`` CLIP / SigLIP dual encoders: the vision tower's hidden states (before the projection);
- ``hf:`` vision-only backbones (ViT, DeiT, DINOv2, a CLIP/SigLIP vision tower alone; ``hf_vision.py``):
  their ``last_hidden_state`` or ``hidden_states[layer]``;
- ``local`` (EfficientNet-Lite): the final convolutional feature map as an ``h x w`` grid of tokens
  (row-major), 9 x 9 x 1280 for Lite2 at 260 px.

``layer``: -1 is the final output (``last_hidden_state``, with the backbone's final LayerNorm where it has
one); any other index picks ``hidden_states[layer]`` (index 0 = the patch embeddings, -2 = the penultimate
block, LLaVA's choice). For ``local`` the layers are [stem, MBConv blocks..., head conv]; -1 is the head.

``keep_cls``: keep the special tokens in front of the patch grid (CLS; DeiT's distillation token; DINOv2's
registers). Models without them (SigLIP) are unaffected. For ``local`` there is no CLS; ``keep_cls`` puts
the global-average-pooled feature (what the classifier reads) in front of the grid as its stand-in.

``token_spec(model, layer, keep_cls)`` is what a checkpoint records, so a decoder is always fed the tokens
it was trained on; ``cached_image_tokens`` stores tokens of image files on disk in float16 (resumable).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vocabfree.atomic import atomic_write, atomic_write_text
from vocabfree.errors import IndexMismatchError, InvalidInputError
from vocabfree.images import ImageInput, load_image
from vocabfree.models._runtime import batches
from vocabfree.models.protocol import ImageTokens, VisionLanguageModel, capability


@dataclass(frozen=True)
class TokenSpec:
    """Which tokens of which image model a decoder reads; stored in checkpoints."""

    image_model: str
    layer: int = -1
    keep_cls: bool = True
    num_tokens: int | None = None  # T of the model's default input size (None: not measured)
    token_dim: int | None = None  # D

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check(self, tokens: np.ndarray) -> None:
        """Raise ``IndexMismatchError`` when ``tokens`` (N, T, D) do not have this spec's width."""
        if tokens.ndim != 3:
            raise IndexMismatchError(f"image tokens must be (N, T, D), got shape {tokens.shape}")
        if self.token_dim is not None and tokens.shape[2] != self.token_dim:
            raise IndexMismatchError(f"image tokens have {tokens.shape[2]} dims, the decoder expects {self.token_dim}")


def _select(hidden, last, layer: int):
    """``last_hidden_state`` for layer -1, else ``hidden_states[layer]`` (clear error when out of range)."""
    if layer == -1:
        return last
    if not -len(hidden) <= layer < len(hidden):
        raise InvalidInputError(f"layer {layer} out of range: this model has {len(hidden)} hidden states")
    return hidden[layer]


def _vit_tokens(vision_model, pixels, runtime, layer: int, keep_cls: bool, patch_size: int) -> np.ndarray:
    """Tokens from a transformers vision transformer called on ``pixels`` (B, 3, H, W)."""
    import torch

    with torch.inference_mode(), runtime.autocast():
        out = vision_model(pixel_values=pixels.to(runtime.device), output_hidden_states=True)
    states = _select(out.hidden_states, out.last_hidden_state, layer).float()
    grid = (pixels.shape[-2] // patch_size) * (pixels.shape[-1] // patch_size)
    special = states.shape[1] - grid  # CLS, distillation token, registers; 0 for SigLIP
    if not keep_cls and special > 0:
        states = states[:, special:]
    return states.cpu().numpy()


def _hf_tokens(model, images, layer, keep_cls, batch_size, progress) -> np.ndarray:
    """CLIP/SigLIP dual encoders (``model.model.vision_model``) and vision-only ``hf_vision`` backbones."""
    vision = model.vision_backbone() if hasattr(model, "vision_backbone") else model.model.vision_model
    patch = int(getattr(model, "patch_size", None) or model.model.config.vision_config.patch_size)
    parts = []
    for chunk in batches(images, batch_size, progress=progress, desc="image tokens"):
        pixels = model.image_processor(images=[load_image(x) for x in chunk], return_tensors="pt")["pixel_values"]
        parts.append(_vit_tokens(vision, pixels, model.runtime, layer, keep_cls, patch))
    return np.concatenate(parts)


def _lite_tokens(encoder, images, layer, keep_cls, batch_size, progress) -> np.ndarray:
    """EfficientNet-Lite feature maps -> (B, [1 +] h*w, C): the library's ``extract_features`` loop, kept
    layer by layer so an earlier layer can be read (drop-connect is inactive in eval mode)."""
    import torch

    net, runtime = encoder.net, encoder.runtime
    depth = len(net._blocks) + 2  # stem, blocks, head
    if not -depth <= layer < depth:
        raise InvalidInputError(f"layer {layer} out of range: EfficientNet-Lite has {depth} feature layers")
    stop = layer % depth
    parts = []
    for chunk in batches(images, batch_size, progress=progress, desc=f"image tokens ({encoder.cfg.arch})"):
        pixels = torch.from_numpy(np.stack([encoder.preprocess(load_image(x)) for x in chunk]))
        pixels = pixels.to(runtime.device).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), runtime.autocast():
            x = net._swish(net._bn0(net._conv_stem(pixels)))
            for block in net._blocks[: max(0, stop)]:
                x = block(x)
            if stop == depth - 1:
                x = net._swish(net._bn1(net._conv_head(x)))
        fmap = x.float()  # (B, C, h, w)
        grid = fmap.flatten(2).transpose(1, 2)  # (B, h*w, C), row-major
        if keep_cls:
            grid = torch.cat([fmap.mean(dim=(2, 3))[:, None], grid], dim=1)
        parts.append(grid.cpu().numpy())
    return np.concatenate(parts)


def encode_image_tokens(
    model: VisionLanguageModel,
    images: Sequence[ImageInput],
    *,
    layer: int = -1,
    keep_cls: bool = True,
    batch_size: int = 32,
    progress: bool = False,
) -> np.ndarray:
    """The token sequence of each image: float32 (N, T, D). See the module docstring for ``layer``/``keep_cls``.

    Works for ``hf:`` dual encoders and vision-only backbones and for the ``local`` EfficientNet-Lite models;
    any other model may provide its own ``encode_image_tokens(images, layer=, keep_cls=, batch_size=,
    progress=)`` method, which is called instead.
    """
    images = list(images)
    own = capability(model, ImageTokens)
    # Below, the backends this module reads itself are told apart by their internals (backend-specific).
    if own is not None:
        out = own.encode_image_tokens(images, layer=layer, keep_cls=keep_cls, batch_size=batch_size, progress=progress)
    elif hasattr(model, "image_encoder") and hasattr(model.image_encoder, "net"):  # local EfficientNet-Lite
        if not images:
            return np.zeros((0, 0, 0), np.float32)
        out = _lite_tokens(model.image_encoder, images, layer, keep_cls, batch_size, progress)
    elif hasattr(model, "image_processor") and (hasattr(model, "vision_backbone") or hasattr(model, "model")):
        if not images:
            return np.zeros((0, 0, 0), np.float32)
        out = _hf_tokens(model, images, layer, keep_cls, batch_size, progress)
    else:
        raise InvalidInputError(f"model '{model.name}' cannot return image tokens")
    return np.asarray(out, dtype=np.float32)


def token_spec(model: VisionLanguageModel, *, layer: int = -1, keep_cls: bool = True) -> TokenSpec:
    """The spec of ``model``'s tokens, with T and D measured on one synthetic image."""
    from PIL import Image

    probe = encode_image_tokens(model, [Image.new("RGB", (64, 64), (128, 96, 64))], layer=layer, keep_cls=keep_cls)
    return TokenSpec(model.name, layer, keep_cls, int(probe.shape[1]), int(probe.shape[2]))


def _token_folder(model: VisionLanguageModel, cache_dir, layer: int, keep_cls: bool, encode) -> Path:
    from vocabfree.models.cache import cache_key, output_fingerprint

    fingerprint = output_fingerprint(lambda images: encode(images).reshape(len(images), -1)[:, :64])
    return Path(cache_dir) / cache_key(model.name, "tokens", layer, keep_cls, fingerprint)


def cached_image_tokens(
    model: VisionLanguageModel,
    paths: Sequence[str | Path],
    cache_dir: str | Path | None,
    *,
    layer: int = -1,
    keep_cls: bool = True,
    batch_size: int = 32,
    chunk_size: int = 256,
    progress: bool = False,
) -> np.ndarray:
    """Tokens (N, T, D) of image files as **float16**, cached on disk per image path (resumable).

    ``models.cache.cached_encode`` keys a whole path list and keeps float32 2-d arrays. Tokens are ~80x
    larger than pooled vectors (Flickr8k: 7,386 x 82 x 1280), so they are stored in float16, and the cache is
    indexed by path: one folder per (model, layer, CLS, output fingerprint) holds chunk files
    ``<hash>.npy`` with a ``<hash>.json`` list of their paths, so training (train + val images), evaluation
    (test images) and any later subset reuse each other's tokens and encode only what is missing. Chunks are
    written atomically (``vocabfree.atomic``; the index last), so a killed run resumes.
    """
    from tqdm.auto import tqdm

    from vocabfree.models.cache import cache_key

    keys = [str(p) for p in paths]

    def encode(items):
        return encode_image_tokens(model, items, layer=layer, keep_cls=keep_cls, batch_size=batch_size)

    if cache_dir is None or str(cache_dir) == "":  # '' (a CLI's "no cache") must not mean the working directory
        return encode(keys).astype(np.float16) if keys else np.zeros((0, 0, 0), np.float16)
    folder = _token_folder(model, cache_dir, layer, keep_cls, encode)
    folder.mkdir(parents=True, exist_ok=True)
    where: dict[str, tuple[Path, int]] = {}
    for index in sorted(folder.glob("*.json")):
        for row, p in enumerate(json.loads(index.read_text())):
            where[p] = (index.with_suffix(".npy"), row)
    missing = list(dict.fromkeys(p for p in keys if p not in where))
    with tqdm(total=len(missing), desc=f"image tokens ({model.name})", unit="img", disable=not progress) as bar:
        for start in range(0, len(missing), chunk_size):
            chunk = missing[start : start + chunk_size]
            name = folder / cache_key(chunk)
            tokens = encode(chunk).astype(np.float16)
            atomic_write(name.with_suffix(".npy"), functools.partial(np.save, arr=tokens))
            atomic_write_text(name.with_suffix(".json"), json.dumps(chunk))
            where.update({p: (name.with_suffix(".npy"), row) for row, p in enumerate(chunk)})
            bar.update(len(chunk))
    if not keys:
        return np.zeros((0, 0, 0), np.float16)
    arrays: dict[Path, np.ndarray] = {}
    rows = []
    for p in keys:
        file, row = where[p]
        if file not in arrays:
            arrays[file] = np.load(file, mmap_mode="r")
        rows.append(arrays[file][row])
    return np.stack(rows)
