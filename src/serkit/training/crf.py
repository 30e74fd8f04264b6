"""CRF training (crfsuite L-BFGS): what ``serkit train --arch crf`` runs.

The tagger itself (predict, save, load) is :class:`serkit.models.crf.CrfTagger`; this
module builds its features from labelled sentences, fits crfsuite and saves the folder.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pycrfsuite

from serkit.errors import SerkitError
from serkit.labels import bio_labels, repair_iob, spans
from serkit.lexicon import Lexicon
from serkit.models.crf import DEFAULTS, LEXICON_FILE, CrfTagger, _matcher, resolve_config
from serkit.models.features import FeatureExtractor
from serkit.types import Sentence


def train(cfg: Any, *, resume: bool = False, progress: bool = True) -> Path:
    """A CRF trains in one go (L-BFGS) and keeps no checkpoint to continue from."""
    if resume:
        raise SerkitError("--resume applies to transformer training, not --arch crf")
    return train_from_config(cfg)


def _training_features(
    train: Sequence[Sentence], cfg: dict[str, Any], lexicon: Lexicon | None
) -> list[list[list[str]]]:
    if lexicon is None:
        fx = FeatureExtractor(None, cfg["window"])
        return [fx(s.tokens) for s in train]
    k = int(cfg["jackknife"])
    if k < 2:
        fx = FeatureExtractor(_matcher(lexicon, cfg), cfg["window"])
        return [fx(s.tokens) for s in train]
    feats: list[list[list[str]] | None] = [None] * len(train)
    for fold in range(k):
        rest = [s for i, s in enumerate(train) if i % k != fold]
        fx = FeatureExtractor(_matcher(Lexicon.build(rest), cfg), cfg["window"])
        for i in range(fold, len(train), k):
            feats[i] = fx(train[i].tokens)
    return feats  # type: ignore[return-value]


def _clean_tags(s: Sentence, i: int) -> list[str]:
    if s.tags is None:
        raise SerkitError(f"training sentence {i} (line {s.line}) has no tags")
    if len(s.tags) != len(s.tokens):
        raise SerkitError(
            f"training sentence {i} (line {s.line}): tags and tokens differ in number"
        )
    try:
        return repair_iob(s.tags)[0]
    except ValueError as e:
        raise SerkitError(f"training sentence {i} (line {s.line}): {e}") from None


def score(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Strict IOB2 micro P/R/F1 (serkit.evaluate) plus per-type F1."""
    from serkit.evaluate import evaluate

    report = evaluate(gold, pred)
    m = report.micro
    return {
        "precision": round(m.precision, 4),
        "recall": round(m.recall, 4),
        "f1": round(m.f1, 4),
        "per_type_f1": {t: round(p.f1, 4) for t, p in sorted(report.per_type.items())},
    }


def train_crf(
    train: Sequence[Sentence],
    dev: Sequence[Sentence] | None,
    out_dir: str | Path | None,
    config: dict[str, Any] | None = None,
    card_extra: dict[str, Any] | None = None,
) -> CrfTagger:
    """Train on ``train`` (lexicon built from it), score on ``dev``, save to ``out_dir``.

    ``card_extra`` lands in the card as is (data files and sha256, protocol...).
    """
    cfg = resolve_config(config)
    train = [s for s in train if s.tokens]
    if not train:
        raise SerkitError("no training sentences")
    ys = [_clean_tags(s, i) for i, s in enumerate(train)]
    t0 = time.perf_counter()
    lexicon = Lexicon.build(train) if cfg["lexicon"] else None
    xs = _training_features(train, cfg, lexicon)
    t_feats = time.perf_counter() - t0

    trainer = pycrfsuite.Trainer(verbose=False)
    for x, y in zip(xs, ys, strict=True):
        trainer.append(x, y)
    del xs
    trainer.set_params(
        {
            "c1": float(cfg["c1"]),
            "c2": float(cfg["c2"]),
            "max_iterations": int(cfg["max_iterations"]),
            "feature.minfreq": float(cfg["min_freq"]),
            "feature.possible_transitions": True,
        }
    )
    tmp_dir = Path(out_dir) if out_dir is not None else Path(tempfile.gettempdir())
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".crf.", suffix=".tmp", dir=tmp_dir)
    os.close(fd)
    try:
        trainer.train(tmp)
        model_bytes = Path(tmp).read_bytes()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    t_train = time.perf_counter() - t0 - t_feats
    log = trainer.logparser.last_iteration or {}

    types = sorted({t for y in ys for _, _, t in spans(y)})
    card: dict[str, Any] = {
        "arch": "crf",
        "labels": bio_labels(types),
        "config": cfg,
        "lexicon": None
        if lexicon is None
        else {"file": LEXICON_FILE, "entries": len(lexicon), "types": lexicon.types},
        "training": {
            "sentences": len(train),
            "tokens": sum(len(s.tokens) for s in train),
            "iterations": log.get("num"),
            "features_s": round(t_feats, 1),
            "train_s": round(t_train, 1),
        },
        **(card_extra or {}),
    }
    tagger = CrfTagger(model_bytes, lexicon, card)
    if dev:
        dev = [s for s in dev if s.tokens]
        gold = [_clean_tags(s, i) for i, s in enumerate(dev)]
        card.setdefault("metrics", {})["dev"] = score(gold, tagger.tag_sentences(dev))
    if out_dir is not None:
        tagger.save(out_dir, card)
    return tagger


