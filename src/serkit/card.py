"""The model card ``serkit.json``: what every saved model directory carries."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from serkit.errors import ModelLoadError

CARD_NAME = "serkit.json"


def sha256_files(paths: Iterable[str | Path]) -> str:
    """Checksum of the training data, so a card says exactly what a model saw."""
    h = hashlib.sha256()
    for p in sorted(str(p) for p in paths):
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def write_card(model_dir: str | Path, card: dict[str, Any]) -> Path:
    """Write ``serkit.json`` atomically, filling in version and creation time."""
    from serkit import __version__
    from serkit.io.atomic import atomic_write

    card = dict(card)
    card.setdefault("serkit_version", __version__)
    card.setdefault("command", command_line())
    card.setdefault("created", _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    path = Path(model_dir) / CARD_NAME
    with atomic_write(path) as f:
        json.dump(card, f, indent=2, ensure_ascii=False, sort_keys=False)
        f.write("\n")
    return path


def command_line() -> str:
    """How this model was made, as the user typed it (``serkit ...`` for the CLI)."""
    argv = list(sys.argv)
    if argv and argv[0].endswith("serkit"):
        argv[0] = "serkit"
    return shlex.join(argv)


def read_card(model_dir: str | Path) -> dict[str, Any]:
    path = Path(model_dir) / CARD_NAME
    if not path.is_file():
        raise ModelLoadError(f"{model_dir}: not a serkit model directory (no {CARD_NAME})")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"{path}: unreadable model card: {e}") from e
    if not isinstance(card, dict):
        raise ModelLoadError(f"{path}: a model card is a JSON object, not {type(card).__name__}")
    return card


def record_result(model_dir: str | Path, name: str, result: dict[str, Any]) -> Path:
    """Put a measured result under ``results[name]`` of a model's card (a protocol name:
    ``W1``, ``X1``...), replacing an older one, so the card carries the model's numbers."""
    card = read_card(model_dir)
    results = card.get("results")
    card["results"] = {**(results if isinstance(results, dict) else {}), name: result}
    return write_card(model_dir, card)
