"""Losses over *allowed sets*: every labelled word says which outputs it allows.

``partial_selfreg_loss`` is the one loss the trainer calls for every training mode:

    loss = mean_i [-log sum_{y in A} p_i(y)] + alpha * mean_i KL(m || p_i),  m = mean_i p_i

over ``k`` dropout passes ``p_i`` (self-regularization, Nguyen et al. 2023). With a
one-element allowed set the first term is exactly cross-entropy; where every output of a
word's head is allowed it is 0 with no gradient (partial-label learning: a corpus that
never annotates Protocol only says "O or Protocol" for its O words). Each row's softmax
runs over its own head (``head_mask``), so heads of a multi-head model never compete.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

#: A logit for outputs outside a row's head: exp() of it is exactly 0 in float32, and it
#: stays finite so 0 * (difference) terms of the KL are 0, not NaN.
OFF_HEAD = -1e4


def partial_selfreg_loss(
    logits: torch.Tensor,
    allowed: torch.Tensor,
    head_mask: torch.Tensor,
    k: int,
    alpha: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """``logits`` ``(k * B, T, C)`` pass-major (see ``selfreg.repeat_batch``); ``allowed``
    ``(B, T, C)`` booleans (a row of all False = not a labelled position); ``head_mask``
    ``(B, C)`` booleans: the outputs of each row's head."""
    b, t, c = allowed.shape
    labelled = allowed.any(-1)  # (B, T)
    if not bool(labelled.any()):
        zero = logits.sum() * 0.0
        return zero, {"ce": 0.0, "kl": 0.0}
    passes = logits.view(k, b, t, c).float()
    hm = head_mask[:, None, :].expand(b, t, c)
    passes = passes.masked_fill(~hm, OFF_HEAD)
    logp = F.log_softmax(passes[:, labelled], dim=-1)  # (k, N, C)
    allow = allowed[labelled]  # (N, C)
    nll = -torch.logsumexp(logp.masked_fill(~allow, float("-inf")), dim=-1)  # (k, N)
    ce = nll.mean()
    if k == 1 or alpha == 0.0:
        return ce, {"ce": float(ce.detach()), "kl": 0.0}
    log_mean = torch.logsumexp(logp, dim=0) - torch.log(torch.tensor(float(k)))
    mean = log_mean.exp()
    kl = (mean.unsqueeze(0) * (log_mean.unsqueeze(0) - logp)).sum(-1).mean()
    return ce + alpha * kl, {"ce": float(ce.detach()), "kl": float(kl.detach())}


#: ``loss(logits, allowed, head_mask, k, alpha) -> (loss, parts)``; ``parts`` are floats
#: logged to metrics.jsonl (``ce`` and ``kl`` at least).
LossFn = Callable[
    [torch.Tensor, torch.Tensor, torch.Tensor, int, float], tuple[torch.Tensor, dict[str, float]]
]

#: Losses by name (``loss = "..."`` in a training config; add one here). Distillation is
#: an add-on term (``teacher``), not a replacement: :mod:`serkit.training.distill`.
LOSSES: dict[str, LossFn] = {"selfreg": partial_selfreg_loss}
