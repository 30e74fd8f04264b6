"""Length-bucketed batches under a token budget, in a reproducible per-epoch order.

Windows of similar length go together so little compute is spent on padding; the
order depends only on ``(seed, epoch)``, so a resumed run sees exactly the batches the
killed run would have seen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def make_batches(
    lengths: Sequence[int], max_tokens: int, seed: int, epoch: int, max_rows: int = 256
) -> list[list[int]]:
    """Index lists whose ``rows x longest row`` stays within ``max_tokens``.

    Lengths are jittered before sorting (so batch membership changes between epochs),
    then the batches are shuffled.
    """
    if not lengths:
        return []
    rng = np.random.default_rng([seed, epoch])
    lens = np.asarray(lengths, dtype=np.float64)
    noisy = lens + rng.uniform(-2.0, 2.0, size=len(lens))
    order = np.argsort(noisy, kind="stable")
    batches: list[list[int]] = []
    cur: list[int] = []
    widest = 0
    for i in order:
        w = max(widest, int(lens[i]))
        if cur and (w * (len(cur) + 1) > max_tokens or len(cur) >= max_rows):
            batches.append(cur)
            cur, w = [], int(lens[i])
        cur.append(int(i))
        widest = w
    if cur:
        batches.append(cur)
    perm = rng.permutation(len(batches))
    return [batches[j] for j in perm]
