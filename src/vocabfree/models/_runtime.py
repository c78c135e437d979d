"""Device and precision selection, and batched iteration with a progress bar, shared by torch backends.

bf16 matters on CPU, both ways: with AMX it runs ViT-B/32 image encoding ~3.4x faster than fp32 (31 -> 106
img/s on a 2-core AMX Xeon); with AVX512-BF16 but no AMX (an Intel Xeon whose hypervisor hides AMX) bf16
matmuls ran at half the fp32 rate (140 vs 279 GFLOP/s), and MiniLM at 0.57x. So "auto" takes bf16 with AMX,
fp32 without native bf16, and in between times one matmul in each precision once per process
(``cpu_prefers_bf16``; ``VOCABFREE_CPU_BF16=1``/``0`` decides instead).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from vocabfree.errors import InvalidInputError

Precision = Literal["auto", "fp32", "bf16", "fp16"]
T = TypeVar("T")
log = logging.getLogger(__name__)
BF16_MIN_SPEEDUP = 1.25  # bf16 must beat fp32 by this much to be the default (its outputs are less exact)


def cpu_supports_bf16() -> bool:
    """True where oneDNN has native bf16 kernels (AVX512-BF16 or AMX); emulated bf16 would be slower."""
    import torch

    for probe in (
        lambda: torch.ops.mkldnn._is_mkldnn_bf16_supported(),
        lambda: torch.cpu._is_amx_tile_supported(),
    ):
        try:
            if probe():
                return True
        except (AttributeError, RuntimeError):
            continue
    return False


def _amx() -> bool:
    import torch

    try:
        return bool(torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


def _matmul_seconds(dtype) -> float:
    """Best of 3 timings of a ViT-B-sized linear layer (512 tokens, 768 -> 2048) in ``dtype``."""
    import torch

    x, w = torch.randn(512, 768).to(dtype), torch.randn(2048, 768).to(dtype)
    with torch.inference_mode():
        torch.nn.functional.linear(x, w)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            torch.nn.functional.linear(x, w)
            times.append(time.perf_counter() - start)
    return min(times)


@functools.cache
def cpu_prefers_bf16() -> bool:
    """Whether ``precision="auto"`` runs bf16 on this CPU: where it is native and measurably faster than fp32.

    AMX: yes. No native bf16: no. AVX512-BF16 alone: it depends on the CPU (half the fp32 rate on an Intel
    Xeon without AMX), so one ~0.1 s matmul timing per process decides, bf16 only if >= 1.25x faster; set
    ``VOCABFREE_CPU_BF16=1`` or ``0`` for a fixed choice (e.g. identical outputs across runs on such CPUs)."""
    forced = os.environ.get("VOCABFREE_CPU_BF16", "").strip().lower()
    if forced:
        return forced in ("1", "true", "yes", "on")
    if not cpu_supports_bf16():
        return False
    if _amx():
        return True
    import torch

    fp32, bf16 = _matmul_seconds(torch.float32), _matmul_seconds(torch.bfloat16)
    prefers = fp32 >= BF16_MIN_SPEEDUP * bf16
    log.info(
        "CPU bf16 without AMX: linear %.2f ms in fp32, %.2f ms in bf16: auto precision %s",
        fp32 * 1e3,
        bf16 * 1e3,
        "bf16" if prefers else "fp32",
    )
    return prefers


@dataclass(frozen=True)
class Runtime:
    """Where and in which precision a backend runs its forward passes."""

    device: str  # "cpu", "cuda", "cuda:1", ...
    precision: Literal["fp32", "bf16", "fp16"]

    def autocast(self):
        """Context manager for the forward pass (a no-op in fp32)."""
        import torch

        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.split(":")[0], dtype=dtype)


def fast_forward(enabled: bool | None = None) -> bool:
    """Whether backends apply the forward-pass speed-ups (default yes; ``VOCABFREE_FAST_FORWARD=0`` or
    ``fast_forward=False`` when loading a model gives the plain eager model, for comparison or debugging)."""
    if enabled is not None:
        return bool(enabled)
    return os.environ.get("VOCABFREE_FAST_FORWARD", "1").strip().lower() not in ("0", "false", "no", "off")


def cast_matmul_weights(module, runtime: Runtime):
    """Store the weights of Linear and Conv layers in the autocast dtype once, instead of per forward.

    Autocast casts every fp32 weight to bf16/fp16 on each call (its cache lives only inside one ``with``
    block), which for ViT-B/32 means re-reading 88M parameters per batch. Pre-casting gives bit-identical
    results (autocast would cast the same tensors the same way) and leaves norms and embeddings in fp32.
    A no-op in fp32.
    """
    if runtime.precision == "fp32":
        return module
    import torch

    dtype = torch.bfloat16 if runtime.precision == "bf16" else torch.float16
    for layer in module.modules():
        if isinstance(layer, torch.nn.Linear | torch.nn.Conv1d | torch.nn.Conv2d):
            layer.to(dtype)
    return module


def compile_enabled(enabled: bool | None = None) -> bool:
    """Whether to ``torch.compile`` the image tower: opt-in (``compile=True`` or ``VOCABFREE_COMPILE=1``).

    Measured on a 2-core AMX Xeon (docs/speed.md): ViT-B/32 bf16 forward 1.5x faster per CPU-second, but the
    first batch waits ~1-1.5 minutes for compilation (and again for a new batch shape), so it only pays for
    long jobs; short CLI calls and tests stay eager.
    """
    if enabled is not None:
        return bool(enabled)
    return os.environ.get("VOCABFREE_COMPILE", "0").strip().lower() in ("1", "true", "yes", "on")


def select_runtime(device: str | None = None, precision: Precision = "auto") -> Runtime:
    """Resolve ``device`` (None/"auto" = CUDA if present else CPU) and ``precision`` ("auto" = bf16 where faster,
    ``cpu_prefers_bf16``)."""
    import torch

    if device in (None, "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidInputError(f"device '{device}' requested but CUDA is not available")
    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise InvalidInputError(f"unknown precision '{precision}'; use auto, fp32, bf16 or fp16")
    if precision == "auto":
        if device.startswith("cuda"):
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            precision = "bf16" if cpu_prefers_bf16() else "fp32"
    if precision == "fp16" and not device.startswith("cuda"):
        raise InvalidInputError("fp16 is only supported on CUDA; use bf16 or fp32 on CPU")
    return Runtime(device=device, precision=precision)


def batches(items: Sequence[T], batch_size: int, *, progress: bool = False, desc: str = "") -> Iterator[Sequence[T]]:
    """Yield consecutive slices of ``items``; with ``progress`` a tqdm bar counts items, not batches."""
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
    from tqdm.auto import tqdm

    with tqdm(total=len(items), desc=desc, unit="item", disable=not progress, leave=False) as bar:
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            yield chunk
            bar.update(len(chunk))
