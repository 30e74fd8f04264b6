"""One entry point from a model directory to the right ``Tagger``.

The card (``serkit.json``) names the architecture; a transformer directory holding an
ONNX graph runs on ONNX Runtime (fast, no torch) unless torch is asked for. Nothing is
fetched from a network, nothing is unpickled, no code from the folder runs, and every
weight file is checked against the card's sha256 before it is parsed
(:mod:`serkit.models.folder`). The card is read once here and passed to the tagger.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from serkit.architectures import check_runtime
from serkit.devices import (
    check_device,
    check_dtype,
    check_threads,
    torch_cuda_available,
    wants_gpu,
)
from serkit.errors import ModelLoadError, SerkitError
from serkit.labels import OUTSIDE
from serkit.models import folder
from serkit.models.folder import (
    CARD_NAME,
    PICKLE_WEIGHTS,
    SAFETENSORS,
    SAFETENSORS_WEIGHTS,
    read_card,
)
from serkit.tagger import Tagger

DEFAULT_DIR = Path(__file__).resolve().parent / "default"
DEFAULT_HOWTO = "build it with `make default-model MODEL=runs/<best W1 model>`"
#: Entry point group of installed model packages (``serkit package``): ``NAME = module``,
#: the model folder being ``<module>/PACKAGE_MODEL_DIR``.
MODEL_ENTRY_POINTS = "serkit_models"
PACKAGE_MODEL_DIR = "model"
__all__ = [
    "MODEL_ENTRY_POINTS",
    "PICKLE_WEIGHTS",
    "SAFETENSORS_WEIGHTS",
    "default_model_dir",
    "installed_model",
    "load_tagger",
]


def default_model_dir() -> Path:
    """The model shipped inside the package (``serkit/models/default``)."""
    return DEFAULT_DIR


def installed_model(name: str) -> Path | None:
    """The model folder of the installed model package ``name`` (entry point group
    ``serkit_models``), found without importing the package; None when none is installed."""
    import re
    from importlib.metadata import entry_points
    from importlib.util import find_spec

    def norm(s: str) -> str:
        return re.sub(r"[-_.]+", "-", s).lower()

    for ep in entry_points(group=MODEL_ENTRY_POINTS):
        if norm(ep.name) != norm(name):
            continue
        try:
            spec = find_spec(ep.value.split(":")[0].strip())  # a top-level package: not run
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            raise ModelLoadError(f"model package {name!r} is installed but its files are missing")
        return Path(list(spec.submodule_search_locations)[0]) / PACKAGE_MODEL_DIR
    return None


def load_tagger(
    path: str | Path | None = None,
    prefer: str = "auto",
    device: str = "cpu",
    dtype: str = "fp32",
    **kwargs: Any,
) -> Tagger:
    """Load a saved serkit model; ``path=None`` loads the shipped default.

    ``prefer``: ``auto`` (ONNX when present, else torch; on a GPU the torch weights when
    the folder has them, see :func:`transformer_runtime`), ``torch``, ``onnx`` (int8
    first), ``onnx-fp32`` or ``onnx-int8`` for a transformer, ``crf`` for a CRF (each
    architecture declares its own: :func:`serkit.architectures.runtime_names`).
    ``device``: ``cpu`` (default), ``cuda``, ``cuda:N`` or ``auto``
    (:mod:`serkit.devices`). ``dtype``: ``fp32`` (default),
    ``fp16`` or ``bf16``, the torch runtime's precision (ONNX graphs and the CRF hold their
    own). Extra keyword arguments go to the tagger (e.g. ``threads``, ``max_tokens``).
    """
    check_runtime(prefer)
    if "threads" in kwargs:
        kwargs["threads"] = check_threads(kwargs["threads"])
    kwargs["device"] = check_device(device)
    dtype = check_dtype(dtype)
    if dtype != "fp32":  # only the torch runtime takes it
        kwargs["dtype"] = dtype
    if path is None:
        d = default_model_dir()
        if not (d / CARD_NAME).is_file():
            raise ModelLoadError(
                f"the default model is not installed in {d} (no {CARD_NAME}); {DEFAULT_HOWTO}, "
                "or pass a model directory"
            )
    else:
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"a model path is a str or os.PathLike, not {type(path).__name__}")
        if not str(path).strip():
            raise ModelLoadError("empty model path: give a model directory (None: the default)")
        d = Path(path).expanduser()
        if not d.exists():
            d = installed_model(str(path)) or d  # an installed model package's name
        if not d.exists():
            raise ModelLoadError(f"{d}: no such model directory or installed model package")
        if not d.is_dir():
            raise ModelLoadError(f"{d}: a model is a directory (with {CARD_NAME}), not a file")
    card = read_card(d)
    scheme = kwargs.pop("scheme", None)
    try:
        tagger = _load(d, card, prefer, kwargs)
    except SerkitError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        # A config value of the wrong type or range (``serkit_max_length: "abc"``...).
        raise ModelLoadError(f"{d}: cannot load the model: {type(e).__name__}: {e}") from e
    if tagger.model_dir is None:
        tagger.model_dir = d
    check_labels(d, card, getattr(tagger, "raw_labels", None) or tagger.labels)
    check_window(d, tagger)
    if scheme is not None:
        tagger.use_scheme(scheme)
    return tagger


def _load(d: Path, card: dict[str, Any], prefer: str, kwargs: dict[str, Any]) -> Tagger:
    from serkit.architectures import get

    arch = get(card.get("arch"), f"{d}/{CARD_NAME}", ModelLoadError)
    return arch.load(d, card, prefer, kwargs)


def load_crf(d: Path, card: dict[str, Any], prefer: str, kwargs: dict[str, Any]) -> Tagger:
    from serkit.models.crf import CrfTagger

    return CrfTagger.load(d, card=card, **kwargs)


def check_labels(d: Path, card: dict[str, Any], labels: object) -> None:
    """The model's labels must be IOB2 tags, and the ones its card lists: a card copied
    over another model's files would otherwise mislabel every entity without a word.
    A multi-head model's outputs are ``head:tag``."""
    multi = isinstance(labels, list) and any(isinstance(x, str) and ":" in x for x in labels)
    ok = (
        isinstance(labels, list)
        and any(x == OUTSIDE or str(x).endswith(":" + OUTSIDE) for x in labels)
        and len(set(labels)) == len(labels)
        and all(
            isinstance(x, str) and _is_tag(x.rpartition(":")[2] if multi else x) for x in labels
        )
    )
    if not ok:
        raise ModelLoadError(
            f"{d}: the model's labels are not IOB2 tags (O, B-X, I-X): {_short(labels)}"
        )
    listed = card.get("labels")
    if listed is not None and listed != labels:
        raise ModelLoadError(
            f"{d}: {CARD_NAME} lists labels {_short(listed)} but the model has "
            f"{_short(labels)}; the card and the model files come from different models"
        )


