"""Resumable training checkpoints without pickle: tensors in safetensors, the rest JSON.

A checkpoint folder holds ``model.safetensors`` (weights), ``optimizer.safetensors``
(optimizer moments and the torch RNG state) and ``state.json`` (step, optimizer
hyper-parameters, scheduler state, best dev score, config, and the sha256 of the two
tensor files under ``files``). Resuming verifies the checksums, the state's values and
that every weight and moment is finite: a damaged checkpoint is one error line, never a
run that goes on with NaN.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from serkit.errors import ModelLoadError, SerkitError
from serkit.files.atomic import atomic_write
from serkit.models import folder

STATE = "state.json"
MODEL = folder.SAFETENSORS
OPTIM = "optimizer.safetensors"


def _json_safe(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    if isinstance(x, torch.Tensor):
        return x.item()
    return x


def save_checkpoint(
    ckpt_dir: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: dict[str, Any],
) -> None:
    """Write a checkpoint; the folder is swapped in by rename so a kill never leaves half."""
    final = Path(ckpt_dir)
    tmp = final.with_name(final.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(weights, str(tmp / MODEL))
    opt = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # dropout on the GPU
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    scalars: dict[str, dict[str, Any]] = {}
    for idx, pstate in opt["state"].items():
        for name, value in pstate.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{idx}.{name}"] = value.detach().contiguous().clone()
            else:
                scalars.setdefault(str(idx), {})[name] = value
    save_file(tensors, str(tmp / OPTIM))
    doc = {
        **state,
        "optimizer_param_groups": _json_safe(opt["param_groups"]),
        "optimizer_scalars": _json_safe(scalars),
        "scheduler": _json_safe(scheduler.state_dict()),
        "files": {name: folder.sha256_file(tmp / name) for name in (MODEL, OPTIM)},
    }
    with atomic_write(tmp / STATE) as f:
        json.dump(doc, f, indent=1)
    old = final.with_name(final.name + ".old")
    if final.exists():
        if old.exists():
            _rmtree(old)
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        _rmtree(old)


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def has_checkpoint(ckpt_dir: str | Path) -> bool:
    """Whether a checkpoint is there; one left as ``.old`` by a kill between the two
    renames of :func:`save_checkpoint` is put back first (it is complete)."""
    final = Path(ckpt_dir)
    old = final.with_name(final.name + ".old")
    if not final.exists() and (old / STATE).is_file():
        os.replace(old, final)
    return (final / STATE).is_file()


def read_state(ckpt_dir: str | Path) -> dict[str, Any]:
    """The checkpoint's JSON state; a broken one is an error that says what to do."""
    path = Path(ckpt_dir) / STATE
    try:
        doc = folder.read_json(path, STATE)
    except ModelLoadError as e:
        raise _damaged(ckpt_dir, str(e).removeprefix(f"{path}: ")) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        raise _damaged(ckpt_dir, "state.json is not a training state")
    why = _bad_value(doc)
    if why:
        raise _damaged(ckpt_dir, why)
    return doc


def _count(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _bad_value(doc: dict[str, Any]) -> str | None:
    """What is wrong with the state's counters and scores (None: nothing)."""
    if not _count(doc.get("step")):
        return f"step {_short(doc.get('step'))} is not a count of steps"
    if "sentences_seen" in doc and not _count(doc["sentences_seen"]):
        return f"sentences_seen {_short(doc['sentences_seen'])} is not a count"
    if doc.get("best_step") is not None and not _count(doc["best_step"]):
        return f"best_step {_short(doc['best_step'])} is not a step"
    for key in ("best_f1", "train_seconds"):
        v = doc.get(key, 0.0)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            return f"{key} {_short(v)} is not a finite number"
    files = doc.get("files")
    sums = isinstance(files, dict) and set(files) == {MODEL, OPTIM}
    if files is not None and not (sums and all(isinstance(v, str) for v in files.values())):
        return "'files' is not the checksums of the checkpoint's tensor files"
    return None


def _short(value: object, n: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."


def _damaged(ckpt_dir: str | Path, why: object) -> SerkitError:
    return SerkitError(
        f"{ckpt_dir}: cannot resume, the checkpoint is damaged or from another run ({why}); "
        "remove it to start over"
    )


def changed_files(
    ckpt_dir: str | Path, state: dict[str, Any], names: tuple[str, ...] | None = None
) -> list[str]:
    """The tensor files (all listed, or ``names``) whose sha256 is not the one the state
    lists; older checkpoints list none."""
    d = Path(ckpt_dir)
    listed = state.get("files") or {}
    return [
        name
        for name, want in listed.items()
        if (names is None or name in names) and folder.sha256_file(d / name) != want
    ]


def load_checkpoint(
    ckpt_dir: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
) -> dict[str, Any]:
    """Restore model, optimizer, scheduler and RNG in place; return the JSON state."""
    try:
        return _load(Path(ckpt_dir), model, optimizer, scheduler)
    except SerkitError:
        raise
    except Exception as e:  # safetensors, torch and a hand-edited JSON raise all kinds
        first = (str(e).splitlines() or [""])[0][:200]
        raise _damaged(ckpt_dir, f"{type(e).__name__}: {first}") from e


def _load(
    d: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> dict[str, Any]:
    doc = read_state(d)
    changed = changed_files(d, doc)
    doc.pop("files", None)
    if changed:
        raise _damaged(d, f"{changed[0]} changed since it was saved (sha256 differs)")
    weights = load_file(str(d / MODEL))
    tensors = load_file(str(d / OPTIM))
    for name, t in (*weights.items(), *tensors.items()):
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise _damaged(d, f"{name} holds NaN or infinite values")
    model.load_state_dict(weights)
    torch.set_rng_state(tensors.pop("rng.torch"))
    cuda_rng = tensors.pop("rng.cuda", None)
    if cuda_rng is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(cuda_rng)
    opt_state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, idx, name = key.split(".", 2)
        opt_state.setdefault(int(idx), {})[name] = value
    for idx, extra in doc.pop("optimizer_scalars").items():
        opt_state.setdefault(int(idx), {}).update(extra)
    groups = doc.pop("optimizer_param_groups")
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    optimizer.load_state_dict({"state": opt_state, "param_groups": groups})
    scheduler.load_state_dict(doc.pop("scheduler"))
    return doc
