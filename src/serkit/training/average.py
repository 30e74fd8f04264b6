"""Weight averaging: one model from several checkpoints of one training run.

Averaging the weights of checkpoints taken along one run (stochastic weight averaging,
Izmailov et al. 2018; "model soups", Wortsman et al. 2022) lands in a flatter region than
any one of them and costs nothing at inference: the result is an ordinary model folder.
The shipped default is such an average (``make m1-model``; numbers in bench/RESULTS.md).

Only weights of one model are averaged: the first input is a model folder and supplies
everything but the weights (config, tokenizer, lexicons, card); every other input, a
model folder or a training checkpoint folder (``<run>/checkpoint``), must have the same
tensors (names, shapes, dtypes), the same labels and the same training data, the same
backbone, features and training mode (:data:`MODEL_KEYS`) and, for a model folder, the
same tokenizer; every lexicon another model folder holds must be the first one's too (or
the feature would change unseen), and every weight file (and the first input's
``tokenizer.json`` and lexicons) is verified against the checksum its folder lists before
it is read (its other side files, which cards do not list, are read bounded). No input
counts twice (a folder given twice is refused; the same tensors under two names count
once), and the output is a new folder outside every input, saved whole
(:func:`serkit.models.folder.staged`).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from serkit.errors import SerkitError
from serkit.models import folder
from serkit.training import checkpoint

#: What of a training configuration makes the model (its encoder, inputs and heads): two
#: inputs that differ in one of these are not one model, whatever their tensors' shapes
#: (other keys, such as the number of epochs or the seed, may differ between soups).
MODEL_KEYS = (
    "arch", "backbone", "features", "lexicon_case", "lexicon_min_ratio",
    "lexicon_conventions", "num_layers", "mode",
)  # fmt: skip
#: Card entries of the first input that describe its weights, not the average's: its
#: validation scores and recorded results (``metrics`` for older cards), when it was
#: made, and an ONNX export's runtime (the average holds torch weights only).
NOT_CARRIED = ("dev", "results", "metrics", "created", "runtime", "onnx")


@dataclass(frozen=True)
class WeightSource:
    """One input: its weight file, the labels and training data it was trained on."""

    path: Path
    weights: Path
    kind: str  # "model" or "checkpoint"
    labels: list[str]
    train_data_sha256: str | None
    step: int | None
    sha256: str  # of ``weights``, as verified
    config: dict[str, Any]  # the MODEL_KEYS of its training configuration
    inputs: dict[str, Any]  # a model folder's tokenizer and features (none: checkpoint)

    def describe(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "kind": self.kind,
            "step": self.step,
            "sha256": self.sha256,
        }


def _same_setting(key: str, a: Any, b: Any) -> bool:
    """Equal settings; for the backbone, one path may be the other made relative to a
    working directory (a card records it so, and cards of one run may be written from
    different folders)."""
    if a == b:
        return True
    if key != "backbone" or not (isinstance(a, str) and isinstance(b, str)):
        return False
    a, b = Path(a).as_posix(), Path(b).as_posix()
    return a.endswith("/" + b) or b.endswith("/" + a)


def _model_config(config: Any) -> dict[str, Any]:
    """The keys that make one model, paths as a card records them (a card writes its
    backbone path as :func:`serkit.models.folder.shareable_path` makes it, a checkpoint's
    state as given)."""
    config = config if isinstance(config, dict) else {}
    out = {k: config.get(k) for k in MODEL_KEYS if k in config}
    if isinstance(out.get("backbone"), str):
        out["backbone"] = folder.shareable_path(out["backbone"])
    return out


def _inputs(d: Path) -> dict[str, Any]:
    """What a model folder feeds its encoder: its tokenizer files (sha256) and the word
    features its ``config.json`` declares."""
    out: dict[str, Any] = {
        n: folder.sha256_file(d / n) for n in folder.TOKENIZER_FILES if (d / n).is_file()
    }
    out["serkit_features"] = folder.read_config(d).get("serkit_features")
    return out


def weight_source(path: str | Path) -> WeightSource:
    """A model folder (``serkit.json``) or a training checkpoint (``state.json``), verified."""
    d = Path(path)
    if (d / checkpoint.STATE).is_file():
        state = checkpoint.read_state(d)
        weights = d / checkpoint.MODEL
        if not weights.is_file():
            raise SerkitError(f"{d}: checkpoint without {checkpoint.MODEL}")
        if checkpoint.changed_files(d, state, (checkpoint.MODEL,)):
            raise SerkitError(f"{weights}: changed since the checkpoint was saved (sha256)")
        return WeightSource(
            d, weights, "checkpoint", list(state.get("labels") or []),
            state.get("train_data_sha256"), state.get("step"),
            _listed_or_hashed(state, weights), _model_config(state.get("config")), {},
        )  # fmt: skip
    if not (d / folder.CARD_NAME).is_file():
        raise SerkitError(f"{d}: neither a model folder ({folder.CARD_NAME}) nor a checkpoint")
    card = folder.read_card(d)
    names = [p.name for p in folder.checked_torch_weights(d, card)]
    if names != [folder.SAFETENSORS]:
        raise SerkitError(f"{d}: only a single {folder.SAFETENSORS} can be averaged")
    step = (card.get("dev") or {}).get("step")
    weights = d / folder.SAFETENSORS
    return WeightSource(
        d, weights, "model", list(card.get("labels") or []),
        card.get("train_data_sha256"), step, _listed_or_hashed(card, weights),
        _model_config(card.get("config")), _inputs(d),
    )  # fmt: skip


def _listed_or_hashed(doc: dict[str, Any], weights: Path) -> str:
    """The weight file's sha256 as its card or state lists it (already verified against
    the file), hashed only where nothing lists it."""
    return (doc.get("files") or {}).get(weights.name) or folder.sha256_file(weights)


def _check_same(base: WeightSource, other: WeightSource, lexicons: dict[str, str]) -> None:
    """``other`` is the same model as ``base``, whose lexicon files (name -> sha256) are
    ``lexicons``."""
    if other.labels != base.labels:
        raise SerkitError(f"{other.path}: other labels than {base.path}: not one model")
    if other.train_data_sha256 != base.train_data_sha256:
        raise SerkitError(
            f"{other.path}: trained on other data than {base.path} (train_data_sha256): "
            "its lexicon feature would not match"
        )
    for key in sorted(set(base.config) & set(other.config)):
        if not _same_setting(key, base.config[key], other.config[key]):
            raise SerkitError(
                f"{other.path}: trained with {key} {other.config[key]!r}, {base.path} with "
                f"{base.config[key]!r}: not one model"
            )
    if other.kind == "model":
        for name in sorted(set(base.inputs) | set(other.inputs)):
            if other.inputs.get(name) != base.inputs.get(name):
                what = "features" if name == "serkit_features" else "tokenizer"
                where = other.path / (folder.CONFIG if what == "features" else name)
                raise SerkitError(f"{where}: other {what} than {base.path}'s: not one model")
        _check_lexicons(base.path, lexicons, other.path)


def tensor_digest(weights: Path | Mapping[str, np.ndarray]) -> str:
    """A digest of a safetensors file's tensors (names, dtypes, shapes, values), not of its
    bytes: a model saved by transformers and its checkpoint saved by safetensors hold the
    same tensors in files that differ (metadata). Takes a file or its loaded tensors."""
    tensors = weights if isinstance(weights, Mapping) else load_file(str(weights))
    h = hashlib.sha256()
    for name, value in sorted(tensors.items()):
        h.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


def _check_paths_distinct(sources: Sequence[WeightSource]) -> None:
    """A folder given twice is a mistake (the same weights under two names are not: see
    :func:`average_weights`)."""
    seen: set[Path] = set()
    for s in sources:
        where = s.path.resolve()
        if where in seen:
            raise SerkitError(f"{s.path}: given twice; each weight set counts once in a mean")
        seen.add(where)


def _check_output(out: Path, sources: Sequence[WeightSource]) -> None:
    """A new (or empty) folder outside every input (:func:`check_output_dir`): a model saved
    into a run's folder or its checkpoint would be replaced by the next save or checkpoint
    of that run."""
    from serkit.training.data import check_output_dir

    check_output_dir(out, [s.path for s in sources])
    # an interrupted average leaves only its staging folder: it is started again
    if out.is_dir() and any(p.name != folder.STAGE_DIR for p in out.iterdir()):
        raise SerkitError(f"{out}: exists and is not empty; choose a new folder")


def _lexicons(d: Path) -> dict[str, str]:
    """The lexicon files of model folder ``d`` (merged and per head) and their sha256."""
    names = [n for n in (folder.LEXICON, *folder.head_lexicons(d)) if (d / n).is_file()]
    return {n: folder.sha256_file(d / n) for n in names}


def _check_lexicons(base: Path, mine: dict[str, str], other: Path) -> None:
    """The average reads its lexicons from the first input only; a lexicon another model
    folder has and the first lacks (or has otherwise) would be dropped without a word, and
    the feature, and so the answers, would change (a folder without head lexicons first)."""
    for name, digest in _lexicons(other).items():
        if mine.get(name) != digest:
            how = "differs from the one in" if name in mine else "is missing from"
            raise SerkitError(
                f"{other / name}: {how} the first input {base}, which supplies the average's "
                "lexicons; give the folder with the lexicons to keep first"
            )


def average_weights(files: Sequence[Path]) -> tuple[dict[str, np.ndarray], dict[int, int]]:
    """The element-wise mean of float tensors (in float64, stored in their dtype) over each
    distinct set of tensors once, each file loaded once; other tensors (integer buffers)
    must be equal in every file. Also ``twins``: the index of each file holding the same
    tensors as an earlier one -> that one's index (a run's best model that is its last
    checkpoint: ``best + last`` still averages)."""
    first = load_file(str(files[0]))
    seen = {tensor_digest(first): 0}
    twins: dict[int, int] = {}
    sums = {k: v.astype(np.float64) for k, v in first.items() if v.dtype.kind == "f"}
    for i, f in enumerate(files[1:], start=1):
        other = load_file(str(f))
        digest = tensor_digest(other)
        if digest in seen:
            twins[i] = seen[digest]
            continue
        seen[digest] = i
        if set(other) != set(first):
            diff = sorted(set(other) ^ set(first))[:3]
            raise SerkitError(f"{f}: other tensors than {files[0]} ({', '.join(diff)}...)")
        for k, v in other.items():
            if v.shape != first[k].shape or v.dtype != first[k].dtype:
                raise SerkitError(f"{f}: tensor {k} is {v.dtype}{list(v.shape)}, not "
                                  f"{first[k].dtype}{list(first[k].shape)}")  # fmt: skip
            if k in sums:
                sums[k] += v
            elif not np.array_equal(v, first[k]):
                raise SerkitError(f"{f}: integer tensor {k} differs from {files[0]}")
    n = len(seen)
    mean = {k: (sums[k] / n).astype(v.dtype) if k in sums else v for k, v in first.items()}
    return mean, twins


def average_models(inputs: Sequence[str | Path], output: str | Path) -> Path:
    """Average the weights of ``inputs`` (the first a model folder) into a new model
    folder ``output``; returns it. Its card lists what was averaged; the base's validation
    scores and recorded results are dropped (they described other weights). The model is
    saved whole or not at all (:func:`serkit.models.folder.staged`)."""
    if len(inputs) < 2:
        raise SerkitError("give at least two models or checkpoints to average")
    sources = [weight_source(p) for p in inputs]
    base = sources[0]
    if base.kind != "model":
        raise SerkitError(f"{base.path}: the first input must be a model folder (config, card)")
    lexicons = _lexicons(base.path)  # hashed once, compared with each other model folder's
    for s in sources[1:]:  # every input, a twin counted once below too
        _check_same(base, s, lexicons)
    out = Path(output)
    _check_output(out, sources)
    _check_paths_distinct(sources)
    weights, twins = average_weights([s.weights for s in sources])
    for i, j in twins.items():
        print(
            f"note: {sources[i].path}: the same weights as {sources[j].path}: counted once",
            file=sys.stderr,
        )
    sources = [s for i, s in enumerate(sources) if i not in twins]
    if len(sources) < 2:
        raise SerkitError("the inputs hold one weight set: nothing to average")
    card = folder.read_card(base.path)
    side = {  # config, tokenizer, lexicons: bounded, checked where the card lists them
        name: folder.read_verified(base.path, name, card, folder.read_limit(name))
        for name in folder.side_files(base.path)
        if (base.path / name).is_file()
    }
    for stale in NOT_CARRIED:
        card.pop(stale, None)
    card["command"] = folder.command_line()
    card["averaged_from"] = [s.describe() for s in sources]
    with folder.staged(out) as stage:
        for name, data in side.items():
            (stage / name).write_bytes(data)
        save_file(weights, str(stage / folder.SAFETENSORS), metadata={"format": "pt"})
        folder.write_card(stage, card)
    return out
