"""Exception hierarchy.

Every error vocabfree raises on purpose is a ``VocabfreeError``; each subclass also inherits the builtin a
caller would naturally catch (scikit-learn's ``NotFittedError`` does the same), so ``except KeyError`` and
``except VocabfreeError`` both work. The CLI and the HTTP service map this hierarchy to exit codes and 4xx
answers in one place each.
"""

from __future__ import annotations


class VocabfreeError(Exception):
    """Base class of all errors raised on purpose by vocabfree."""


class UnknownBackendError(VocabfreeError, KeyError):
    """A model name that no registered backend resolves."""

    def __str__(self) -> str:  # KeyError would otherwise print the message inside quotes
        return str(self.args[0]) if self.args else ""


class NotFittedError(VocabfreeError, ValueError, AttributeError):
    """An estimator used before ``fit``."""


class IndexMismatchError(VocabfreeError, ValueError):
    """A database or head built with one model, opened with another (or with another dimension)."""


class MissingDependencyError(VocabfreeError, ImportError):
    """An optional dependency is not installed; the message names the extra that provides it."""


class ImageLoadError(VocabfreeError, ValueError):
    """An input that cannot be decoded as an image (corrupt, not an image, unreadable)."""


class ImageTooLargeError(ImageLoadError):
    """An image over the max-pixels guard (decompression-bomb protection)."""


class DatabaseError(VocabfreeError, ValueError):
    """A caption database that is missing, empty, partial or corrupt."""


class InvalidInputError(VocabfreeError, ValueError):
    """Arguments that are well-typed but unusable (empty label list, bad template, k < 1, ...)."""


def require(module: str, extra: str):
    """Import an optional dependency or raise ``MissingDependencyError`` naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"'{module}' is required for this feature: pip install 'vocabfree[{extra}]'"
        ) from exc
