"""Models: the ``VisionLanguageModel`` protocol, the backend registry and ``load_model``."""

from vocabfree.models._factory import DEFAULT_MODEL, OFFLINE_MODEL, list_models, load_model, model_for_artefact
from vocabfree.models._registry import register_backend
from vocabfree.models.protocol import VisionLanguageModel, l2_normalize

__all__ = [
    "DEFAULT_MODEL",
    "OFFLINE_MODEL",
    "VisionLanguageModel",
    "l2_normalize",
    "list_models",
    "load_model",
    "model_for_artefact",
    "register_backend",
]
