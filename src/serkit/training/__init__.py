"""Training: the config (one typed tree), corpora in, a model folder out."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def train(cfg: Any, *, resume: bool = False, progress: bool = True) -> Path:
    """Train the architecture ``cfg.arch`` names (serkit.architectures) as ``cfg`` says."""
    from serkit.architectures import get

    return get(cfg.arch).train(cfg, resume=resume, progress=progress)
