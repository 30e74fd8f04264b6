"""The benchmarked systems and protocols, shared by quality.py, speed.py and errors.py.

Protocols (issue 8; data under ``../shared/data``):

* **W1** train on ``wikiser-small/dev.txt`` minus its validation slice (0-based sentence
  position % 10 == 9), select on that slice, report on ``wikiser-small/test.txt``.
* **X1** the W1 model zero-shot on ``softner-9/test.txt``; predicted WikiSER types mapped
  with ``wikiser:softner-9`` (other types -> O).
* **S1** train on ``stackoverflow-ner/train.txt`` mapped to SoftNER-9
  (``stackoverflow-ner:softner-9``), select on ``softner-9/dev.txt``, report on
  ``softner-9/test.txt``.
* **S2** train on ``sner/train.txt`` with its last 10% of sentences as validation, report
  on ``sner/test.txt`` in its own 5 types.

Every system reads its data through ``serkit.training.data`` (``read_labelled`` +
``split_train_dev``), so all of them train and select on exactly the same sentences.
Systems: ``weak`` (lexicon weak labeller), ``crf``, ``minilm-vanilla``, ``minilm-selfreg``
(trained by ``serkit train`` from ``configs/``) and ``spacy`` (spaCy 3.8 NER, efficiency
config, trained with ``spacy train`` on Docs built from serkit's tokens).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _results import DATA, ROOT, rel, worker_env
from serkit.files.atomic import atomic_write
from serkit.models.folder import CARD_NAME, LEXICON
from serkit.tagger import Tagger
from serkit.tokens import Sentence

#: Trained bench models and cached predictions (ignored by git).
RUNS = ROOT / "runs" / "bench"


@dataclass(frozen=True)
class Protocol:
    name: str
    test: Path
    #: the protocol whose model is scored (X1 -> W1); itself for trained protocols
    model_from: str
    #: predicted types mapped into the test label set before scoring
    eval_mapping: str | None = None
    train: Path | None = None
    dev: Path | None = None
    train_mapping: str | None = None
    val_slice: bool = False
    val_tail: float | None = None


PROTOCOLS: dict[str, Protocol] = {
    "W1": Protocol("W1", DATA / "wikiser-small/test.txt", "W1",
                   train=DATA / "wikiser-small/dev.txt", val_slice=True),
    "X1": Protocol("X1", DATA / "softner-9/test.txt", "W1", eval_mapping="wikiser:softner-9"),
    "S1": Protocol("S1", DATA / "softner-9/test.txt", "S1",
                   train=DATA / "stackoverflow-ner/train.txt", dev=DATA / "softner-9/dev.txt",
                   train_mapping="stackoverflow-ner:softner-9"),
    "S2": Protocol("S2", DATA / "sner/test.txt", "S2",
                   train=DATA / "sner/train.txt", val_tail=0.1),
}  # fmt: skip

SYSTEMS = ("weak", "crf", "minilm-vanilla", "minilm-selfreg", "spacy")
TRANSFORMERS = ("minilm-vanilla", "minilm-selfreg")
#: (transformer system, training protocol) -> the config that trains it
TRANSFORMER_CONFIGS = {
    ("minilm-vanilla", "W1"): "configs/w1.toml",
    ("minilm-selfreg", "W1"): "configs/w1-selfreg.toml",
    ("minilm-vanilla", "S1"): "configs/s1.toml",
    ("minilm-selfreg", "S1"): "configs/s1-selfreg.toml",
    ("minilm-vanilla", "S2"): "configs/s2.toml",
    ("minilm-selfreg", "S2"): "configs/s2-selfreg.toml",
}


def train_dev(proto: Protocol) -> tuple[list[Sentence], list[Sentence]]:
    """The protocol's training and validation sentences, exactly as ``serkit train`` cuts them."""
    from serkit.training.data import read_labelled, split_train_dev

    assert proto.train is not None, f"{proto.name} trains no model"
    sents = read_labelled(str(proto.train), None, proto.train_mapping)
    train, dev = split_train_dev(sents, slice_=proto.val_slice, tail=proto.val_tail)
    if proto.dev is not None:
        dev = read_labelled(str(proto.dev), None, proto.train_mapping)
    return train, dev


