"""Resumable training checkpoints without pickle: tensors in safetensors, the rest JSON.

A checkpoint folder holds ``model.safetensors`` (weights), ``optimizer.safetensors``
(optimizer moments and the torch RNG state) and ``state.json`` (step, optimizer
hyper-parameters, scheduler state, best dev score, config).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from serkit.errors import SerkitError
from serkit.io.atomic import atomic_write

STATE = "state.json"
MODEL = "model.safetensors"
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
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise _damaged(ckpt_dir, e) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        raise _damaged(ckpt_dir, "state.json is not a training state")
    return doc


def _damaged(ckpt_dir: str | Path, why: object) -> SerkitError:
    return SerkitError(
        f"{ckpt_dir}: cannot resume, the checkpoint is damaged or from another run ({why}); "
        "remove it to start over"
    )


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
    model.load_state_dict(load_file(str(d / MODEL)))
    tensors = load_file(str(d / OPTIM))
    torch.set_rng_state(tensors.pop("rng.torch"))
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
