"""CRF training (crfsuite L-BFGS): what ``serkit train --arch crf`` runs.

The tagger itself (predict, save, load) is :class:`serkit.models.crf.CrfTagger`; this
module builds its features from labelled sentences, fits crfsuite and saves the folder.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pycrfsuite

from serkit.errors import SerkitError
from serkit.labels import bio_labels, repair_iob, spans
from serkit.lexicon import Lexicon, jackknife
from serkit.models.crf import DEFAULTS, LEXICON_FILE, CrfTagger, _matcher, resolve_config
from serkit.models.features import FeatureExtractor
from serkit.tokens import Sentence
from serkit.training.output import start_afresh

if TYPE_CHECKING:
    from serkit.corpora import CorpusSpec


def train(cfg: Any, *, resume: bool = False, progress: bool = True) -> Path:
    """A CRF trains in one go (L-BFGS) and keeps no checkpoint to continue from: a
    ``resume`` is refused before the output folder is touched."""
    if resume:
        raise SerkitError("--resume applies to transformer training, not --arch crf")
    from serkit.training.distributed import from_env

    if from_env()[1] > 1:  # every rank would fit the same CRF into the same folder
        raise SerkitError("the CRF trains in one process: run serkit train without torchrun")
    return train_from_config(cfg)


def _training_features(
    train: Sequence[Sentence], cfg: dict[str, Any], lexicon: Lexicon | None
) -> list[list[list[str]]]:
    if lexicon is None:
        fx = FeatureExtractor(None, cfg["window"])
        return [fx(s.tokens) for s in train]
    k = int(cfg["lexicon_folds"])
    if k < 2:
        fx = FeatureExtractor(_matcher(lexicon, cfg), cfg["window"])
        return [fx(s.tokens) for s in train]
    feats: list[list[list[str]] | None] = [None] * len(train)
    for lex, members in jackknife(train, k, int(cfg["seed"])):
        fx = FeatureExtractor(_matcher(lex, cfg), cfg["window"])
        for i in members:
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

    model_bytes, log, t_train = _fit(zip(xs, ys, strict=True), cfg, out_dir)
    del xs
    types = sorted({t for y in ys for _, _, t in spans(y)})
    card: dict[str, Any] = {
        "arch": "crf",
        "labels": bio_labels(types),
        "config": cfg,
        "lexicon": _lexicon_card(lexicon),
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


def _lexicon_card(lexicon: Lexicon | None) -> dict[str, Any] | None:
    if lexicon is None:
        return None
    return {"file": LEXICON_FILE, "entries": len(lexicon), "types": lexicon.types}


def _fit(
    pairs: Iterable[tuple[list[list[str]], list[str]]],
    cfg: dict[str, Any],
    out_dir: str | Path | None,
) -> tuple[bytes, dict[str, Any], float]:
    """crfsuite L-BFGS over ``(features, tags)`` sequences: model bytes, last iteration's
    log, seconds (appending included)."""
    t0 = time.perf_counter()
    trainer = pycrfsuite.Trainer(verbose=False)
    for x, y in pairs:
        trainer.append(x, y)
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
    return model_bytes, trainer.logparser.last_iteration or {}, time.perf_counter() - t0


# -- several corpora: one model, their styles (feature augmentation) ---------------------
def train_crf_corpora(
    specs: Sequence[CorpusSpec],
    mode: str,
    out_dir: str | Path | None,
    config: dict[str, Any] | None = None,
    card_extra: dict[str, Any] | None = None,
    *,
    overwrite: bool | None = None,
) -> CrfTagger:
    """One crfsuite model on several declared corpora (:mod:`serkit.corpora`).

    Every corpus's types are renamed to the serkit type ``Declaration.merge_type`` gives
    (none: O). ``mode = "merge"`` concatenates them (the baseline). ``mode = "multihead"``
    is the CRF's conflict-aware mode, feature augmentation (Daume 2007): each feature ``f``
    of a word of corpus ``c`` also appears as ``@c|f``, so the shared weights learn what
    the corpora agree on and each corpus's *style* weights learn its own convention
    (TensorFlow a Language in WikiSER, a Library on Stack Overflow); a scheme answers in
    one style (``serkit.models.crf``). crfsuite trains on one tag per word, so there is
    no ``partial`` mode. A corpus's ``weight`` repeats its sentences (fractions: a seeded
    sample). Each corpus's validation set is scored in its own types (its declaration's
    projection); the card holds them under ``metrics.dev.corpora``, ``f1`` their mean.
    With ``overwrite`` (not None), the output folder is started afresh
    (:func:`start_afresh`) once every corpus has been read.
    """
    from dataclasses import replace

    from serkit.corpora import LabelSpace
    from serkit.labels import map_tags
    from serkit.models.features import STYLE_MARK, STYLE_SEP, style_prefix, with_style
    from serkit.training.data import read_corpus

    if mode not in ("merge", "multihead"):
        raise SerkitError(
            f"mode {mode!r} is not one --arch crf trains on several corpora: merge (flat) or "
            "multihead (feature augmentation: one style per corpus); crfsuite learns one "
            "tag per word, so no partial labels"
        )
    space = LabelSpace(mode, specs)  # checks the names are unique
    augment = mode == "multihead"
    if augment:
        for sp in specs:
            if STYLE_SEP in sp.name or sp.name.startswith(STYLE_MARK):
                raise SerkitError(
                    f"corpus name {sp.name!r}: with feature augmentation a name may not hold "
                    f"{STYLE_SEP!r} or start with {STYLE_MARK!r}"
                )
    cfg = resolve_config(config)
    rng = random.Random(int(cfg["seed"]))
    parts = [read_corpus(sp) for sp in specs]
    if overwrite is not None and out_dir is not None:
        start_afresh(out_dir, overwrite)  # after the data: bad data leaves the folder as it was
    train: list[Sentence] = []
    owner: list[int] = []
    copies: list[int] = []
    for ci, (sp, (sents, _)) in enumerate(zip(specs, parts, strict=True)):
        decl = sp.declaration
        merge = {t: decl.merge_type(t) for t in decl.types}
        whole = int(sp.weight)
        for i, s in enumerate(sents):
            n = whole + (rng.random() < sp.weight - whole)
            if not s.tokens or not n:
                continue
            train.append(replace(s, tags=map_tags(_clean_tags(s, i), merge)))
            owner.append(ci)
            copies.append(n)
    if not train:
        raise SerkitError("no training sentences")
    t0 = time.perf_counter()
    lexicon = Lexicon.build(train) if cfg["lexicon"] else None
    xs = _training_features(train, cfg, lexicon)
    t_feats = time.perf_counter() - t0
    prefixes = [style_prefix(sp.name) for sp in specs]

    def pairs(xs: list[list[list[str]]]) -> Iterator[tuple[list[list[str]], list[str]]]:
        for x, s, ci, n in zip(xs, train, owner, copies, strict=True):
            x = with_style(x, prefixes[ci]) if augment else x
            for _ in range(n):
                yield x, s.tags  # type: ignore[misc]

    model_bytes, log, t_train = _fit(pairs(xs), cfg, out_dir)
    del xs
    types = sorted({t for s in train for _, _, t in spans(s.tags or [])})
    schemes, default = space.schemes()
    by_name = {sp.name: sp for sp in specs}
    scheme_specs = {n: _crf_scheme(h, by_name, types) for n, h in schemes.items()}
    card: dict[str, Any] = {
        "arch": "crf",
        "labels": bio_labels(types),
        "config": cfg,
        "lexicon": _lexicon_card(lexicon),
        "mode": mode,
        "corpora": [sp.to_dict() for sp in specs],
        "styles": [sp.name for sp in specs] if augment else [],
        "schemes": list(scheme_specs),
        "default_scheme": default,
        "scheme_specs": scheme_specs,
        "training": {
            "sentences": sum(copies),
            "tokens": sum(len(s.tokens) * n for s, n in zip(train, copies, strict=True)),
            "sentences_by_corpus": {
                sp.name: sum(n for ci, n in zip(owner, copies, strict=True) if ci == k)
                for k, sp in enumerate(specs)
            },
            "iterations": log.get("num"),
            "features_s": round(t_feats, 1),
            "train_s": round(t_train, 1),
        },
        **(card_extra or {}),
    }
    tagger = CrfTagger(model_bytes, lexicon, card)
    per: dict[str, dict[str, Any]] = {}
    for sp, (_, dev) in zip(specs, parts, strict=True):
        dev = [s for s in dev if s.tokens]
        if dev:
            view = tagger.with_spec(_crf_scheme(space.eval_scheme(sp), by_name, types))
            gold = [_clean_tags(s, i) for i, s in enumerate(dev)]
            per[sp.name] = score(gold, view.tag_sentences(dev))
    if per:
        mean = {m: round(sum(r[m] for r in per.values()) / len(per), 4)
                for m in ("precision", "recall", "f1")}  # fmt: skip
        card.setdefault("metrics", {})["dev"] = {**mean, "corpora": per}
    if out_dir is not None:
        tagger.save(out_dir, card)
    return tagger


def _crf_scheme(
    head_scheme: dict[str, Any], corpora: dict[str, CorpusSpec], types: list[str]
) -> dict[str, Any]:
    """A scheme of :meth:`LabelSpace.schemes` (heads of a transformer) as the CRF answers
    it: the one head in serkit's types is the plain model (``style`` None); a corpus's head
    is that corpus's style, projected into its types unless the scheme is in serkit's
    (``developer``, with its ``fill``). ``types`` are the model's."""
    from serkit.corpora.space import SERKIT_HEAD

    head, fill = head_scheme["head"], head_scheme.get("fill")
    mapping: dict[str, str] | None
    if head == SERKIT_HEAD:
        style, mapping = None, head_scheme.get("map")
    elif fill or head_scheme.get("types"):
        style, mapping = head, None
    else:
        proj = corpora[head].declaration.projection()
        style, mapping = head, {s: t for s, t in proj.items() if t}
    if mapping is not None and all(mapping.get(t) == t for t in types):
        mapping = None  # the identity on what the model can say
    out_types = types if mapping is None else list(dict.fromkeys(
        mapping[t] for t in types if t in mapping))  # fmt: skip
    fill_types = [t for t in fill["types"] if t in types] if fill else []
    return {
        "style": style,
        "fill": {"style": fill["head"], "types": fill_types} if fill_types else None,
        "map": mapping,
        "types": out_types,
    }


