"""Architectures by name: how a model folder of each kind is loaded and how one is trained.

The card's ``arch`` and the training config's ``arch`` are keys of :data:`ARCHITECTURES`.
Entries name their functions as ``"module:function"`` strings, imported on first use, so
this table sits above the layers without importing them (inference never imports
training code, and a CPU-only install never imports torch for a CRF).

Adding an architecture: a package that owns its tagger (predict, save, load) under
``serkit.models`` and its training under ``serkit.training``, plus one ``register`` line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serkit.devices import is_cuda
from serkit.errors import ModelLoadError, SerkitError


def _resolve(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Architecture:
    name: str
    #: ``load(model_dir, card, prefer, kwargs) -> Tagger``
    loader: str
    #: ``train(cfg: TrainConfig, *, resume: bool, progress: bool) -> Path``
    trainer: str
    #: The runtimes ``serkit.load(..., prefer=...)`` (``--runtime``) may name for it besides
    #: ``auto``, which every architecture answers: the names its taggers report as
    #: ``Tagger.runtime`` (and ``serkit eval`` records in a card), so a recorded runtime
    #: loads again. Declared by each architecture: no default claims one it does not run.
    runtimes: tuple[str, ...]
    #: Whether its loader takes a ``device`` and a ``dtype`` (:mod:`serkit.devices`);
    #: others run on the CPU in their own precision.
    gpu: bool = False

    def load(self, model_dir: Path, card: dict[str, Any], prefer: str, kwargs: dict[str, Any]):
        if prefer != AUTO_RUNTIME and prefer not in self.runtimes:
            raise ModelLoadError(
                f"{model_dir}: a {self.name} model has no {prefer!r} runtime "
                f"(its runtimes: {', '.join((AUTO_RUNTIME, *self.runtimes))})"
            )
        if not self.gpu:
            self.refuse_gpu(kwargs.pop("device", None), f"{model_dir}: ")
            if "dtype" in kwargs:
                raise ModelLoadError(
                    f"{model_dir}: a {self.name} model computes in its own precision, not "
                    f"{kwargs['dtype']!r}"
                )
        return _resolve(self.loader)(model_dir, card, prefer, kwargs)

    def refuse_gpu(
        self, device: str | None, where: str = "", verb: str = "runs",
        error: type[SerkitError] = ModelLoadError,
    ) -> None:  # fmt: skip
        """One line, not a silent CPU run, when a GPU is asked of a CPU-only architecture."""
        if not self.gpu and is_cuda(device):
            raise error(f"{where}a {self.name} model {verb} on the CPU only, not {device!r}")

    def train(self, cfg: Any, *, resume: bool = False, progress: bool = True) -> Path:
        self.refuse_gpu(getattr(cfg, "device", None), verb="trains", error=SerkitError)
        return _resolve(self.trainer)(cfg, resume=resume, progress=progress)


ARCHITECTURES: dict[str, Architecture] = {}
#: The runtime every architecture answers: the best one its folder and device allow.
AUTO_RUNTIME = "auto"


def runtime_names() -> tuple[str, ...]:
    """Every runtime name ``serkit.load(..., prefer=...)`` and ``--runtime`` take: ``auto``
    and each registered architecture's own, in registration order."""
    names = [AUTO_RUNTIME, *(r for arch in ARCHITECTURES.values() for r in arch.runtimes)]
    return tuple(dict.fromkeys(names))


def check_runtime(name: object) -> str:
    """``name`` if some architecture runs it (:func:`runtime_names`); a one-line refusal
    otherwise. Whether the model at hand has it is its loader's question."""
    known = runtime_names()
    if name not in known:
        raise ModelLoadError(f"unknown runtime {name!r}; choose one of {', '.join(known)}")
    return name  # type: ignore[return-value]


def register(arch: Architecture) -> Architecture:
    ARCHITECTURES[arch.name] = arch
    return arch


def get(name: object, where: str = "", error: type[SerkitError] = SerkitError) -> Architecture:
    """The architecture ``name``; ``error`` (naming ``where``) lists the known ones."""
    arch = ARCHITECTURES.get(name) if isinstance(name, str) else None
    if arch is None:
        known = ", ".join(ARCHITECTURES)
        prefix = f"{where}: " if where else ""
        raise error(f"{prefix}unknown model arch {name!r} (known: {known})")
    return arch


register(
    Architecture(
        "transformer",
        loader="serkit.models.registry:load_transformer",
        trainer="serkit.training.trainer:train",
        runtimes=("torch", "onnx", "onnx-fp32", "onnx-int8"),
        gpu=True,
    )
)
register(
    Architecture(
        "crf",
        loader="serkit.models.registry:load_crf",
        trainer="serkit.training.crf:train",
        runtimes=("crf",),  # crfsuite's weights, decoded in numpy: never torch nor ONNX
    )
)


def runtimes_help() -> str:
    """``--runtime``'s help, from the table: every command that loads a model shows it."""
    per_arch = ", ".join(
        f"{', '.join(arch.runtimes)} (a {arch.name})" for arch in ARCHITECTURES.values()
    )
    return (
        f"{AUTO_RUNTIME} (ONNX when the model has it; on a GPU the torch weights when it has "
        f"them), {per_arch}."
    )
