"""Fine-tune a transformer tagger: features, bucketed batches, self-regularization,
dev evaluation with best-checkpoint keeping, and exact resume after a kill."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from serkit.card import CARD_NAME, read_card, sha256_files, write_card
from serkit.corpora import SERKIT_TYPES, CorpusSpec, Declaration, LabelSpace
from serkit.devices import torch_device
from serkit.errors import SerkitError
from serkit.labels import OUTSIDE, bio_labels, split_tag
from serkit.models import folder
from serkit.models.backbone import backbone_tokenizer, resolve_backbone
from serkit.models.encoding import Encoder, FeatureScheme, Window
from serkit.models.heads import Heads
from serkit.models.lexicons import LexiconFeature
from serkit.models.transformer import TransformerTagger, build_model, save_tokenizer
from serkit.tokens import Sentence
from serkit.training.batching import make_batches
from serkit.training.checkpoint import (
    has_checkpoint,
    load_checkpoint,
    read_state,
    save_checkpoint,
)
from serkit.training.config import TrainConfig
from serkit.training.data import (
    check_output_dir,
    data_files,
    label_set,
    read_corpus,
    read_labelled,
    split_description,
    split_train_dev,
)
from serkit.training.distill import distill_loss, load_teacher
from serkit.training.distributed import context
from serkit.training.losses import LOSSES
from serkit.training.output import CHECKPOINT_DIR, METRICS, start_afresh
from serkit.training.selfreg import repeat_batch

#: Lexicon jackknife folds of a transformer when the config leaves ``lexicon_folds`` unset
#: (the CRF's default is off: serkit.models.crf.DEFAULTS).
LEXICON_FOLDS = 5


def build_features(
    cfg: TrainConfig,
    train: Sequence[Sentence],
    labels: Sequence[str],
    corpus_of: Sequence[str] | None = None,
) -> tuple[FeatureScheme, Any, list[list[int]]]:
    """Feature scheme, the full training lexicon (or None), and type ids per training
    sentence. A training sentence's lexicon tags come from a lexicon built on the other
    folds, so the feature is as (un)reliable in training as on unseen text. With
    ``corpus_of`` (each sentence's corpus), that lexicon is typed in the sentence's own
    corpus's convention, as a scheme of that corpus's head reads it at inference."""
    scheme = FeatureScheme(
        case="case" in cfg.features,
        lexicon="lexicon" in cfg.features,
        lexicon_tags=list(labels),
        lexicon_case=cfg.lexicon_case,
        lexicon_min_ratio=cfg.lexicon_min_ratio,
    )
    if not scheme.lexicon:
        return scheme, None, [scheme.word_type_ids(s.tokens) for s in train]
    from serkit.lexicon import Lexicon, jackknife

    full = Lexicon.build(list(train))
    folds = cfg.lexicon_folds if cfg.lexicon_folds is not None else LEXICON_FOLDS
    if folds < 2:
        m = full.matcher(**scheme.matcher_options())
        return scheme, full, [scheme.word_type_ids(s.tokens, m.tags(s.tokens)) for s in train]
    ids: list[list[int]] = [[] for _ in train]
    opts = scheme.matcher_options()
    for lex, members in jackknife(train, folds, cfg.seed):
        taggers: dict[str | None, Any] = {}
        if corpus_of is not None:
            inside = set(members.tolist())
            for name in sorted(set(corpus_of)):
                own = Lexicon.build(
                    [s for i, s in enumerate(train) if corpus_of[i] == name and i not in inside]
                )
                taggers[name] = lex.in_convention(own).matcher(**opts).tags
        merged = lex.matcher(**opts).tags if corpus_of is None else None
        for i in members:
            tags = merged if corpus_of is None else taggers[corpus_of[i]]
            ids[i] = scheme.word_type_ids(train[i].tokens, tags(train[i].tokens))
    return scheme, full, ids


def _param_groups(model: torch.nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
    head_lr = cfg.head_lr if cfg.head_lr is not None else cfg.lr
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        head = name.startswith("classifier") or "token_type_embeddings" in name
        no_decay = name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name
        groups.setdefault((head, no_decay), []).append(p)
    return [
        {
            "params": params,
            "lr": head_lr if head else cfg.lr,
            "weight_decay": 0.0 if no_decay else cfg.weight_decay,
        }
        for (head, no_decay), params in sorted(groups.items())
    ]


def evaluate_tags(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, float]:
    """Strict IOB2 micro P/R/F1 (serkit.evaluate)."""
    from serkit.evaluate import evaluate

    micro = evaluate(gold, pred).micro
    return {"precision": micro.precision, "recall": micro.recall, "f1": micro.f1}


@dataclass
class StepRecord:
    """What one optimiser step tells the callbacks."""

    step: int
    loss: float
    parts: dict[str, float]
    alpha: float


class Callback:
    """Something that happens around training steps (logging, evaluation, checkpoints, or
    your own: ``Trainer(cfg, callbacks=[...])``); runs after each step, in list order.
    Under torchrun yours run on every rank (``trainer.dist.is_main`` is rank 0), the
    built-in writers on rank 0 only."""

    def on_step(self, trainer: Trainer, state: dict[str, Any], record: StepRecord) -> None:
        """After optimiser step ``record.step``; ``state`` is what checkpoints keep."""


class Progress(Callback):
    """The tqdm bar on stderr (quiet unless a terminal or ``progress``)."""

    def __init__(self, trainer: Trainer, state: dict[str, Any]) -> None:
        from tqdm import tqdm

        self.bar = tqdm(
            total=trainer.total_steps, initial=int(state["step"]), desc="train", unit="step",
            file=sys.stderr, disable=not trainer.progress, dynamic_ncols=True,
            mininterval=1.0 if sys.stderr.isatty() else 30.0,
        )  # fmt: skip
        trainer.write = self.bar.write

    def on_step(self, trainer, state, record) -> None:
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


class MetricsLog(Callback):
    """Mean loss, its parts, alpha, lr and speed every ``log_every`` steps (metrics.jsonl)."""

    def __init__(self) -> None:
        self.total, self.n = 0.0, 0

    def on_step(self, trainer, state, record) -> None:
        self.total += record.loss
        self.n += 1
        cfg = trainer.cfg
        if record.step % cfg.log_every and record.step != trainer.total_steps:
            return
        sps = state["sentences_seen"] / max(state["train_seconds"], 1e-9)
        trainer._log({"step": record.step, "epoch": round(record.step / trainer.steps_per_epoch, 4),
                      "loss": self.total / self.n, "ce": record.parts["ce"],
                      "kl": record.parts["kl"], "alpha": record.alpha,
                      "lr": trainer.scheduler.get_last_lr()[0],
                      **({"kd": record.parts["kd"]} if "kd" in record.parts else {}),
                      "sentences_per_s": sps})  # fmt: skip
        self.total, self.n = 0.0, 0


class Evaluate(Callback):
    """Validation every ``eval_every`` steps (0: each epoch) and at the end; the model is
    saved when it improves (or every time with ``keep_best = false``)."""

    def on_step(self, trainer, state, record) -> None:
        step, cfg = record.step, trainer.cfg
        every = cfg.eval_every or trainer.steps_per_epoch
        if step % every and step != trainer.total_steps:
            return
        dev = trainer.evaluate_dev()
        improved = dev is None or dev["f1"] > state["best_f1"]
        trainer._log({"event": "eval", "step": step,
                      "epoch": round(step / trainer.steps_per_epoch, 4), "dev": dev})  # fmt: skip
        if dev is not None:
            per = "".join(f" {n} {r['f1']:.4f}" for n, r in dev.get("corpora", {}).items())
            trainer.write(f"step {step}: dev P {dev['precision']:.4f} R {dev['recall']:.4f} "
                          f"F1 {dev['f1']:.4f}{per}")  # fmt: skip
        if improved or not cfg.keep_best:
            if dev is not None:
                state["best_f1"] = dev["f1"]
            state["best_step"] = step
            trainer.save_model(dev, step, trainer._stats(state, step))


class Checkpoint(Callback):
    """A resumable checkpoint every ``checkpoint_every`` steps and at the end."""

    def on_step(self, trainer, state, record) -> None:
        step, cfg = record.step, trainer.cfg
        if step % cfg.checkpoint_every and step != trainer.total_steps:
            return
        save_checkpoint(trainer.ckpt, trainer.model, trainer.optimizer, trainer.scheduler,
                        {**state, "config": cfg.to_dict(), "labels": trainer.labels,
                         "reading": trainer.read_as, **trainer.data_sha})  # fmt: skip


class Trainer:
    """One training run; ``run()`` returns the output directory."""

    def __init__(
        self, cfg: TrainConfig, *, progress: bool = True, callbacks: Sequence[Callback] = ()
    ) -> None:
        self.cfg = cfg
        self.dist = context()  # one process, or a rank of torchrun/accelerate (distributed.py)
        self.progress = progress and self.dist.is_main
        self.callbacks = list(callbacks)
        self.write = print
        self.out = Path(cfg.output)
        self.ckpt = self.out / CHECKPOINT_DIR

    # -- setup --------------------------------------------------------------------------
    def _setup(self) -> None:
        cfg = self.cfg
        torch.set_num_threads(max(1, cfg.threads))
        torch.manual_seed(cfg.seed)
        self.device = torch_device(self._device_name())
        self._read_data()
        self.backbone_dir = resolve_backbone(cfg.backbone)
        lex_train, lex_labels = self._lexicon_view()
        corpus_of = None
        if cfg.lexicon_conventions and self.multi and self.space.mode == "multihead":
            corpus_of = [self.specs[ci].name for ci in self.sent_corpus]
        self.scheme, self.lexicon, type_ids = build_features(cfg, lex_train, lex_labels, corpus_of)
        self.head_lexicons = self._head_lexicons(lex_train)
        self.model = build_model(
            self.backbone_dir,
            self.labels,
            self.scheme,
            cfg.dropout,
            max_length=cfg.max_length,
            stride=cfg.stride,
            num_layers=cfg.num_layers,
        )
        if self.multi:
            schemes, default = self.space.schemes()
            self.model.config.serkit_heads = [
                {"name": h.name, "labels": list(h.labels)} for h in self.space.heads
            ]
            self.model.config.serkit_schemes = schemes
            self.model.config.serkit_default_scheme = default
        self.model.to(self.device)
        self.forward = self.dist.wrap(self.model)
        self.tagger = TransformerTagger(
            self.model,
            backbone_tokenizer(self.backbone_dir),
            lexicon=self.lexicon,
            lexicons=self._lexicon_feature(),
            max_tokens=8192,
        )
        self.heads: Heads = self.tagger.heads  # read from the config it was built with
        self.encoder: Encoder = self.tagger.encoder
        self.teacher = None
        if cfg.teacher:
            self.teacher = load_teacher(cfg.teacher, self.labels, self.scheme.to_dict())
            self.teacher.to(self.device)
            self._check_teacher_tokenizer(Path(cfg.teacher))
        self.windows: list[Window] = self.encoder.encode([s.tokens for s in self.train_s], type_ids)
        self.lengths = [len(w.input_ids) for w in self.windows]
        self.loss_fn = LOSSES[cfg.loss]
        self.set_table = torch.from_numpy(self.space.set_table()).to(self.device)
        self.head_table = torch.from_numpy(self.space.head_mask()).to(self.device)
        self.steps_per_epoch = len(self._batches(0))
        if cfg.max_steps:
            self.total_steps = cfg.max_steps
        else:
            self.total_steps = max(1, math.ceil(cfg.epochs * self.steps_per_epoch))
        self.optimizer = torch.optim.AdamW(_param_groups(self.model, cfg), lr=cfg.lr)
        from transformers import get_linear_schedule_with_warmup

        self.scheduler = get_linear_schedule_with_warmup(
            self.optimizer, int(cfg.warmup * self.total_steps), self.total_steps
        )

    def _device_name(self) -> str:
        """``cfg.device``, read for this process: under a launcher each rank takes its own
        GPU (``distributed.context`` made it the current one), so a fixed ``cuda:N`` would
        put every rank on one GPU; ``accelerate launch --cpu`` keeps ``auto`` on the CPU."""
        name = self.cfg.device
        if self.dist.world > 1 and name.startswith("cuda:"):
            raise SerkitError(
                f"device {name!r} under a launcher of {self.dist.world} processes: use cuda "
                "or auto (each rank takes its own GPU, LOCAL_RANK)"
            )
        if name == "auto" and os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true"):
            return "cpu"
        return name

    def _read_data(self) -> None:
        """Training and validation sentences of every corpus, the label space, and each
        training word's allowed set (:mod:`serkit.corpora.space`)."""
        cfg = self.cfg
        if cfg.corpora:
            self.specs = cfg.corpus_specs()
            parts = [read_corpus(spec) for spec in self.specs]
            files = [f for sp in self.specs for f in data_files(sp.train)]
            dev_files = [f for sp in self.specs if sp.dev for f in data_files(sp.dev)]
            single_labels = None
        else:
            sentences = read_labelled(cfg.train, cfg.format, cfg.mapping)
            train, dev = split_train_dev(sentences, slice_=cfg.val_slice, tail=cfg.val_tail)
            if cfg.dev:
                dev = read_labelled(cfg.dev, cfg.format, cfg.mapping)
            if not train:
                raise SerkitError(f"{cfg.train}: no training sentences")
            single_labels = label_set(train + dev)
            types = [t[2:] for t in single_labels if t.startswith("B-")]
            decl = Declaration("train", tuple(types), {t: () for t in types}, source=cfg.train)
            self.specs = [CorpusSpec("train", cfg.train, decl)]
            parts = [(train, dev)]
            files = data_files(cfg.train)
            dev_files = data_files(cfg.dev) if cfg.dev else []
        # Fingerprints of the data read: the card's, and a resume's check that the data
        # did not change under the run.
        self.data_sha = {"train_data_sha256": sha256_files(files)}
        if dev_files:
            self.data_sha["dev_data_sha256"] = sha256_files(dev_files)
        self.read_as = self.reading()  # as the data was read: every checkpoint keeps it
        self.space = LabelSpace(cfg.mode, self.specs, single_labels)
        self.multi = cfg.corpora is not None and cfg.mode != "single"
        self.labels = self.space.flat_labels()
        self.train_s: list[Sentence] = []
        self.word_sets: list[list[int]] = []
        self.sent_head: list[int] = []
        self.sent_corpus: list[int] = []
        self.dev_sets: list[tuple[CorpusSpec, list[Sentence]]] = []
        for ci, (spec, (train, dev)) in enumerate(zip(self.specs, parts, strict=True)):
            head = self.space.head_index(spec.name)
            for sent in train:
                self.train_s.append(sent)
                self.word_sets.append(self.space.allowed_ids(spec, sent.tags or []))
                self.sent_head.append(head)
                self.sent_corpus.append(ci)
            if dev:
                self.dev_sets.append((spec, dev))
        self.dev_s = [s for _, dev in self.dev_sets for s in dev]

    def _head_lexicons(self, lex_train: Sequence[Sentence]) -> dict[str, Any]:
        """A multi-head model's corpora's own lexicons (in serkit's types), saved beside the
        merged one: a scheme then reads the lexicon feature in its head's corpus's
        convention (:mod:`serkit.models.lexicons`). Training reads the merged lexicon
        (unless ``lexicon_conventions``); validation reads each head's, as inference does."""
        if not self.multi or self.space.mode != "multihead" or self.lexicon is None:
            return {}
        from serkit.lexicon import Lexicon

        by: dict[str, list[Sentence]] = {}
        for sent, ci in zip(lex_train, self.sent_corpus, strict=True):
            by.setdefault(self.specs[ci].name, []).append(sent)
        return {name: Lexicon.build(sents) for name, sents in by.items()}

    def _lexicon_feature(self) -> LexiconFeature | None:
        """With head lexicons, validation reads each corpus's lexicon feature in its head's
        convention, as the saved model does at inference (each scheme's view picks it)."""
        if self.lexicon is None or not self.head_lexicons:
            return None
        return LexiconFeature(self.lexicon, self.head_lexicons, self.scheme.matcher_options())

    def _lexicon_view(self) -> tuple[list[Sentence], list[str]]:
        """Training sentences in one tag set for the lexicon feature: the corpus's own for
        one corpus, serkit's types (each corpus type as a flat merge renames it) for many."""
        if not self.multi:
            return self.train_s, list(self.space.heads[0].labels)
        by_corpus = {i: sp.declaration for i, sp in enumerate(self.specs)}
        out = []
        for sent, ci in zip(self.train_s, self.sent_corpus, strict=True):
            decl = by_corpus[ci]
            tags = []
            for t in sent.tags or []:
                prefix, typ = split_tag(t)
                new = decl.merge_type(typ) if typ is not None else None
                tags.append(f"{prefix}-{new}" if new else OUTSIDE)
            out.append(Sentence(sent.tokens, tags))
        return out, bio_labels(SERKIT_TYPES)

    def _check_resumable(self, saved: dict[str, Any]) -> None:
        """Refuse to continue on other data or labels: the weights so far came from the
        checkpoint's, and the card would record the new file's checksum."""
        for key, now in self.data_sha.items():
            if saved.get(key, now) != now:
                what = "training" if key.startswith("train") else "dev"
                raise SerkitError(
                    f"{self.ckpt}: cannot resume: the {what} data changed since this run "
                    "started (sha256 differs); restore it or train afresh without --resume"
                )
        if saved.get("labels", self.labels) != self.labels:
            raise SerkitError(f"{self.ckpt}: cannot resume: the label set changed")
        then, now = saved.get("reading"), self.reading()
        if then is not None and then != now:
            what = _changed(then, now, self.specs)
            raise SerkitError(
                f"{self.ckpt}: cannot resume: {what} changed since this run started; restore "
                "it or train afresh without --resume"
            )

    def reading(self) -> dict[str, Any]:
        """How this run reads its data, beyond the files' bytes (the data sha256): each
        corpus's declaration as loaded (a TOML file or built-in is re-read on resume) and
        each label mapping's table. A checkpoint keeps it; a resume refuses a change."""
        from serkit.labels import load_mapping

        declared = self.specs if self.cfg.corpora else []  # else: made from the data
        names = [sp.mapping for sp in self.specs] + [self.cfg.mapping]
        maps = {m: load_mapping(m) for m in names if m}
        doc = {"corpora": [sp.declaration.to_dict() for sp in declared], "mappings": maps}
        return json.loads(json.dumps(doc))

    def _check_teacher_tokenizer(self, teacher_dir: Path) -> None:
        from serkit.models.encoding import load_tokenizer

        try:
            theirs = load_tokenizer(teacher_dir).get_vocab()
        except Exception as e:  # tokenizers raises a bare Exception on a bad file
            raise SerkitError(f"teacher {teacher_dir}: cannot read its tokenizer: {e}") from e
        if theirs != self.encoder.tokenizer.get_vocab():
            raise SerkitError(f"teacher {teacher_dir}: its tokenizer differs from the student's")

    def _epoch_windows(self, epoch: int) -> list[int]:
        """Window indices one epoch visits: each corpus's windows ``weight`` times (the
        fraction by a per-epoch sample without replacement); all once when every weight
        is 1, so a one-corpus run sees exactly what it always did."""
        weights = [sp.weight for sp in self.specs]
        if all(w == 1.0 for w in weights):
            return list(range(len(self.windows)))
        rng = np.random.default_rng([self.cfg.seed, epoch, 11])
        by_corpus: dict[int, list[int]] = {}
        for i, w in enumerate(self.windows):
            by_corpus.setdefault(self.sent_corpus[w.sentence], []).append(i)
        out: list[int] = []
        for ci, idx in sorted(by_corpus.items()):
            n = round(weights[ci] * len(idx))
            full, rest = divmod(n, len(idx))
            out += idx * full
            out += sorted(rng.choice(idx, size=rest, replace=False).tolist())
        return out

    def _batches(self, epoch: int) -> list[list[int]]:
        idx = self._epoch_windows(epoch)
        lengths = [self.lengths[i] for i in idx]
        batches = make_batches(lengths, self.cfg.batch_tokens, self.cfg.seed, epoch)
        return self.dist.share([[idx[j] for j in b] for b in batches])

    # -- pieces -------------------------------------------------------------------------
    def _log(self, record: dict[str, Any]) -> None:
        if not self.dist.is_main:
            return
        with open(self.out / METRICS, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def evaluate_dev(self) -> dict[str, Any] | None:
        """Strict micro P/R/F1 on every corpus's validation set, each in its own types;
        ``f1`` (what selects checkpoints) is their mean."""
        if not self.dev_sets:
            return None
        was_training = self.model.training
        per: dict[str, dict[str, float]] = {}
        for spec, dev in self.dev_sets:
            if self.multi:
                self.tagger.set_view(self.heads.build(spec.name, self.space.eval_scheme(spec)))
            preds = self.tagger.predict_words([s.tokens for s in dev])
            per[spec.name] = evaluate_tags([s.tags for s in dev], [p[0] for p in preds])
        if self.multi:
            self.tagger.set_view(self.heads.view())
        if was_training:
            self.model.train()
        if len(per) == 1:
            return next(iter(per.values()))
        mean = {
            m: sum(r[m] for r in per.values()) / len(per) for m in ("precision", "recall", "f1")
        }
        return {**mean, "corpora": per}

    def save_model(self, dev: dict[str, float] | None, step: int, stats: dict[str, Any]) -> None:
        """The HF-loadable model, tokenizer, lexicon and ``serkit.json`` into the output dir.

        All is written to a staging folder first and renamed in, the card last, so a kill
        or a full disk while writing leaves the previous model whole, and an older model's
        files of any kind go (:func:`serkit.models.folder.staged`)."""
        cfg = self.cfg
        card = {
            "arch": "transformer",
            "labels": self.labels,
            "backbone": cfg.backbone or "minilm",
            "features": self.scheme.to_dict(),
            "config": cfg.to_dict(),
            "train_data_sha256": self.data_sha["train_data_sha256"],
            "split": split_description(slice_=cfg.val_slice, tail=cfg.val_tail),
            "mapping": cfg.mapping,
            **self._corpora_card(),
            "train_sentences": len(self.train_s),
            "dev_sentences": len(self.dev_s),
            "protocol": cfg.protocol,
            "dev": {**(dev or {}), "step": step, "epoch": round(step / self.steps_per_epoch, 3)},
            "training": stats,
        }
        with folder.staged(self.out) as stage:
            self.model.save_pretrained(str(stage), safe_serialization=True)
            save_tokenizer(self.backbone_dir, stage)
            if self.lexicon is not None:
                self.lexicon.save(stage / folder.LEXICON)
            for head, lex in sorted(self.head_lexicons.items()):
                lex.save(stage / folder.head_lexicon(head))
            write_card(stage, card)

    # -- the loop -----------------------------------------------------------------------
    def run(self, resume: bool = False, stop_at: int | None = None) -> Path:
        """Train to the end; ``stop_at`` stops abruptly after that step (simulates a kill).

        The loop (:meth:`steps`) only trains; logging, evaluation with best-model keeping
        and checkpoints are callbacks that see every step, in that order (flair's trainer
        plugins, spaCy's loop generator).
        """
        cfg = self.cfg
        check_output_dir(self.out, self._inputs())
        self.dist.on_main(lambda: self.out.mkdir(parents=True, exist_ok=True))
        self._setup()
        state: dict[str, Any] = {"step": 0, "best_f1": -1.0, "train_seconds": 0.0,
                                 "sentences_seen": 0, "best_step": None}  # fmt: skip
        if resume and self.dist.on_main(lambda: has_checkpoint(self.ckpt)):
            self._check_resumable(read_state(self.ckpt))
            state.update(load_checkpoint(self.ckpt, self.model, self.optimizer, self.scheduler))
            if state["step"] > self.total_steps:  # else "done" with weights the plan never saw
                raise SerkitError(
                    f"{self.ckpt}: the checkpoint is at step {state['step']}, past the "
                    f"{self.total_steps} steps this run is now planned for: nothing to train; "
                    "give a longer --epochs or --max-steps"
                )
            self._log({"event": "resume", "step": state["step"]})
        elif not resume:
            self.dist.on_main(lambda: start_afresh(self.out, self.cfg.overwrite))
        self._log({"event": "start", "step": int(state["step"]), "total_steps": self.total_steps,
                   "steps_per_epoch": self.steps_per_epoch, "train_sentences": len(self.train_s),
                   "train_windows": len(self.windows), "config": cfg.to_dict()})  # fmt: skip
        writers = [MetricsLog(), Evaluate(), Checkpoint()] if self.dist.is_main else []
        callbacks = [Progress(self, state), *writers, *self.callbacks]
        for record in self.steps(state):
            for cb in callbacks:
                cb.on_step(self, state, record)
            if stop_at is not None and record.step >= stop_at:
                callbacks[0].close()
                self.dist.barrier()
                return self.out
        callbacks[0].close()
        step = state["step"]
        self._log({"event": "done", "step": step, "best_f1": state["best_f1"],
                   "best_step": state["best_step"], **self._stats(state, step)})  # fmt: skip
        self.dist.on_main(self._mark_finished)
        return self.out

    def steps(self, state: dict[str, Any]) -> Iterator[StepRecord]:
        """One optimiser step per item, from ``state["step"]`` to the end; the batches of a
        step depend only on (seed, epoch, position), so a resumed run sees the same ones."""
        cfg = self.cfg
        step = int(state["step"])
        alpha_from = int(cfg.alpha_warmup * self.total_steps)
        self.model.train()
        epoch, pos = divmod(step, self.steps_per_epoch)
        batches = self._batches(epoch)
        while step < self.total_steps:
            t0 = time.perf_counter()
            if pos >= len(batches):
                epoch, pos = epoch + 1, 0
                batches = self._batches(epoch)
            batch = [self.windows[i] for i in batches[pos]]
            pos += 1
            alpha = cfg.alpha if step >= alpha_from else 0.0
            loss, parts = self._loss(batch, alpha)
            if not torch.isfinite(loss):
                raise SerkitError(
                    f"step {step + 1}: the training loss is {float(loss)} (not finite); the "
                    "weights or the data are damaged, or lr is too high; the last checkpoint "
                    f"in {self.ckpt} is from before this step"
                )
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            step += 1
            state["step"] = step
            state["sentences_seen"] += self.dist.total(len({w.sentence for w in batch}))
            state["train_seconds"] += time.perf_counter() - t0
            yield StepRecord(step, float(loss.detach()), parts, alpha)

    def _loss(self, batch: list[Window], alpha: float) -> tuple[torch.Tensor, dict[str, float]]:
        """The configured loss (:data:`LOSSES`) on one batch, plus distillation if asked."""
        cfg = self.cfg
        dev = self.device
        inputs = {k: torch.from_numpy(v).to(dev) for k, v in self.encoder.pad(batch).items()}
        labels = torch.from_numpy(self.encoder.labels(batch, self.word_sets)).to(dev)
        allowed = self.set_table[labels.clamp(min=0)] & (labels >= 0).unsqueeze(-1)
        head_mask = self.head_table[[self.sent_head[w.sentence] for w in batch]]
        logits = self.forward(**repeat_batch(inputs, cfg.k)).logits
        loss, parts = self.loss_fn(logits, allowed, head_mask, cfg.k, alpha)
        if self.teacher is not None:
            with torch.no_grad():
                soft = self.teacher(**inputs).logits
            kd = distill_loss(
                logits, soft, labels, cfg.k, cfg.distill_temperature, head_mask=head_mask
            )
            loss = loss + cfg.distill * kd
            parts["kd"] = float(kd.detach())
        return self.dist.weigh(loss, parts, allowed.any(-1))

    def _inputs(self) -> list[str | None]:
        """Every path the run reads: the output folder may be none of them nor inside one
        (saving would overwrite the data, the teacher or the backbone's weights)."""
        cfg = self.cfg
        paths: list[str | None] = [cfg.train, cfg.dev, cfg.teacher]
        for c in cfg.corpora or []:
            paths += [c.get("train"), c.get("dev")]
        if cfg.backbone and Path(cfg.backbone).expanduser().is_dir():
            paths.append(cfg.backbone)
        return paths

    def _mark_finished(self) -> None:
        """The card of a run that ended says so; a killed run's card says ``finished:
        false`` (its model is the best so far, not the end of the schedule)."""
        if (self.out / CARD_NAME).is_file():
            card = read_card(self.out)
            card.setdefault("training", {})["finished"] = True
            write_card(self.out, card)

    def _corpora_card(self) -> dict[str, Any]:
        if not self.multi:
            return {}
        return {
            "mode": self.cfg.mode,
            "corpora": [sp.to_dict() for sp in self.specs],
            "schemes": self.heads.names,
            "default_scheme": self.heads.default,
        }

    def _stats(self, state: dict[str, Any], step: int) -> dict[str, Any]:
        secs = state["train_seconds"]
        epochs = step / self.steps_per_epoch
        return {
            "steps": step,
            "epochs": round(epochs, 3),
            "train_seconds": round(secs, 1),
            "seconds_per_epoch": round(secs / epochs, 1) if epochs else None,
            "sentences_per_s": round(state["sentences_seen"] / secs, 2) if secs else None,
            "threads": self.cfg.threads,
            "device": str(self.device),
            "finished": False,
        }


def _changed(then: dict[str, Any], now: dict[str, Any], specs: Sequence[CorpusSpec]) -> str:
    """What differs between two :meth:`Trainer.reading` records, in words."""
    for old, new, spec in zip(then.get("corpora", []), now["corpora"], specs, strict=False):
        if old != new:
            return f"the declaration of corpus {spec.name!r} ({spec.declaration.source})"
    for name, table in now["mappings"].items():
        if then.get("mappings", {}).get(name) != table:
            return f"the mapping {name}"
    return "how the data is read"


def train(cfg: TrainConfig, *, resume: bool = False, progress: bool = True) -> Path:
    """Train a transformer tagger as ``cfg`` says; the model lands in ``cfg.output``."""
    ckpt = Path(cfg.output) / CHECKPOINT_DIR
    if resume and not context().on_main(lambda: has_checkpoint(ckpt)):
        raise SerkitError(f"{ckpt}: no checkpoint to resume from; train without --resume")
    if resume:
        saved = read_state(ckpt)
        # The run continues with the settings it started with; only where it writes, how
        # many threads it may use, its device and how long it runs can change (a new length re-plans
        # the learning-rate decay from the current step on).
        keep = {"output", "threads", "device", "epochs", "max_steps"}
        cfg = TrainConfig.from_dict(saved["config"] | {k: getattr(cfg, k) for k in keep})
    return Trainer(cfg, progress=progress).run(resume=resume)


__all__ = ["OUTSIDE", "Trainer", "train"]
