"""Knowledge distillation: a student tagger also matches a trained teacher's soft tags.

Hinton et al. (2015): the teacher's temperature-softened distribution carries more than
its arg max (which other types a word could be), so a shallower student trained on it
(``serkit train --num-layers 3 --teacher runs/w1-selfreg``) loses less than one trained
on the noisy gold tags alone. The term is ``T**2 * KL(teacher_T || student_T)`` over the
labelled positions, averaged over the student's ``k`` dropout passes; ``T**2`` keeps its
gradient scale independent of ``T``. In a multi-head model both distributions run over
the row's own head, as the training loss does: the student learns each head's soft tags,
not the teacher's arbitrary scores for the other corpora's outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from serkit.errors import ModelLoadError, SerkitError
from serkit.training.losses import OFF_HEAD
from serkit.training.selfreg import IGNORE_INDEX


def distill_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    labels: torch.Tensor,
    k: int,
    temperature: float,
    head_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """``student`` ``(k * B, T, C)`` pass-major logits, ``teacher`` ``(B, T, C)``,
    ``labels`` ``(B, T)`` with -100 = not a word's first sub-token, ``head_mask`` ``(B, C)``
    booleans: the outputs of each row's head (None: one head, all outputs)."""
    mask = labels != IGNORE_INDEX
    if not bool(mask.any()):
        return student.sum() * 0.0
    n = student.shape[-1]
    s = student.view(k, *labels.shape, n)[:, mask].float() / temperature  # (k, N, C)
    t = teacher[mask].float() / temperature  # (N, C)
    if head_mask is not None:
        off = ~head_mask[:, None, :].expand(*labels.shape, n)[mask]  # (N, C)
        s, t = s.masked_fill(off, OFF_HEAD), t.masked_fill(off, OFF_HEAD)
    t = F.log_softmax(t, dim=-1)
    logp = F.log_softmax(s, dim=-1)
    kl = (t.exp().unsqueeze(0) * (t.unsqueeze(0) - logp)).sum(-1).mean()
    return kl * temperature**2


def load_teacher(path: str | Path, labels: list[str], features: dict[str, Any]) -> torch.nn.Module:
    """A saved serkit transformer, frozen, that must speak the student's labels and features
    (the same input ids mean the same thing to both). Read as every model folder is
    (:mod:`serkit.models.folder`): no code from it runs, safetensors only, weights checked
    against its card."""
    from transformers import AutoModelForTokenClassification

    from serkit.models import folder

    path = Path(path)
    card = folder.read_card(path) if (path / folder.CARD_NAME).is_file() else None
    try:
        folder.checked_torch_weights(path, card)
    except ModelLoadError as e:
        raise ModelLoadError(f"teacher: {e}") from None
    try:
        model = AutoModelForTokenClassification.from_pretrained(
            str(path), local_files_only=True, use_safetensors=True, trust_remote_code=False
        ).eval()
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"teacher {path}: cannot load a transformer: {e}") from e
    cfg = model.config
    theirs = [cfg.id2label[i] for i in range(cfg.num_labels)]
    if theirs != list(labels):
        raise SerkitError(f"teacher {path}: labels {theirs} differ from the student's {labels}")
    if getattr(cfg, "serkit_features", None) != features:
        raise SerkitError(
            f"teacher {path}: input features {getattr(cfg, 'serkit_features', None)} differ "
            f"from the student's {features}; train the student with the teacher's features"
        )
    for p in model.parameters():
        p.requires_grad_(False)
    return model