def test_sentences(proto: Protocol) -> list[Sentence]:
    from serkit.files import read_all

    return read_all(proto.test)


def preds_file(system: str, protocol: str) -> Path:
    """Where ``bench/quality.py`` keeps a system's test predictions (for ``bench/errors.py``)."""
    return RUNS / "preds" / f"{system}-{protocol}.json"


def write_json(path: Path, obj: Any) -> None:
    with atomic_write(path) as f:
        json.dump(obj, f, indent=1)


# -- weak labeller ----------------------------------------------------------------------
WEAK_RATIOS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def weak_f1(
    lex: Any, gold: Sequence[Sentence], case: str, min_ratio: float, mapping: str | None = None
) -> float:
    """Strict micro F1 of the lexicon's matches (``case``, ``min_ratio``) on ``gold``."""
    from serkit.evaluate import evaluate

    m = lex.matcher(case=case, min_ratio=min_ratio)
    return evaluate([s.tags for s in gold], [m.tags(s.tokens) for s in gold], mapping=mapping).f1


def select_weak(lex: Any, dev: Sequence[Sentence]) -> tuple[str, float, float]:
    """(case policy, minimum labelled ratio, validation F1) with the best F1 on ``dev``."""
    from serkit.lexicon import CASE_POLICIES

    best = ("smart", 0.0, -1.0)
    for case in CASE_POLICIES:
        for r in WEAK_RATIOS:
            f = weak_f1(lex, dev, case, r)
            if f > best[2]:
                best = (case, r, f)
    return best


def train_weak(proto: Protocol, out: Path) -> dict[str, Any]:
    """Lexicon from the training part; case policy and min ratio picked on validation."""
    from serkit.lexicon import Lexicon

    train, dev = train_dev(proto)
    lex = Lexicon.build(train)
    best = select_weak(lex, dev)
    out.mkdir(parents=True, exist_ok=True)
    lex.save(out / LEXICON)
    info = {"arch": "weak", "case": best[0], "min_ratio": best[1], "dev_f1": best[2],
            "forms": len(lex), "types": lex.types, "protocol": proto.name}  # fmt: skip
    write_json(out / "weak.json", info)
    return info


class WeakTagger(Tagger):
    """The lexicon weak labeller behind the ``Tagger`` interface (leftmost-longest match)."""

    def __init__(self, model_dir: Path) -> None:
        from serkit.labels import bio_labels
        from serkit.lexicon import Lexicon

        self.card = json.loads((Path(model_dir) / "weak.json").read_text())
        lex = Lexicon.load(Path(model_dir) / LEXICON)
        self.matcher = lex.matcher(case=self.card["case"], min_ratio=self.card["min_ratio"])
        self.labels = bio_labels(self.card["types"])

    def predict_words(self, batch: Sequence[Sequence[str]]) -> list[tuple[list[str], list[float]]]:
        return [(self.matcher.tags(toks), [1.0] * len(toks)) for toks in batch]


# -- CRF ------------------------------------------------------------------------------
def crf_config(proto: Protocol) -> dict[str, Any]:
    """The CRF training config dict for a protocol (``serkit.models.crf`` defaults)."""
    cfg: dict[str, Any] = {"train": rel(proto.train), "protocol": proto.name}
    if proto.val_slice:
        cfg["val_slice"] = True
    if proto.val_tail:
        cfg["val_tail"] = proto.val_tail
    if proto.dev:
        cfg["dev"] = rel(proto.dev)
    if proto.train_mapping:
        cfg["mapping"] = proto.train_mapping
    return cfg