# -- config-driven entry point (what `serkit train --arch crf` calls) --------------------
#: Keys of a training config that are not CRF options.
DATA_KEYS = ("train", "dev", "val_slice", "val_tail", "format", "mapping", "protocol")


def _as_paths(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, Path)):
        return [str(value)]
    return [str(v) for v in value]


def train_crf_from_config(cfg: dict[str, Any], out_dir: str | Path) -> CrfTagger:
    """Read the data a config names, train, score, save; returns the tagger.

    Keys: ``train`` (path or list of paths), ``dev`` (path(s) or None), ``val_slice``
    (bool: validation = sentences with index % 10 == 9 of the train files, the rest
    trains: the W1 protocol), ``val_tail`` (float: the last fraction of the train
    sentences validates: the S2 protocol), ``format`` (reader format, default detect), ``mapping``
    (``"src:dst"`` or a file: map train/dev types first, e.g.
    ``stackoverflow-ner:softner-9``), ``protocol`` (a name for the card, e.g. ``W1``),
    plus CRF options (``c1``, ``c2``, ``max_iterations``, ``min_freq``, ``window``,
    ``lexicon``, ``lexicon_case``, ``lexicon_min_ratio``, ``lexicon_min_count``,
    ``jackknife``, ``seed``). Keys with value None take the defaults; other keys are
    an error.
    """
    from serkit.card import sha256_files
    from serkit.training.data import (
        check_output_dir,
        data_files,
        read_labelled,
        split_description,
        split_train_dev,
    )

    cfg = dict(cfg)
    unknown = set(cfg) - set(DATA_KEYS) - set(DEFAULTS)
    if unknown:
        raise SerkitError(f"unknown CRF training option(s): {', '.join(sorted(unknown))}")
    train_paths, dev_paths = _as_paths(cfg.get("train")), _as_paths(cfg.get("dev"))
    if not train_paths:
        raise SerkitError("no training data: set 'train'")
    val_slice, tail = bool(cfg.get("val_slice")), cfg.get("val_tail")
    if (val_slice or tail) and dev_paths:
        raise SerkitError("give either a dev file or val_slice/val_tail, not both")
    fmt, mapping = cfg.get("format"), cfg.get("mapping")
    check_output_dir(out_dir, [*train_paths, *dev_paths])

    def load(paths: list[str]) -> list[Sentence]:
        return [s for p in paths for s in read_labelled(p, fmt, mapping)]

    train, dev = split_train_dev(load(train_paths), slice_=val_slice, tail=tail)
    if dev_paths:
        dev = load(dev_paths)
    split = split_description(slice_=val_slice, tail=tail)
    card_extra = {
        "protocol": cfg.get("protocol"),
        "train_data": {
            "files": [str(Path(p)) for p in train_paths],
            "sha256": sha256_files(f for p in train_paths for f in data_files(p)),
            "split": split,
            "mapping": mapping,
        },
        "dev_data": None
        if not dev
        else {"files": dev_paths or train_paths, "split": "all" if dev_paths else split},
    }
    crf_cfg = {k: v for k, v in cfg.items() if k in DEFAULTS}
    return train_crf(train, dev or None, out_dir, crf_cfg, card_extra=card_extra)


#: TrainConfig fields that carry over to a CRF when set away from their defaults.
_TRAIN_CONFIG_CRF_KEYS = ("lexicon_case", "lexicon_min_ratio", "seed")


def train_from_config(cfg: Any) -> Path:
    """What ``serkit train --arch crf`` calls with its ``TrainConfig``; returns the model dir.

    Data keys (train, dev, val_slice, format, protocol, output) are used as they are;
    ``features`` without ``lexicon`` turns lexicon features off; ``lexicon_case`` and
    ``lexicon_min_ratio`` apply when set away from the TrainConfig defaults (the CRF has its
    own defaults, selected on W1 validation). CRF knobs (``c1``, ``c2``, ``max_iterations``,
    ``min_freq``, ``window``, ``jackknife``) are read when the config has them.
    Transformer-only knobs are ignored.
    """
    import dataclasses

    defaults = {
        f.name: (f.default if f.default is not dataclasses.MISSING else None)
        for f in dataclasses.fields(cfg)
    }
    d: dict[str, Any] = {
        "train": cfg.train,
        "dev": cfg.dev,
        "val_slice": cfg.val_slice,
        "val_tail": cfg.val_tail,
        "format": cfg.format,
        "protocol": cfg.protocol,
    }
    if "lexicon" not in (getattr(cfg, "features", None) or []):
        d["lexicon"] = False
    for key in _TRAIN_CONFIG_CRF_KEYS:
        value = getattr(cfg, key, None)
        if value is not None and value != defaults.get(key):
            d[key] = value
    for key in ("c1", "c2", "max_iterations", "min_freq", "window", "jackknife", "mapping"):
        value = getattr(cfg, key, None)
        if value is not None:
            d[key] = value
    out = Path(cfg.output)
    train_crf_from_config(d, out)
    return out
