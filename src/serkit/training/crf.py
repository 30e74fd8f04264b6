"""CRF training: what ``serkit train --arch crf`` runs (serkit.architectures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from serkit.errors import SerkitError


def train(cfg: Any, *, resume: bool = False, progress: bool = True) -> Path:
    """A CRF trains in one go (L-BFGS) and keeps no checkpoint to continue from."""
    if resume:
        raise SerkitError("--resume applies to transformer training, not --arch crf")
    from serkit.models.crf import train_from_config

    return train_from_config(cfg)
