"""Image preprocessing split for speed: per-image uint8 work in worker threads, batch float work in torch.

The Hugging Face image processors of CLIP, SigLIP and ViT do, per image and in float numpy: resize (shortest
side to S, or to H x W) with PIL, centre crop, rescale by 1/255, normalise. ``HFImageTransform`` does exactly
the same steps in two halves:

* ``prepare(pil) -> (H, W, 3) uint8`` — the PIL resize (the very call the processor makes, so pixels are
  identical; PIL's resize releases the GIL, so worker threads run it in parallel with the model) and the centre
  crop as an array slice;
* ``to_pixels(uint8 batch, device) -> (B, 3, H, W) float32`` — one fused affine ``x * (scale/std) - mean/std``
  in torch, run *after* the copy to the device, so a GPU receives 1 byte per pixel instead of 4.

We keep PIL for the resize instead of torch's antialiased ``interpolate``: PIL is what the processors call,
so equality is exact rather than approximate, and it already runs outside the GIL.

Processors we do not recognise (or with options these halves do not reproduce) fall back to
``ProcessorTransform``: the processor itself, run per image in the worker threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# Image processors whose steps are exactly resize -> centre crop -> rescale -> normalise (PIL or fast class).
SUPPORTED_PROCESSORS = ("CLIPImageProcessor", "SiglipImageProcessor", "ViTImageProcessor")


def _field(size, key: str):
    """Read ``key`` of a processor's size (a SizeDict in transformers 5, a plain dict in 4.x)."""
    if size is None:
        return None
    return size.get(key) if isinstance(size, dict) else getattr(size, key, None)


def shortest_edge_size(width: int, height: int, shortest: int) -> tuple[int, int]:
    """(width, height) after resizing the shorter side to ``shortest``: transformers'
    ``get_resize_output_image_size(default_to_square=False)``, including its int() truncation."""
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(shortest * long / short)
    return (shortest, new_long) if width <= height else (new_long, shortest)


@dataclass(frozen=True)
class HFImageTransform:
    """The CLIP/SigLIP/ViT processor pipeline as a uint8 half (``prepare``) and a torch half (``to_pixels``)."""

    shortest_edge: int | None  # resize the shorter side to this (CLIP) ...
    resize_hw: tuple[int, int] | None  # ... or resize to exactly (H, W) (SigLIP, ViT); both None: no resize
    resample: int  # PIL resampling filter id, the checkpoint's own
    crop_hw: tuple[int, int] | None  # centre crop (H, W) or None
    scale: float  # rescale factor (1/255), 1.0 when the processor does not rescale
    mean: tuple[float, ...]  # normalisation (0 / 1 when the processor does not normalise)
    std: tuple[float, ...]

    @property
    def image_size(self) -> int:
        """The side of the model input in pixels (the larger side for non-square inputs)."""
        if self.crop_hw is not None:
            return max(self.crop_hw)
        if self.resize_hw is not None:
            return max(self.resize_hw)
        return int(self.shortest_edge or 0)

    def prepare(self, image) -> np.ndarray:
        """RGB PIL image -> (H, W, 3) uint8: the processor's resize and centre crop."""
        if self.shortest_edge is not None:
            width, height = image.size
            image = image.resize(shortest_edge_size(width, height, self.shortest_edge), resample=self.resample)
        elif self.resize_hw is not None:
            image = image.resize((self.resize_hw[1], self.resize_hw[0]), resample=self.resample)
        arr = np.asarray(image, dtype=np.uint8)
        if self.crop_hw is not None:
            height, width = arr.shape[:2]
            crop_h, crop_w = self.crop_hw
            if crop_h > height or crop_w > width:  # the processor pads here; from_processor never allows it
                raise ValueError(f"crop {self.crop_hw} larger than the resized image {height}x{width}")
            top, left = (height - crop_h) // 2, (width - crop_w) // 2
            arr = arr[top : top + crop_h, left : left + crop_w]
        return np.ascontiguousarray(arr)

    def to_pixels(self, batch, device: str = "cpu"):
        """(B, H, W, 3) uint8 tensor (any device) -> (B, 3, H, W) float32 on ``device``, normalised."""
        import torch

        batch = batch.to(device, non_blocking=True)
        mul = torch.tensor([self.scale / s for s in self.std], dtype=torch.float32, device=batch.device)
        add = torch.tensor(
            [-m / s for m, s in zip(self.mean, self.std, strict=True)], dtype=torch.float32, device=batch.device
        )
        pixels = batch.permute(0, 3, 1, 2).float()
        return torch.addcmul(add.view(1, 3, 1, 1), pixels, mul.view(1, 3, 1, 1)).contiguous()


@dataclass(frozen=True)
class ProcessorTransform:
    """Fallback for unknown processors: the processor itself, per image (in the worker threads)."""

    processor: Any  # a transformers image processor
    image_size: int | None = None

    def prepare(self, image) -> np.ndarray:
        return np.asarray(self.processor(images=[image], return_tensors="np")["pixel_values"][0], np.float32)

    def to_pixels(self, batch, device: str = "cpu"):
        return batch.to(device, non_blocking=True).float()


def from_processor(processor) -> HFImageTransform | ProcessorTransform:
    """The fast transform equal to ``processor`` when it is a plain CLIP/SigLIP/ViT one, else the fallback."""
    kind = type(processor).__name__.removesuffix("Pil").removesuffix("Fast")
    fallback = ProcessorTransform(processor, _fallback_size(processor))
    if kind not in SUPPORTED_PROCESSORS or getattr(processor, "do_pad", False):
        return fallback
    size = getattr(processor, "size", None)
    shortest, height, width = (_field(size, k) for k in ("shortest_edge", "height", "width"))
    if not getattr(processor, "do_resize", True):
        shortest = resize_hw = None
    elif shortest is not None and _field(size, "longest_edge") is None and height is None:
        resize_hw = None
    elif height is not None and width is not None and shortest is None:
        resize_hw = (int(height), int(width))
    else:
        return fallback
    crop = getattr(processor, "crop_size", None) if getattr(processor, "do_center_crop", False) else None
    crop_hw = (int(_field(crop, "height")), int(_field(crop, "width"))) if crop is not None else None
    if crop_hw is not None:
        least = (shortest, shortest) if shortest is not None else resize_hw
        if least is None or crop_hw[0] > least[0] or crop_hw[1] > least[1]:
            return fallback  # the processor would pad; not reproduced here
    if shortest is None and resize_hw is None and crop_hw is None:
        return fallback  # images of any size: nothing to batch
    do_norm = getattr(processor, "do_normalize", False)
    mean = tuple(float(m) for m in processor.image_mean) if do_norm else (0.0, 0.0, 0.0)
    std = tuple(float(s) for s in processor.image_std) if do_norm else (1.0, 1.0, 1.0)
    return HFImageTransform(
        shortest_edge=int(shortest) if shortest is not None else None,
        resize_hw=resize_hw,
        resample=int(getattr(processor, "resample", 2)),
        crop_hw=crop_hw,
        scale=float(processor.rescale_factor) if getattr(processor, "do_rescale", False) else 1.0,
        mean=mean,
        std=std,
    )


def _fallback_size(processor) -> int | None:
    for attr in ("crop_size", "size"):
        size = getattr(processor, attr, None)
        value = _field(size, "height") or _field(size, "shortest_edge")
        if value:
            return int(value)
    return None
