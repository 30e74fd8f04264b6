"""Training configuration: TOML file plus command-line overrides, one dataclass."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serkit.devices import check_device
from serkit.errors import SerkitError
from serkit.models.features import MAX_CRF_WINDOW
from serkit.tomlfile import load_table


def opt(default: Any, help: str, group: str, *, factory: Any = None) -> Any:
    """A config field: its default, its one help line (``serkit train --help`` and the
    docs show it) and its group in the config tree (a TOML table of that name)."""
    meta = {"help": help, "group": group}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


#: The config tree: every option belongs to one table (``[train.schedule]``...); a TOML
#: file may also give any option at the top of ``[train]``.
GROUPS = ("data", "model", "loss", "schedule", "run", "crf")


@dataclass
class TrainConfig:
    """Every knob of ``serkit train``, typed once: TOML keys, ``--key value`` overrides on
    the command line, the card's ``config`` and resume all read these fields."""

    # -- data ------------------------------------------------------------------------
    train: str = opt("", "Training data: a file or a WikiSER corpus folder.", "data")
    dev: str | None = opt(None, "Validation data (selects the best checkpoint).", "data")
    val_slice: bool = opt(
        False, "W1 split: sentences with 0-based index % 10 == 9 of train validate.", "data"
    )
    val_tail: float | None = opt(
        None, "S2 split: this last fraction of train's sentences validates.", "data"
    )
    format: str | None = opt(None, "wikiser | conll | jsonl (default: detect).", "data")
    mapping: str | None = opt(
        None, "Map train/dev types first: src:dst (stackoverflow-ner:softner-9) or a file.", "data"
    )
    protocol: str | None = opt(None, "Protocol name for the card (W1, S1, M1...).", "data")
    corpora: list[dict] | None = opt(
        None,
        "Several corpora with their own label sets ([[train.corpora]] tables: name, train, "
        "dev | val_slice | val_tail, format, mapping, weight, declare or "
        "types/relation/unannotated; see serkit.corpora). Replaces train/dev/mapping.",
        "data",
    )
    mode: str = opt(
        "single", "How corpora share the model: single, merge, partial or multihead.", "data"
    )
    # -- model -----------------------------------------------------------------------
    arch: str = opt("transformer", "transformer or crf (a registered architecture).", "model")
    backbone: str | None = opt(
        "minilm", "minilm (packaged), a local model folder or a hub name.", "model"
    )
    features: list[str] = opt(
        None, "Extra word inputs: case, lexicon.", "model", factory=lambda: ["case", "lexicon"]
    )
    lexicon_folds: int | None = opt(
        None,
        "Lexicon feature of a training sentence from a lexicon of the other folds (jackknife, "
        "serkit.lexicon.jackknife), so the model cannot learn 'lexicon tag == gold tag' "
        "verbatim; 0 or 1: off. Unset: 5 for a transformer, off for the CRF.",
        "model",
    )
    lexicon_conventions: bool = opt(
        False,
        "Multi-head: each training sentence's lexicon feature in its own corpus's convention "
        "(Lexicon.in_convention of the other folds), as each scheme reads it at inference.",
        "model",
    )
    lexicon_case: str = opt("smart", "Lexicon match case policy: smart, sensitive, insensitive.",
                            "model")  # fmt: skip
    lexicon_min_ratio: float = opt(
        0.0, "Lexicon entries labelled in at least this share of their mentions.", "model"
    )
    max_length: int = opt(128, "Sub-tokens per window.", "model")
    stride: int = opt(32, "Overlap of long-sentence windows.", "model")
    dropout: float = opt(0.1, "Hidden dropout probability.", "model")
    num_layers: int | None = opt(
        None,
        "Keep only the backbone's first N layers: a cheaper student (dropping the top layers "
        "loses least; Sajjad et al. 2023).",
        "model",
    )
    # -- loss ------------------------------------------------------------------------
    loss: str = opt(
        "selfreg",
        "The training loss, by name (serkit.training.losses.LOSSES): selfreg = partial-label "
        "cross-entropy + alpha * agreement of k dropout passes (k=1: plain cross-entropy).",
        "loss",
    )
    k: int = opt(1, "Self-regularization passes under independent dropout (1 = vanilla).", "loss")
    alpha: float = opt(0.0, "Weight of the agreement (KL) term.", "loss")
    alpha_warmup: float = opt(0.1, "Fraction of steps trained with alpha = 0 first.", "loss")
    teacher: str | None = opt(
        None, "Distil from this trained serkit transformer (same labels, features).", "loss"
    )
    distill: float = opt(1.0, "Weight of the distillation term (with teacher).", "loss")
    distill_temperature: float = opt(2.0, "Softmax temperature of distillation.", "loss")
    # -- schedule --------------------------------------------------------------------
    epochs: float = opt(3.0, "Training epochs (may be fractional).", "schedule")
    max_steps: int | None = opt(None, "Stop after this many optimiser steps.", "schedule")
    lr: float = opt(1e-4, "Peak learning rate of the encoder.", "schedule")
    head_lr: float | None = opt(
        None, "Learning rate of the new parts (classifier, feature table); none = lr.", "schedule"
    )
    weight_decay: float = opt(0.01, "AdamW weight decay.", "schedule")
    warmup: float = opt(0.1, "Warm-up as a fraction of the optimiser steps.", "schedule")
    batch_tokens: int = opt(
        4096, "Batch size in sub-tokens (rows x longest row, padding included).", "schedule"
    )
    grad_clip: float = opt(1.0, "Gradient norm clip (0: off).", "schedule")
    seed: int = opt(13, "Seed of every random choice.", "schedule")
    # -- run -------------------------------------------------------------------------
    output: str = opt("runs/model", "Output model folder.", "run")
    eval_every: int = opt(0, "Evaluate on validation every N steps (0: once per epoch).", "run")
    checkpoint_every: int = opt(200, "Write a resumable checkpoint every N steps.", "run")
    overwrite: bool = opt(
        False, "Start afresh in a folder holding an earlier run's checkpoint (deletes it).", "run"
    )
    keep_best: bool = opt(True, "Keep the best model by validation F1 (else the last).", "run")
    log_every: int = opt(20, "Log the loss every N steps (metrics.jsonl).", "run")
    threads: int = opt(2, "CPU threads for torch.", "run")
    device: str = opt(
        "auto", "Where to train: cpu, cuda, cuda:N, or auto (a CUDA GPU when torch sees one).",
        "run",
    )  # fmt: skip
    # -- crf (read by the CRF architecture) -------------------------------------------
    c1: float | None = opt(None, "CRF L1 penalty.", "crf")
    c2: float | None = opt(None, "CRF L2 penalty.", "crf")
    max_iterations: int | None = opt(None, "CRF L-BFGS iterations.", "crf")
    min_freq: int | None = opt(None, "CRF minimum feature frequency.", "crf")
    window: int | None = opt(
        None, f"CRF context window (words each side, 0 to {MAX_CRF_WINDOW}).", "crf"
    )

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
        self.device = check_device(self.device)
        if self.k < 1:
            raise SerkitError("k must be >= 1")
        if self.alpha < 0:
            raise SerkitError("alpha must be >= 0")
        if self.distill < 0 or self.distill_temperature <= 0:
            raise SerkitError("distill must be >= 0 and distill_temperature > 0")
        if self.num_layers is not None and self.num_layers < 1:
            raise SerkitError("num_layers must be >= 1")
        self._check_ranges()
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
        from serkit.architectures import get
        from serkit.training.losses import LOSSES

        if self.loss not in LOSSES:
            raise SerkitError(f"unknown loss {self.loss!r} (known: {', '.join(LOSSES)})")
        get(self.arch)  # an unknown name is an error listing the registered ones

    def _check_ranges(self) -> None:
        """The options the checks above leave out: each is refused here rather than
        running as something else (a negative fold count as none, a negative CRF penalty)."""
        for name, low, high in (
            ("lexicon_min_ratio", 0.0, 1.0),
            ("alpha_warmup", 0.0, 1.0),
            ("lexicon_folds", 0, None),
            ("c1", 0.0, None),
            ("c2", 0.0, None),
            ("max_iterations", 1, None),
            ("min_freq", 0, None),
            ("window", 0, MAX_CRF_WINDOW),
        ):
            value = getattr(self, name)
            if value is None or (low <= value and (high is None or value <= high)):
                continue
            within = f"between {low} and {high}" if high is not None else f">= {low}"
            raise SerkitError(f"{name} must be {within}, got {value!r}")

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
            if isinstance(value, float) and not math.isfinite(value):  # TOML has nan and inf
                raise SerkitError(f"training option {f.name} must be finite, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def corpus_specs(self, where: str | None = None) -> list:
        """The corpora of this run as :class:`serkit.corpora.CorpusSpec` (a plain ``train``
        file is one corpus whose declaration is filled in from its data); errors name
        ``where`` (the config file) and the corpus."""
        from serkit.corpora import CorpusSpec

        pre = f"{where}: " if where else ""
        return [
            CorpusSpec.from_dict(c, f"{pre}corpora[{i}]") for i, c in enumerate(self.corpora or [])
        ]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        data = dict(data)
        for old, new in RENAMED.items():  # configs and checkpoints saved before a rename
            if old in data:
                value = data.pop(old)
                if value is not None and data.get(new) is None:
                    data[new] = value
        unknown = sorted(set(data) - names)
        if unknown:
            raise SerkitError(f"unknown training option(s): {', '.join(unknown)}")
        return cls(**data)


#: Options that were renamed: old name -> new name (read from old configs and cards).
RENAMED = {"jackknife": "lexicon_folds"}


def _kinds(annotation: Any) -> tuple[type, ...]:
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        return tuple(k for a in typing.get_args(annotation) for k in _kinds(a))
    return (origin or annotation,)


#: The accepted Python types of every option, from the annotations (``list`` = of str).
_KINDS = {name: _kinds(t) for name, t in typing.get_type_hints(TrainConfig).items()}


def _flatten(data: dict[str, Any], where: str) -> dict[str, Any]:
    """Options given in group tables (``[train.schedule] epochs = 2``) joined with those at
    the top; an option in the wrong table, or given twice, is an error naming it."""
    out = {k: v for k, v in data.items() if k not in GROUPS or not isinstance(v, dict)}
    for group in GROUPS:
        table = data.get(group)
        if not isinstance(table, dict):
            continue
        for key, value in table.items():
            if _GROUP_OF.get(key) != group:
                home = _GROUP_OF.get(key)
                hint = f" (it belongs in [{home}])" if home else ""
                raise SerkitError(f"{where}: [{group}] has no option {key!r}{hint}")
            if key in out:
                raise SerkitError(f"{where}: option {key!r} is given twice")
            out[key] = value
    return out


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """A TOML file (options at the top of ``[train]`` or in its group tables) with
    ``overrides`` applied (``None`` values mean "not given")."""
    data: dict[str, Any] = {}
    if path is not None:
        data = _flatten(load_table(path, "train", "training config"), str(path))
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
    cfg = TrainConfig.from_dict(data)
    if not cfg.train and not cfg.corpora:
        raise SerkitError("no training data: give --train or set train (or corpora) in the config")
    if path is not None:
        cfg.corpus_specs(str(path))  # corpora and their declarations, checked naming the file
    return cfg


_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
_SHORT = {"-o": "--output"}
_GROUP_OF = {name: f.metadata.get("group") for name, f in _FIELDS.items()}


def parse_overrides(args: list[str]) -> dict[str, Any]:
    """``--epochs 2 --val-slice --no-keep-best --schedule.lr 1e-4 --features case,lexicon``
    -> option values typed from :class:`TrainConfig` (spaCy-style overrides: every option
    is a flag without a second list of them to keep in step)."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = _SHORT.get(args[i], args[i])
        if not arg.startswith("--"):
            raise SerkitError(f"unexpected argument {arg!r}: options are --name value")
        name, eq, inline = arg[2:].partition("=")
        name = name.rpartition(".")[2].replace("-", "_")  # --schedule.lr: the group is optional
        negate = name.startswith("no_") and name[3:] in _FIELDS and name not in _FIELDS
        key = name[3:] if negate else name
        f = _FIELDS.get(key)
        if f is None or key == "corpora":
            import difflib

            close = difflib.get_close_matches(key, list(_FIELDS), n=1)
            hint = f"; did you mean --{close[0].replace('_', '-')}?" if close else ""
            raise SerkitError(f"unknown training option --{name.replace('_', '-')}{hint}")
        kinds = _KINDS[key]
        if bool in kinds:
            if eq:
                out[key] = _parse_bool(inline, key)
            else:
                out[key] = not negate
            i += 1
            continue
        if eq:
            raw = inline
            i += 1
        else:
            if i + 1 >= len(args):
                raise SerkitError(f"--{name.replace('_', '-')} needs a value")
            raw = args[i + 1]
            i += 2
        out[key] = _parse_value(raw, kinds, key)
    return out


def _parse_bool(raw: str, key: str) -> bool:
    low = raw.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise SerkitError(f"--{key.replace('_', '-')} takes true or false, got {raw!r}")


def _parse_value(raw: str, kinds: tuple[type, ...], key: str) -> Any:
    if type(None) in kinds and raw.strip().lower() in ("none", "null"):
        return None
    if list in kinds:
        return [] if raw.strip().lower() in ("", "none") else [
            x.strip() for x in raw.split(",") if x.strip()]  # fmt: skip
    for kind in (int, float, str):
        if kind in kinds:
            try:
                return kind(raw)
            except ValueError:
                continue
    want = " or ".join(k.__name__ for k in kinds if k is not type(None))
    raise SerkitError(f"--{key.replace('_', '-')} must be {want}, got {raw!r}")


def options_help() -> str:
    """Every option with its help line, by group: the epilog of ``serkit train --help``."""
    lines = []
    for group in GROUPS:
        lines.append(f"\\[{group}]")
        for name, f in _FIELDS.items():
            if f.metadata.get("group") == group and name != "corpora":
                lines.append(f"  --{name.replace('_', '-')}: {f.metadata['help']}")
    return "\n".join(lines)
