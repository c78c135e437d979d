"""JSON Lines: the one line loop behind every JSONL reader (caption corpora, VQA questions, question files)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from vocabfree.errors import InvalidInputError


def iter_jsonl(lines: Iterable[str], name: object) -> Iterator[tuple[int, object]]:
    """``(line number, decoded value)`` for each non-blank line; a line that is not JSON is an
    ``InvalidInputError`` naming ``name:line``."""
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{name}:{lineno}: not valid JSON ({exc.msg})") from None