# -- config-driven entry point (what `serkit train --arch crf` calls) --------------------
#: Keys of a training config that are not CRF options.
DATA_KEYS = ("train", "dev", "val_slice", "val_tail", "format", "mapping", "protocol")


def _as_paths(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, Path)):
        return [str(value)]
    return [str(v) for v in value]


def train_crf_from_config(
    cfg: dict[str, Any], out_dir: str | Path, *, overwrite: bool = False
) -> CrfTagger:
    """Read the data a config names, train, score, save; returns the tagger. A folder that
    holds a model is said to be replaced, and is replaced whole; one with an earlier
    run's checkpoint is refused unless ``overwrite`` (:func:`start_afresh`).

    Keys: ``train`` (path or list of paths), ``dev`` (path(s) or None), ``val_slice``
    (bool: validation = sentences with index % 10 == 9 of the train files, the rest
    trains: the W1 protocol), ``val_tail`` (float: the last fraction of the train
    sentences validates: the S2 protocol), ``format`` (reader format, default detect), ``mapping``
    (``"src:dst"`` or a file: map train/dev types first, e.g.
    ``stackoverflow-ner:softner-9``), ``protocol`` (a name for the card, e.g. ``W1``),
    plus CRF options (``c1``, ``c2``, ``max_iterations``, ``min_freq``, ``window``,
    ``lexicon``, ``lexicon_case``, ``lexicon_min_ratio``, ``lexicon_min_count``,
    ``lexicon_folds``, ``seed``). Keys with value None take the defaults; other keys are
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
    start_afresh(out_dir, overwrite)  # after the data: bad data leaves the folder as it was
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
_TRAIN_CONFIG_CRF_KEYS = ("lexicon_case", "lexicon_min_ratio", "lexicon_folds", "seed")


def train_from_config(cfg: Any) -> Path:
    """What ``serkit train --arch crf`` calls with its ``TrainConfig``; returns the model dir.

    Data keys (train, dev, val_slice, format, protocol, output) are used as they are;
    ``features`` without ``lexicon`` turns lexicon features off; ``lexicon_case`` and
    ``lexicon_min_ratio`` apply when set away from the TrainConfig defaults (the CRF has its
    own defaults, selected on W1 validation). CRF knobs (``c1``, ``c2``, ``max_iterations``,
    ``min_freq``, ``window``) are read when the config has them.
    Transformer-only knobs are ignored. With ``corpora`` (``[[train.corpora]]``), ``mode``
    says how they share the model (:func:`train_crf_corpora`).
    """
    out = Path(cfg.output)
    if cfg.corpora:
        _train_corpora_from_config(cfg, _crf_options(cfg), out)
        return out
    d: dict[str, Any] = {
        "train": cfg.train,
        "dev": cfg.dev,
        "val_slice": cfg.val_slice,
        "val_tail": cfg.val_tail,
        "format": cfg.format,
        "protocol": cfg.protocol,
        **_crf_options(cfg),
    }
    if cfg.mapping is not None:
        d["mapping"] = cfg.mapping
    train_crf_from_config(d, out, overwrite=cfg.overwrite)
    return out


def _crf_options(cfg: Any) -> dict[str, Any]:
    """The CRF options a ``TrainConfig`` sets (see :func:`train_from_config`)."""
    import dataclasses

    defaults = {
        f.name: (f.default if f.default is not dataclasses.MISSING else None)
        for f in dataclasses.fields(cfg)
    }
    d: dict[str, Any] = {}
    if "lexicon" not in (getattr(cfg, "features", None) or []):
        d["lexicon"] = False
    for key in _TRAIN_CONFIG_CRF_KEYS:
        value = getattr(cfg, key, None)
        if value is not None and value != defaults.get(key):
            d[key] = value
    for key in ("c1", "c2", "max_iterations", "min_freq", "window"):
        value = getattr(cfg, key, None)
        if value is not None:
            d[key] = value
    return d


def _train_corpora_from_config(cfg: Any, options: dict[str, Any], out: Path) -> CrfTagger:
    """Several corpora: read the data each names, train, score, save."""
    from serkit.card import sha256_files
    from serkit.training.data import check_output_dir, data_files, read_corpus

    specs = cfg.corpus_specs()
    check_output_dir(out, [p for sp in specs for p in (sp.train, sp.dev)])
    if cfg.mode == "single":
        if len(specs) != 1:
            raise SerkitError(
                f"mode 'single' trains one corpus, got {len(specs)}: choose merge or multihead"
            )
        (sp,) = specs
        train, dev = read_corpus(sp)
        start_afresh(out, cfg.overwrite)  # after the data, as every trainer
        extra = {"protocol": cfg.protocol, "corpora": [sp.to_dict()]}
        return train_crf(train, dev or None, out, options, card_extra=extra)
    files = [f for sp in specs for f in data_files(sp.train)]
    dev_files = [f for sp in specs if sp.dev for f in data_files(sp.dev)]
    extra = {
        "protocol": cfg.protocol,
        "train_data": {"files": [sp.train for sp in specs], "sha256": sha256_files(files)},
        "dev_data": {"files": [sp.dev for sp in specs if sp.dev], "sha256": sha256_files(dev_files)}
        if dev_files
        else None,
    }
    return train_crf_corpora(
        specs, cfg.mode, out, options, card_extra=extra, overwrite=cfg.overwrite
    )