def train_crf(proto: Protocol, out: Path) -> dict[str, Any]:
    from serkit.training.crf import train_crf_from_config

    cwd = os.getcwd()
    os.chdir(ROOT)  # the config names data relative to the repository root
    try:
        tagger = train_crf_from_config(crf_config(proto), out)
    finally:
        os.chdir(cwd)
    dev = (tagger.card.get("metrics") or {}).get("dev") or {}
    return {"dev_f1": dev.get("f1"), "config": crf_config(proto)}


# -- spaCy ----------------------------------------------------------------------------
#: Training length for ``spacy train`` (the efficiency config's optimiser, batcher and
#: model unchanged): evaluate on the validation set every 200 steps, stop after 1,600
#: steps without improvement, 12 epochs or 4,000 steps (~8 W1 epochs: the batch grows
#: from 100 to 1,000 words), whichever comes first; model-best is the one scored.
SPACY_OVERRIDES = {
    "training.max_epochs": "12",
    "training.max_steps": "4000",
    "training.patience": "1600",
    "training.eval_frequency": "200",
    "system.seed": "0",
    # Train and score on serkit's tokens: no spaCy tokenisation, no re-alignment.
    "corpora.train.gold_preproc": "true",
    "corpora.dev.gold_preproc": "true",
}


def spaces_for(tokens: Sequence[str]) -> list[bool]:
    """Whether each token is followed by a space in serkit's detokenised text."""
    from serkit.tokenize import detokenize

    text, pos, out = detokenize(tokens), 0, []
    for tok in tokens:
        i = text.find(tok, pos) if tok else pos
        pos = (i if i >= 0 else pos) + len(tok)
        out.append(text[pos : pos + 1] == " ")
    if out:
        out[-1] = False
    return out


def make_doc(
    vocab: Any, tokens: Sequence[str], tags: Sequence[str] | None = None, spaces: bool = True
) -> Any:
    """A one-sentence spaCy Doc on exactly these tokens (IOB2 gold entities if given).

    ``spaces``: the detokenised text's spacing (training data); False = a space after
    every token, for tagging (the NER features, NORM/PREFIX/SUFFIX/SHAPE, ignore spacing).
    """
    from spacy.tokens import Doc

    words = [t if t else "_" for t in tokens]  # spaCy has no empty tokens; keep the count
    return Doc(vocab, words=words, spaces=spaces_for(words) if spaces else None,
               ents=list(tags) if tags else None,
               sent_starts=[True] + [False] * (len(words) - 1))  # fmt: skip


def to_docbin(sentences: Sequence[Sentence], path: Path) -> int:
    import spacy
    from spacy.tokens import DocBin

    from serkit.labels import repair_iob

    vocab = spacy.blank("en").vocab
    db = DocBin(store_user_data=False)
    n = 0
    for s in sentences:
        if s.tokens:
            db.add(make_doc(vocab, s.tokens, repair_iob(s.tags)[0]))
            n += 1
    with atomic_write(path, "wb") as f:
        f.write(db.to_bytes())
    return n


