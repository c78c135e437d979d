"""Near-duplicate removal among retrieved captions (CaSED: inner product >= 0.94, connected components).

Large caption corpora repeat the same caption with tiny variations; without this, ten retrieved captions
may be one caption ten times and a single word would dominate the frequency filter.
"""

from __future__ import annotations

import numpy as np

DEDUP_THRESHOLD = 0.94


def near_duplicate_mask(embeddings: np.ndarray, threshold: float = DEDUP_THRESHOLD) -> np.ndarray:
    """Boolean mask (k,) over rows ranked best first: True for the first row of each connected component of
    the graph linking rows with inner product >= ``threshold``. Pure numpy; k is small (tens)."""
    x = np.asarray(embeddings, dtype=np.float32)
    k = len(x)
    parent = list(range(k))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    linked = (x @ x.T) >= threshold
    for i, j in zip(*np.nonzero(np.triu(linked, 1)), strict=False):
        ri, rj = root(int(i)), root(int(j))
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)  # the best-ranked (lowest index) member stays the root
    return np.array([root(i) == i for i in range(k)], dtype=bool)
