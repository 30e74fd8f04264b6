"""A fast CRF tagger (crfsuite) with lexicon-match features.

The model directory holds ``crf.crfsuite`` (crfsuite's own binary format, opened
in memory with ``pycrfsuite.Tagger``: nothing is unpickled), ``lexicon.tsv`` (the
lexicon its features were trained with) and the ``serkit.json`` card.

Lexicon features on the training data can be computed *jackknifed* (``jackknife=k``: the
sentences of fold i see a lexicon built from the other folds only), so the CRF does not
learn to trust the lexicon more than it deserves on unseen text. On the W1 validation
slice this lost (0.639 vs 0.649 F1 at 50 iterations): WikiSER's own labels come from a
lexicon, so trusting one pays. The default is therefore off.

Inference runs in ``serkit.models.crf_numpy`` (batched numpy over per-word weight vectors
read from the model file, identical tags to pycrfsuite); ``predict_words_crfsuite`` keeps
the pycrfsuite path as the reference.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pycrfsuite

from serkit.errors import ModelLoadError, SerkitError
from serkit.labels import OUTSIDE, bio_labels, repair_iob, spans
from serkit.lexicon import Lexicon
from serkit.models import folder
from serkit.models.crf_numpy import CrfWeights, FastCrf
from serkit.models.features import FeatureExtractor
from serkit.models.folder import read_card, write_card
from serkit.tagger import Tagger
from serkit.types import Sentence

MODEL_FILE = folder.CRF_MODEL
LEXICON_FILE = folder.LEXICON

#: Defaults selected on the W1 validation slice only (its strict micro F1 below):
#: c1/c2 0.02/0.005: 0.647, 0.05/0.01: 0.649, 0.1/0.05: 0.656, 0.2/0.1: 0.659, 0.4/0.2: 0.658
#: at 50 L-BFGS iterations; 100 iterations: 0.652 (0.05/0.01), 0.654 (0.1/0.05), and twice
#: the training time. Case policy sensitive: 0.646 vs smart 0.649 (0.05/0.01); lexicon
#: min_ratio 0.3: 0.6586 vs 0.0: 0.6589 (0.2/0.1); jackknife 5: 0.639 vs off 0.649 (0.05/0.01).
DEFAULTS: dict[str, Any] = {
    "c1": 0.2,
    "c2": 0.1,
    "max_iterations": 50,
    "min_freq": 1,
    "window": 2,
    "lexicon": True,
    "lexicon_case": "smart",
    "lexicon_min_ratio": 0.0,
    "lexicon_min_count": 1,
    "jackknife": 0,
    "seed": 0,
}


def resolve_config(config: dict[str, Any] | None) -> dict[str, Any]:
    cfg = dict(DEFAULTS)
    for k, v in (config or {}).items():
        if v is not None:
            cfg[k] = v
    unknown = set(cfg) - set(DEFAULTS)
    if unknown:
        raise SerkitError(f"unknown CRF option(s): {', '.join(sorted(unknown))}")
    if cfg["lexicon_case"] not in ("smart", "sensitive", "insensitive"):
        raise SerkitError(f"unknown lexicon case policy {cfg['lexicon_case']!r}")
    return cfg


def _matcher(lexicon: Lexicon | None, cfg: dict[str, Any]):
    if lexicon is None:
        return None
    return lexicon.matcher(
        case=cfg["lexicon_case"],
        min_ratio=float(cfg["lexicon_min_ratio"]),
        min_count=int(cfg["lexicon_min_count"]),
    )


class CrfTagger(Tagger):
    """``Tagger`` over a crfsuite model; confidence = marginal probability of the chosen tag."""

    batches_itself = True

    def __init__(
        self,
        model_bytes: bytes,
        lexicon: Lexicon | None,
        card: dict[str, Any],
    ) -> None:
        self.card = card
        self.config = resolve_config(card.get("config"))
        self.lexicon = lexicon
        self._model_bytes = model_bytes
        self._tagger = pycrfsuite.Tagger()
        try:
            self._tagger.open_inmemory(model_bytes)
        except (ValueError, OSError) as e:
            raise ModelLoadError(f"not a valid crfsuite model: {e}") from e
        types = sorted({lab[2:] for lab in self._tagger.labels() if lab != OUTSIDE})
        self.labels = card.get("labels") or bio_labels(types)
        self.features = FeatureExtractor(_matcher(lexicon, self.config), self.config["window"])
        self._fast = FastCrf(CrfWeights(model_bytes), self.features)
        if self._fast.labels != list(self._tagger.labels()):
            raise ModelLoadError("crfsuite model labels could not be read back")
        self._lock = threading.Lock()  # caches grow, and a crfsuite tagger holds state

    # -- persistence --------------------------------------------------------------------
    @classmethod
    def load(cls, model_dir: str | Path, card: dict[str, Any] | None = None, **_: Any) -> CrfTagger:
        """Load ``crf.crfsuite`` + ``lexicon.tsv`` + ``serkit.json`` (``card``: already
        read by the caller); extra options are ignored. The model file's bytes are checked
        against the card's sha256 before crfsuite parses them: it crashes the process on a
        damaged file."""
        d = Path(model_dir)
        if card is None:
            card = read_card(d)
        if card.get("arch") != "crf":
            raise ModelLoadError(f"{d}: not a CRF model (arch {card.get('arch')!r})")
        path = d / MODEL_FILE
        try:
            data = folder.read_verified(d, MODEL_FILE, card, folder.MAX_GRAPH_BYTES)
        except ModelLoadError as e:
            raise ModelLoadError(f"{d}: missing or unreadable {MODEL_FILE}: {e}") from e
        lexicon = None
        if resolve_config(card.get("config"))["lexicon"]:
            if not (d / LEXICON_FILE).is_file():
                raise ModelLoadError(
                    f"{d}: the model uses lexicon features but has no {LEXICON_FILE}"
                )
            lex_path = folder.checked_path(d, LEXICON_FILE, card, folder.MAX_LEXICON_BYTES)
            try:
                lexicon = Lexicon.load(lex_path)
            except SerkitError as e:
                raise ModelLoadError(f"{d}: bad {LEXICON_FILE}: {e}") from e
        try:
            return cls(data, lexicon, card)
        except ModelLoadError as e:
            raise ModelLoadError(f"{path}: {e}") from e

    def save(self, out_dir: str | Path, card: dict[str, Any] | None = None) -> Path:
        """Write model file, lexicon and card (each atomically); the card goes last."""
        from serkit.io.atomic import atomic_write

        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        with atomic_write(d / MODEL_FILE, "wb") as f:
            f.write(self._model_bytes)
        if self.lexicon is not None:
            self.lexicon.save(d / LEXICON_FILE)
        if card is not None:
            self.card = card
        write_card(d, self.card)
        return d

    # -- inference ----------------------------------------------------------------------
    def predict_words(self, batch: Sequence[Sequence[str]]) -> list[tuple[list[str], list[float]]]:
        """Viterbi tags and the marginal probability of each chosen tag (batched numpy)."""
        with self._lock:
            return self._fast.predict(batch)

    def predict_words_crfsuite(
        self, batch: Sequence[Sequence[str]]
    ) -> list[tuple[list[str], list[float]]]:
        """The same through pycrfsuite, one sentence at a time: the reference (slower)."""
        out: list[tuple[list[str], list[float]]] = []
        tagger = self._tagger
        with self._lock:
            for tokens in batch:
                if not tokens:
                    out.append(([], []))
                    continue
                tags = tagger.tag(self.features(tokens))
                marginal = tagger.marginal
                out.append((tags, [marginal(t, i) for i, t in enumerate(tags)]))
        return out

    def tag_sentences(
        self, sentences: Sequence[Sentence], batch_size: int = 128
    ) -> list[list[str]]:
        """Tags only (no marginals), in batches of similar length: for evaluation."""
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i].tokens))
        tags: list[list[str]] = [[] for _ in sentences]
        with self._lock:
            for lo in range(0, len(order), batch_size):
                chunk = order[lo : lo + batch_size]
                preds = self._fast.predict([sentences[i].tokens for i in chunk], False)
                for i, (t, _) in zip(chunk, preds, strict=True):
                    tags[i] = t
        return tags


# -- training ---------------------------------------------------------------------------
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