def train_spacy(proto: Protocol, out: Path, log=print) -> dict[str, Any]:
    """``spacy init config --optimize efficiency`` then ``spacy train`` on the protocol data."""
    import shutil

    train, dev = train_dev(proto)
    out.mkdir(parents=True, exist_ok=True)
    n_train = to_docbin(train, out / "train.spacy")
    n_dev = to_docbin(dev, out / "dev.spacy")
    spacy_cli = [sys.executable, "-m", "spacy"]
    cfg = out / "config.cfg"
    init = [*spacy_cli, "init", "config", "--lang", "en", "--pipeline", "ner",
            "--optimize", "efficiency", "--force", str(cfg)]  # fmt: skip
    subprocess.run(init, check=True, capture_output=True, text=True)
    for d in ("model-best", "model-last"):
        shutil.rmtree(out / d, ignore_errors=True)
    cmd = [
        *spacy_cli,
        "train",
        str(cfg),
        "--output",
        str(out),
        "--paths.train",
        str(out / "train.spacy"),
        "--paths.dev",
        str(out / "dev.spacy"),
    ]
    for k, v in SPACY_OVERRIDES.items():
        cmd += [f"--{k}", v]  # fmt: skip
    env = worker_env(1)  # single-threaded numerics (BLAS/OpenMP)
    log(f"spacy train {proto.name}: {n_train} train / {n_dev} validation sentences")
    t0 = time.perf_counter()
    best, steps = None, 0
    with (
        atomic_write(out / "train.log") as logf,
        subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        ) as proc,
    ):
        for line in proc.stdout:  # type: ignore[union-attr]
            logf.write(line)
            cols = line.split()
            if len(cols) >= 6 and cols[0].isdigit() and cols[1].isdigit():
                # E  #  LOSS TOK2VEC  LOSS NER  ENTS_F  ENTS_P  ENTS_R  SCORE
                steps, f = int(cols[1]), float(cols[4]) / 100
                best = f if best is None else max(best, f)
                log(f"  spacy {proto.name} epoch {cols[0]} step {steps}: validation F1 {f:.4f} "
                    f"({time.perf_counter() - t0:.0f} s)")  # fmt: skip
        proc.wait()
        if proc.returncode:
            raise RuntimeError(f"spacy train failed ({proc.returncode}); see {out}/train.log")
    wall = time.perf_counter() - t0
    for f in ("train.spacy", "dev.spacy"):
        (out / f).unlink(missing_ok=True)
    info = {"arch": "spacy", "dev_f1": best, "steps": steps, "train_wall_s": round(wall, 1),
            "train_sentences": n_train, "dev_sentences": n_dev, "overrides": SPACY_OVERRIDES,
            "command": " ".join("python" if c == sys.executable else c for c in cmd)}  # fmt: skip
    write_json(out / "spacy-bench.json", info)
    return info


class SpacyTagger(Tagger):
    """A trained spaCy pipeline run on Docs built from serkit's tokens (1:1 alignment)."""

    def __init__(self, model_dir: Path, batch_size: int = 256) -> None:
        import spacy

        path = Path(model_dir)
        self.nlp = spacy.load(path / "model-best" if (path / "model-best").is_dir() else path)
        self.batch_size = batch_size
        types = sorted(self.nlp.get_pipe("ner").labels)
        self.labels = ["O"] + [f"{p}-{t}" for t in types for p in "BI"]
        self.card = {"arch": "spacy", "spacy": self.nlp.meta.get("spacy_version")}

    def predict_words(self, batch: Sequence[Sequence[str]]) -> list[tuple[list[str], list[float]]]:
        docs = (make_doc(self.nlp.vocab, toks, spaces=False) for toks in batch)
        out = []
        for doc in self.nlp.pipe(docs, batch_size=self.batch_size):
            tags = [f"{t.ent_iob_}-{t.ent_type_}" if t.ent_type_ else "O" for t in doc]
            out.append((tags, [1.0] * len(tags)))
        return out


# -- loading any system ---------------------------------------------------------------
def bench_model_dir(system: str, train_protocol: str) -> Path:
    return RUNS / f"{system}-{train_protocol}"


def load_system(
    system: str, model_dir: Path, threads: int = 1, scheme: str | None = None
) -> Tagger:
    if system == "weak":
        return WeakTagger(model_dir)
    if system == "spacy":
        return SpacyTagger(model_dir)
    from serkit.models.registry import load_tagger

    return load_tagger(model_dir, threads=threads, scheme=scheme)


def fingerprint(model_dir: Path) -> str | None:
    """Identifies one trained model: its card's hash (None when nothing is trained there)."""
    import hashlib

    card = Path(model_dir) / CARD_NAME
    if card.is_file():  # minus what scoring scripts add to a card later
        data = {k: v for k, v in json.loads(card.read_text()).items() if k != "results"}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
    for name in ("weak.json", "spacy-bench.json"):
        p = Path(model_dir) / name
        if p.is_file():
            return hashlib.sha256(p.read_bytes()).hexdigest()[:16]
    return None
