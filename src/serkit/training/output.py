"""A training run's output folder, the same for every architecture (no torch here).

:func:`start_afresh` is the one step a fresh run (not ``--resume``) takes before training:
a checkpoint of an earlier run stops it unless ``--overwrite`` (then it is discarded, so
``--resume`` can never continue another run under this one's name), and an older model is
said to be replaced. The model itself is replaced whole when the new one is saved
(:func:`serkit.models.folder.staged`: stale files of any architecture go then).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from serkit.errors import SerkitError
from serkit.models.folder import CARD_NAME

#: The transformer's resumable checkpoint (``serkit.training.checkpoint``) in the output.
CHECKPOINT_DIR = "checkpoint"
#: The run's log (loss, validation), one JSON object a line.
METRICS = "metrics.jsonl"


def start_afresh(output: str | Path, overwrite: bool) -> None:
    """A fresh run into ``output``: refuse (one line) a folder with an earlier run's
    checkpoint unless ``overwrite``, warn on stderr when it holds a model, and remove the
    earlier run's checkpoint and log. Call it after ``check_output_dir`` and only for a
    fresh run: a resume keeps its checkpoint and log."""
    out = Path(output)
    ckpt = out / CHECKPOINT_DIR
    if ckpt.is_dir():
        if not overwrite:
            raise SerkitError(
                f"{ckpt}: this folder holds a checkpoint of an earlier run; --resume "
                "continues it, --overwrite discards it and starts afresh"
            )
        print(f"warning: discarding {ckpt} (--overwrite)", file=sys.stderr)
    if (out / CARD_NAME).is_file():
        print(f"warning: {out} holds a model; this run replaces it", file=sys.stderr)
    for name in (CHECKPOINT_DIR, CHECKPOINT_DIR + ".old", CHECKPOINT_DIR + ".tmp"):
        shutil.rmtree(out / name, ignore_errors=True)
    (out / METRICS).unlink(missing_ok=True)
