"""vocabfree: open-world image understanding with frozen vision-language models."""

from vocabfree.models import list_models, load_model

__version__ = "0.1.0"
__all__ = ["__version__", "list_models", "load_model"]
