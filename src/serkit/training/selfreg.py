"""Self-regularization loss (Nguyen et al., ASE 2023) for learning from noisy labels.

``k`` forward passes of the same batch, each with its own dropout mask, must agree:

    loss = mean_i CE(p_i, y) + alpha * mean_i KL(m || p_i),   m = mean_i p_i

over the labelled positions (first sub-token of each word). Labels a model can only
fit by memorising (noise) make the passes disagree, so the agreement term holds the
model back from them. With ``k == 1`` the KL term is exactly 0 and the loss is exactly
the plain token-classification cross-entropy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def repeat_batch(inputs: dict[str, torch.Tensor], k: int) -> dict[str, torch.Tensor]:
    """The batch stacked ``k`` times along dim 0: one forward gives ``k`` dropout passes."""
    if k == 1:
        return inputs
    return {name: t.repeat(k, *([1] * (t.dim() - 1))) for name, t in inputs.items()}


def selfreg_loss(
    logits: torch.Tensor, labels: torch.Tensor, k: int, alpha: float
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss for ``logits`` of shape ``(k * B, T, C)`` (pass-major, as from
    :func:`repeat_batch`) and ``labels`` of shape ``(B, T)`` with -100 = ignore."""
    n_labels = logits.shape[-1]
    mask = labels != IGNORE_INDEX
    passes = logits.view(k, *labels.shape, n_labels)[:, mask]  # (k, N, C)
    target = labels[mask]
    if target.numel() == 0:
        zero = logits.sum() * 0.0
        return zero, {"ce": 0.0, "kl": 0.0}
    ce = torch.stack([F.cross_entropy(p, target) for p in passes]).mean()
    if k == 1 or alpha == 0.0:
        return ce, {"ce": float(ce.detach()), "kl": 0.0}
    logp = F.log_softmax(passes.float(), dim=-1)  # (k, N, C)
    log_mean = torch.logsumexp(logp, dim=0) - torch.log(torch.tensor(float(k)))  # log m
    mean = log_mean.exp()
    # KL(m || p_i) = sum_c m (log m - log p_i), averaged over positions, then passes.
    kl = (mean.unsqueeze(0) * (log_mean.unsqueeze(0) - logp)).sum(-1).mean()
    loss = ce + alpha * kl
    return loss, {"ce": float(ce.detach()), "kl": float(kl.detach())}
