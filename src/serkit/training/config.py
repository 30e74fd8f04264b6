"""Training configuration: TOML file plus command-line overrides, one dataclass."""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serkit.errors import SerkitError


@dataclass
class TrainConfig:
    """Every knob of ``serkit train``; the TOML keys have the same names."""

    train: str = ""
    dev: str | None = None
    #: W1 split: sentences with 0-based index % 10 == 9 of ``train`` become the dev set.
    val_slice: bool = False
    #: S2 split: the last ``val_tail`` fraction of ``train``'s sentences become the dev set.
    val_tail: float | None = None
    format: str | None = None
    #: Map the types of train and dev first: ``"src:dst"`` (``stackoverflow-ner:softner-9``)
    #: or a TOML/JSON mapping file.
    mapping: str | None = None
    protocol: str | None = None
    #: Several corpora, each with its own label set (``[[train.corpora]]`` tables: name,
    #: train, dev | val_slice | val_tail, format, mapping, weight, and a declaration: a
    #: built-in name in ``declare`` or inline types/relation/unannotated); see
    #: :mod:`serkit.corpora`. Replaces ``train``/``dev``/``mapping``.
    corpora: list[dict] | None = None
    #: How corpora share the model: single, merge, partial or multihead
    #: (:mod:`serkit.corpora.space`); ``single`` for one ``train`` file.
    mode: str = "single"
    arch: str = "transformer"
    backbone: str | None = "minilm"
    features: list[str] = field(default_factory=lambda: ["case", "lexicon"])
    #: The lexicon feature of a training sentence comes from a lexicon built on the other
    #: folds (jackknife), so the model cannot learn "lexicon tag == gold tag" verbatim.
    lexicon_folds: int = 5
    lexicon_case: str = "smart"
    lexicon_min_ratio: float = 0.0
    epochs: float = 3.0
    max_steps: int | None = None
    lr: float = 1e-4
    #: Learning rate of the new parts (token-type table, classifier); None = lr.
    head_lr: float | None = None
    weight_decay: float = 0.01
    #: Warm-up as a fraction of the optimiser steps.
    warmup: float = 0.1
    batch_tokens: int = 4096
    max_length: int = 128
    stride: int = 32
    k: int = 1
    alpha: float = 0.0
    alpha_warmup: float = 0.1
    dropout: float = 0.1
    #: Keep only the backbone's first N layers (None: all). A cheaper, faster student:
    #: dropping the top layers loses least (Sajjad et al., "On the effect of dropping
    #: layers of pre-trained transformer models", 2023).
    num_layers: int | None = None
    #: Knowledge distillation: a trained serkit transformer (same labels, features and
    #: tokenizer) whose soft tags the student also learns, with this weight and temperature.
    teacher: str | None = None
    distill: float = 1.0
    distill_temperature: float = 2.0
    grad_clip: float = 1.0
    seed: int = 13
    output: str = "runs/model"
    #: Evaluate on dev every N steps (0: once per epoch).
    eval_every: int = 0
    checkpoint_every: int = 200
    keep_best: bool = True
    log_every: int = 20
    threads: int = 2
    # CRF-only knobs (``--arch crf``, read by serkit.models.crf.train_from_config).
    c1: float | None = None
    c2: float | None = None
    max_iterations: int | None = None
    min_freq: int | None = None
    window: int | None = None
    jackknife: int | None = None

    def __post_init__(self) -> None:
        self._check_types()
        positive = ("epochs", "lr", "batch_tokens", "max_length", "threads")
        for name in positive:
            if not getattr(self, name) > 0:
                raise SerkitError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("max_steps", "head_lr", "checkpoint_every", "log_every"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise SerkitError(f"{name} must be > 0, got {value!r}")
        if not 0 <= self.stride < self.max_length:
            raise SerkitError(f"stride must be >= 0 and < max_length, got {self.stride}")
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.warmup <= 1.0:
            raise SerkitError("dropout must be in [0, 1) and warmup in [0, 1]")
        if self.eval_every < 0 or self.weight_decay < 0 or self.grad_clip < 0:
            raise SerkitError("eval_every, weight_decay and grad_clip must be >= 0")
        if self.k < 1:
            raise SerkitError("k must be >= 1")
        if self.alpha < 0:
            raise SerkitError("alpha must be >= 0")
        if self.distill < 0 or self.distill_temperature <= 0:
            raise SerkitError("distill must be >= 0 and distill_temperature > 0")
        if self.num_layers is not None and self.num_layers < 1:
            raise SerkitError("num_layers must be >= 1")
        unknown = set(self.features) - {"case", "lexicon"}
        if unknown:
            raise SerkitError(f"unknown features {sorted(unknown)} (known: case, lexicon)")
        if self.val_tail is not None and not 0.0 < self.val_tail < 1.0:
            raise SerkitError(f"val_tail must be between 0 and 1, got {self.val_tail}")
        if sum(bool(x) for x in (self.val_slice, self.val_tail, self.dev)) > 1:
            raise SerkitError("give one of dev, val_slice and val_tail")
        from serkit.corpora import MODES

        if self.mode not in MODES:
            raise SerkitError(f"unknown mode {self.mode!r} (known: {', '.join(MODES)})")
        if self.corpora is not None:
            if not self.corpora:
                raise SerkitError("corpora is empty: list at least one corpus")
            if self.train or self.dev or self.mapping or self.val_slice or self.val_tail:
                raise SerkitError(
                    "give either corpora (each with its own train/dev) or train/dev/mapping/"
                    "val_slice/val_tail, not both"
                )
        elif self.mode != "single":
            raise SerkitError(f"mode {self.mode!r} needs several corpora ([[train.corpora]])")
        if self.arch not in ("transformer", "crf"):
            raise SerkitError(f"unknown arch {self.arch!r} (use transformer or crf)")

    def _check_types(self) -> None:
        """TOML gives strings, lists and numbers; a wrong one must be an error naming the
        key, not a TypeError deep in training (or a string iterated letter by letter)."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            kinds = _KINDS[f.name]
            if value is None and type(None) in kinds:
                continue
            if float in kinds and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
                setattr(self, f.name, value)
            ok = any(
                isinstance(value, k) and not (k is int and isinstance(value, bool))
                for k in kinds
                if k is not type(None)
            )
            if ok and isinstance(value, list):
                item = dict if f.name == "corpora" else str
                ok = all(isinstance(x, item) for x in value)
            if not ok:
                want = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
                raise SerkitError(f"training option {f.name} must be {want}, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def corpus_specs(self) -> list:
        """The corpora of this run as :class:`serkit.corpora.CorpusSpec` (a plain ``train``
        file is one corpus whose declaration is filled in from its data)."""
        from serkit.corpora import CorpusSpec

        return [CorpusSpec.from_dict(c, f"corpora[{i}]") for i, c in enumerate(self.corpora or [])]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise SerkitError(f"unknown training option(s): {', '.join(unknown)}")
        return cls(**data)


def _kinds(annotation: Any) -> tuple[type, ...]:
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        return tuple(k for a in typing.get_args(annotation) for k in _kinds(a))
    return (origin or annotation,)


#: The accepted Python types of every option, from the annotations (``list`` = of str).
_KINDS = {name: _kinds(t) for name, t in typing.get_type_hints(TrainConfig).items()}


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """A TOML file (keys at top level or under ``[train]``) with ``overrides`` applied
    (``None`` values mean "not given")."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8-sig"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise SerkitError(f"{p}: cannot read training config: {e}") from e
        if isinstance(data.get("train"), dict):
            data = data["train"]
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
    cfg = TrainConfig.from_dict(data)
    if not cfg.train and not cfg.corpora:
        raise SerkitError("no training data: give --train or set train (or corpora) in the config")
    return cfg
