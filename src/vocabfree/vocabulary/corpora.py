"""Built-in caption corpora made from installed data only, for a database that can be built offline.

``wordnet``: one short caption per common noun synset under WordNet's ``object`` and ``food`` (the things a
photo can show: organisms, people, artifacts, natural objects, food; 27,779 captions; chemicals, processes
and abstract "things" are left out to keep the build under two minutes), written as
``"<lemma>, <synonym>, a <hypernym>"``, e.g. ``"sunflower, helianthus, a flower"``. It is a lexicon rendered
as text, not real image captions: CaSED on it names the thing or its category. Built from Debian's
``wordnet-base`` (WordNet 3.0, Princeton licence, free use with attribution).
"""

from __future__ import annotations

import os
from collections.abc import Callable

ROOT_OFFSETS = (2684, 21265)  # object.n.01 and food.n.01 in WordNet 3.0


def wordnet_captions(path: str | os.PathLike | None = None, *, max_synonyms: int = 1) -> list[str]:
    """Captions for the non-proper noun synsets below ``object`` and ``food`` (see the module docstring)."""
    from vocabfree.vocabulary.wordnet import find_wordnet_dir, read_synsets

    folder = find_wordnet_dir(path)
    synsets = {s.offset: s for s in read_synsets(folder, "noun")}
    children: dict[int, list[int]] = {}
    for s in synsets.values():
        for hypernym in s.hypernyms:
            children.setdefault(hypernym, []).append(s.offset)
    seen, stack, order = set(ROOT_OFFSETS), list(reversed(ROOT_OFFSETS)), []
    while stack:  # depth-first walk; sorted children keep the output deterministic
        node = stack.pop()
        for child in sorted(children.get(node, ()), reverse=True):
            if child not in seen:
                seen.add(child)
                order.append(child)
                stack.append(child)

    def words(lemma: str) -> str:
        return lemma.replace("_", " ")

    captions = []
    for offset in order:
        s = synsets[offset]
        if s.lemmas[0][:1].isupper():  # proper nouns (people, places, brands) are not visual categories
            continue
        names = [words(lemma) for lemma in s.lemmas[: 1 + max_synonyms] if not lemma[:1].isupper()]
        parent = synsets.get(s.hypernyms[0]) if s.hypernyms else None
        if parent is not None:
            head = words(parent.lemmas[0])
            tail = f", {'an' if head[:1] in 'aeiou' else 'a'} {head}"
        else:
            tail = ""
        captions.append(", ".join(names) + tail)
    return list(dict.fromkeys(captions))


#: Built-in corpora by name: ``vocabfree db build --corpus wordnet``.
BUILTIN_CORPORA: dict[str, Callable[[], list[str]]] = {"wordnet": wordnet_captions}