def _is_tag(x: str) -> bool:
    return x == OUTSIDE or (x[:2] in ("B-", "I-") and len(x) > 2)


def check_window(d: Path, tagger: Tagger) -> None:
    """A window longer than the encoder has positions loads fine but fails on the first
    long sentence: refuse it at load (``serkit_max_length`` vs ``max_position_embeddings``)."""
    encoder = getattr(tagger, "encoder", None)
    if encoder is None:
        return
    try:
        config = folder.read_config(d)
        positions = int(config["max_position_embeddings"])
        if "roberta" in str(config.get("model_type", "")):  # positions start after padding
            positions -= int(config.get("pad_token_id", 1)) + 1
    except (ModelLoadError, ValueError, KeyError, TypeError):
        return  # the runtime loaded without it; nothing to check against
    if encoder.max_length > positions:
        raise ModelLoadError(
            f"{d}: windows of serkit_max_length={encoder.max_length} sub-tokens do not fit the "
            f"encoder's {positions} positions (max_position_embeddings in config.json)"
        )


def _short(value: object, n: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."


def has_torch_weights(d: Path) -> bool:
    return any((d / name).is_file() for name in SAFETENSORS_WEIGHTS)


def folder_runtimes(d: Path) -> list[str]:
    """The runtimes the files of the transformer folder ``d`` allow, in the architecture's
    order and ``auto`` first (empty: neither torch weights nor an ONNX graph): what an
    error about a runtime the folder lacks offers instead."""
    from serkit.architectures import AUTO_RUNTIME, get

    graphs = {r: (d / name).is_file() for r, name in folder.ONNX_GRAPHS.items()}
    has = {"torch": has_torch_weights(d), "onnx": any(graphs.values()), **graphs}
    names = [r for r in get("transformer").runtimes if has.get(r)]
    return [AUTO_RUNTIME, *names] if names else []


def _lacks(d: Path, what: str) -> ModelLoadError:
    """``d`` has no ``what``: one line naming the runtimes its files do run."""
    runs = folder_runtimes(d)
    if not runs:
        return ModelLoadError(
            f"{d}: transformer model without weights ({SAFETENSORS} or an ONNX graph, "
            f"{folder.ONNX_INT8} or {folder.ONNX_FP32})"
        )
    return ModelLoadError(f"{d}: no {what}; it runs on: {', '.join(runs)}")


def transformer_runtime(
    d: Path, prefer: str, device: str | None, *, here: bool = True, dtype: str = "fp32"
) -> str:
    """The runtime ``prefer`` resolves to for the transformer folder ``d`` on ``device``:
    ``torch``, ``onnx-int8`` or ``onnx-fp32``.

    ``auto`` takes the ONNX graph (int8 first) on the CPU; on a GPU it takes the torch
    weights when the folder has them (torch's CUDA build is the common GPU install, and
    dynamic int8 is a CPU format), else the graph (``onnxruntime-gpu``). ``here``: the
    model runs on this machine, so a torch without CUDA next to a graph means the graph;
    a Ray driver deciding for GPU actors elsewhere passes False (the files alone decide).
    A ``dtype`` other than fp32 takes the torch weights."""
    from serkit.models.onnx import find_onnx

    if prefer == "torch":
        return "torch"
    if dtype != "fp32":  # a graph's precision is fixed at export
        if prefer != "auto" or not has_torch_weights(d):
            raise ModelLoadError(
                f"{d}: dtype {dtype!r} runs the torch weights (model.safetensors); ONNX graphs "
                "hold their own precision (fp32 or int8)"
            )
        return "torch"
    gpu = prefer == "auto" and has_torch_weights(d) and wants_gpu(device)  # files first
    if gpu and (not here or torch_cuda_available() or find_onnx(d) is None):
        return "torch"
    onnx_file = find_onnx(d, prefer)
    if onnx_file is None:
        if prefer.startswith("onnx"):
            raise _lacks(d, f"ONNX graph for runtime {prefer!r} (`serkit export onnx` writes one)")
        return "torch"
    return {graph: name for name, graph in folder.ONNX_GRAPHS.items()}[onnx_file.name]


def runtime_on(d: Path, card: dict[str, Any], prefer: str, device: str, dtype: str = "fp32") -> str:
    """The runtime ``load_tagger(d, prefer, device=device)`` would use, decided on this
    machine without loading (a Ray driver checks a model on its CPU for GPU actors)."""
    from serkit.architectures import get

    arch = get(card.get("arch"), f"{d}/{CARD_NAME}", ModelLoadError)
    arch.refuse_gpu(device, f"{d}: ")
    if not arch.gpu:
        return prefer
    return transformer_runtime(d, prefer, device, here=False, dtype=dtype)


def load_transformer(d: Path, card: dict[str, Any], prefer: str, kwargs: dict[str, Any]) -> Tagger:
    from serkit.models.onnx import find_onnx

    runtime = transformer_runtime(
        d, prefer, kwargs.get("device"), dtype=kwargs.get("dtype", "fp32")
    )
    onnx_file = find_onnx(d, runtime) if runtime != "torch" else None
    if onnx_file is not None:
        from serkit.models.onnx import OnnxTagger

        return OnnxTagger(d, onnx_file, card=card, **kwargs)
    if not has_torch_weights(d) and not any(any(d.glob(pattern)) for pattern in PICKLE_WEIGHTS):
        raise _lacks(d, f"torch weights ({SAFETENSORS}) for runtime 'torch'")
    # Before torch is even imported: no auto_map, no pickle-only weights, no shard outside.
    folder.torch_weights(d)
    try:
        from serkit.models.transformer import TransformerTagger
    except ImportError as e:
        raise ModelLoadError(f"{d}: the torch runtime needs torch and transformers: {e}") from e
    return TransformerTagger.load(d, card=card, **kwargs)
