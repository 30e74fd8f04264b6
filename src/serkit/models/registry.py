"""One entry point from a model directory to the right ``Tagger``.

The card (``serkit.json``) names the architecture; a transformer directory holding an
ONNX graph runs on ONNX Runtime (fast, no torch) unless torch is asked for. Nothing is
fetched from a network and nothing is unpickled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from serkit.card import CARD_NAME, read_card
from serkit.errors import ModelLoadError
from serkit.tagger import Tagger

PREFER = ("auto", "torch", "onnx", "onnx-fp32", "onnx-int8")
DEFAULT_DIR = Path(__file__).resolve().parent / "default"
DEFAULT_HOWTO = "build it with `make default-model MODEL=runs/<best W1 model>`"


def default_model_dir() -> Path:
    """The model shipped inside the package (``serkit/models/default``)."""
    return DEFAULT_DIR


def load_tagger(path: str | Path | None = None, prefer: str = "auto", **kwargs: Any) -> Tagger:
    """Load a saved serkit model; ``path=None`` loads the shipped default.

    ``prefer``: ``auto`` (ONNX when present, else torch), ``torch``, ``onnx`` (int8 first),
    ``onnx-fp32`` or ``onnx-int8``. Extra keyword arguments go to the tagger
    (e.g. ``threads``, ``max_tokens``).
    """
    if prefer not in PREFER:
        raise ModelLoadError(f"unknown runtime {prefer!r}; choose one of {', '.join(PREFER)}")
    if path is None:
        d = default_model_dir()
        if not (d / CARD_NAME).is_file():
            raise ModelLoadError(
                f"the default model is not installed in {d} (no {CARD_NAME}); {DEFAULT_HOWTO}, "
                "or pass a model directory"
            )
    else:
        d = Path(path).expanduser()
        if not d.exists():
            raise ModelLoadError(f"{d}: no such model directory")
        if not d.is_dir():
            raise ModelLoadError(f"{d}: a model is a directory (with {CARD_NAME}), not a file")
    card = read_card(d)
    arch = card.get("arch")
    if arch == "transformer":
        return _load_transformer(d, card, prefer, kwargs)
    if arch == "crf":
        if prefer not in ("auto", "torch"):
            raise ModelLoadError(f"{d}: a CRF model has no ONNX runtime")
        from serkit.models.crf import CrfTagger

        return CrfTagger.load(d, **kwargs)
    raise ModelLoadError(f"{d}: unknown model arch {arch!r} in {CARD_NAME} (transformer or crf)")


def _load_transformer(d: Path, card: dict[str, Any], prefer: str, kwargs: dict[str, Any]) -> Tagger:
    from serkit.models.onnx import find_onnx

    onnx_file = find_onnx(d, prefer) if prefer != "torch" else None
    if onnx_file is not None:
        from serkit.models.onnx import OnnxTagger

        return OnnxTagger(d, onnx_file, card=card, **kwargs)
    if prefer.startswith("onnx"):
        raise ModelLoadError(f"{d}: no ONNX graph for runtime {prefer!r}; run `serkit export onnx`")
    if not any(d.glob("*.safetensors")):
        raise ModelLoadError(f"{d}: transformer model without weights (*.safetensors or *.onnx)")
    try:
        from serkit.models.transformer import TransformerTagger
    except ImportError as e:
        raise ModelLoadError(f"{d}: the torch runtime needs torch and transformers: {e}") from e
    return TransformerTagger.load(d, **kwargs)
