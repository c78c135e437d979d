"""ONNX Runtime for the convolutional image tower of ``local`` on CPU (the optional ``onnx`` extra).

PyTorch's eager CPU kernels run EfficientNet-Lite's depthwise convolutions far below what the CPU can do;
ONNX Runtime fuses conv + activation and runs its blocked-layout (NCHWc) kernels, 2x or more faster on the
same threads (``benchmarks/speed.py --local``, docs/speed.md). The network is exported once with
``torch.onnx.export`` (the dynamo exporter: ``onnxscript``), cached under
``$XDG_CACHE_HOME/vocabfree/onnx/`` by a key of the weights, the export code's inputs and the library
versions, and written atomically, so a killed export never leaves a half file. Outputs are fp32, equal to
eager fp32 (cosine ≥ 0.999 tested; in practice ~1 - 1e-7).

On by default where ``onnxruntime`` and ``onnxscript`` import and the device is the CPU;
``VOCABFREE_ONNX=0`` (or ``onnx=False`` when building the encoder) keeps the eager PyTorch path. Any failure
to export or to open the file falls back to PyTorch with one warning: the feature is a speed-up, never a
new way for loading a model to fail.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from vocabfree.atomic import atomic_path
from vocabfree.models.cache import cache_home

log = logging.getLogger(__name__)


def onnx_enabled(enabled: bool | None = None, device: str = "cpu") -> bool:
    """Whether to run image towers through ONNX Runtime: CPU only; ``VOCABFREE_ONNX=0`` turns it off."""
    if not device.startswith("cpu"):
        return False
    if enabled is None:
        enabled = os.environ.get("VOCABFREE_ONNX", "1").strip().lower() not in ("0", "false", "no", "off")
    if not enabled:
        return False
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnxscript"))


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's notes (missing torchvision ops, deprecations): a user sees one log line."""
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        exporter_log.setLevel(level)


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/vocabfree/onnx`` (``~/.cache/vocabfree/onnx``)."""
    return cache_home() / "onnx"


def export_key(name: str, weights: Path, *parts: object) -> str:
    """A file name for the export of ``name``: changes when the weights file, ``parts`` or torch do."""
    import torch

    stat = weights.stat()
    digest = hashlib.sha256(repr((str(weights), stat.st_size, stat.st_mtime_ns, parts, torch.__version__)).encode())
    return f"{name}-{digest.hexdigest()[:16]}.onnx"


class OrtForward:
    """A cached ONNX export of a torch module that maps one float32 (B, ...) input to its outputs."""

    def __init__(self, path: Path, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: its optimiser's notes are not the user's concern
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.path = path

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})

    @classmethod
    def cached(cls, key: str, build: Callable[[], tuple[Any, Any]], output_names: list[str]) -> OrtForward | None:
        """Open the export ``key``, first exporting ``build()``'s (module in eval mode, fp32, example input)
        with a dynamic batch dimension if it is not cached; ``None`` on any failure."""
        import torch

        path = cache_dir() / key
        try:
            if not path.is_file():
                module, example = build()
                path.parent.mkdir(parents=True, exist_ok=True)
                log.info("exporting %s to ONNX (once per machine)", key)
                with atomic_path(path, suffix=".onnx") as tmp, _quiet_exporter():
                    torch.onnx.export(
                        module,
                        (example,),
                        str(tmp),
                        input_names=["pixels"],
                        output_names=output_names,
                        dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),
                        dynamo=True,
                        external_data=False,  # one file (weights inside), so the rename is the whole write
                        verbose=False,
                    )
            return cls(path, torch.get_num_threads())
        except Exception as exc:  # noqa: BLE001 - any exporter/runtime failure means: stay on PyTorch
            log.warning("ONNX Runtime not used for %s (%s: %s); running PyTorch eager", key, type(exc).__name__, exc)
            return None
