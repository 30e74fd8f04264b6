"""What a model outputs for a set of corpora, and what each corpus's words allow.

A model's classifier is a row of *heads*: slices of one output layer, each a list of IOB2
tags. How corpora use them is the training *mode*:

* ``single``: one corpus, one head in its own labels (what ``serkit train`` always did);
* ``merge``: one head in serkit's types; every corpus type renamed to its first serkit
  type and trained with cross-entropy (flat concatenation, the baseline);
* ``partial``: one head in serkit's types; each word allows every serkit tag its corpus
  label may stand for, and a corpus's O also allows the types it never annotates; the
  loss is -log of the allowed tags' total probability (:mod:`serkit.training.losses`);
* ``multihead``: one head per corpus in the corpus's own types over the shared encoder,
  so conventions that truly conflict (TensorFlow a Language in WikiSER, a Library in
  Stack Overflow posts) coexist; a *scheme* picks or combines heads at inference.

Every word's target is an *allowed set* of global output indices; cross-entropy is the
special case of a one-element set, so one loss serves every mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from serkit.corpora.declare import SERKIT_TYPES, CorpusSpec, Declaration
from serkit.errors import SerkitError
from serkit.labels import OUTSIDE, bio_labels, split_tag

MODES = ("single", "merge", "partial", "multihead")
SERKIT_HEAD = "serkit"
#: The scheme that answers raw text by default: developer-text conventions.
DEVELOPER = "developer"


@dataclass(frozen=True)
class Head:
    name: str
    labels: tuple[str, ...]


class LabelSpace:
    """Heads of one model, and for each corpus the head it trains and its allowed sets."""

    def __init__(self, mode: str, corpora: Sequence[CorpusSpec], single_labels=None) -> None:
        if mode not in MODES:
            raise SerkitError(f"unknown training mode {mode!r} (known: {', '.join(MODES)})")
        if mode == "single" and len(corpora) != 1:
            raise SerkitError(
                f"mode 'single' trains one corpus, got {len(corpora)}: "
                "choose merge, partial or multihead"
            )
        names = [c.name for c in corpora]
        if len(set(names)) != len(names):
            raise SerkitError(f"corpus names must be unique, got {names}")
        self.mode = mode
        self.corpora = list(corpora)
        if mode == "single":
            labels = tuple(single_labels or bio_labels(corpora[0].declaration.types))
            self.heads = [Head(corpora[0].name, labels)]
        elif mode == "multihead":
            self.heads = [Head(c.name, tuple(bio_labels(c.declaration.types))) for c in corpora]
        else:
            self.heads = [Head(SERKIT_HEAD, tuple(bio_labels(SERKIT_TYPES)))]
        self.offsets: list[int] = []
        total = 0
        for h in self.heads:
            self.offsets.append(total)
            total += len(h.labels)
        self.total = total
        self._sets: list[tuple[int, ...]] = []
        self._set_id: dict[tuple[int, ...], int] = {}

    # -- heads ------------------------------------------------------------------------
    def head_index(self, corpus: str) -> int:
        if self.mode in ("multihead", "single"):
            return [h.name for h in self.heads].index(corpus)
        return 0

    def head_slice(self, corpus: str) -> slice:
        i = self.head_index(corpus)
        return slice(self.offsets[i], self.offsets[i] + len(self.heads[i].labels))

    def flat_labels(self) -> list[str]:
        """One name per output: the head's tag, prefixed with the head's name when there
        are several heads (``config.json``'s id2label)."""
        if len(self.heads) == 1:
            return list(self.heads[0].labels)
        return [f"{h.name}:{t}" for h in self.heads for t in h.labels]

    # -- targets ----------------------------------------------------------------------
    def _allowed_local(self, decl: Declaration, tag: str) -> list[str]:
        """Model tags of the corpus's head that the corpus tag ``tag`` allows."""
        if self.mode in ("single", "multihead"):
            return [tag]
        prefix, ctype = split_tag(tag)
        if ctype is None:
            if self.mode == "merge":
                return [OUTSIDE]
            return [OUTSIDE] + [f"{p}-{s}" for s in decl.unannotated for p in "BI"]
        if self.mode == "merge":
            s = decl.merge_type(ctype)
            return [f"{prefix}-{s}"] if s else [OUTSIDE]
        stypes = decl.relation.get(ctype, ())
        return [f"{prefix}-{s}" for s in stypes] or [OUTSIDE]

    def allowed_ids(self, corpus: CorpusSpec, tags: Sequence[str]) -> list[int]:
        """One allowed-set id per word (:meth:`set_table` turns ids into masks)."""
        head = self.head_index(corpus.name)
        local = {t: i for i, t in enumerate(self.heads[head].labels)}
        off = self.offsets[head]
        out = []
        cache: dict[str, int] = {}
        for tag in tags:
            sid = cache.get(tag)
            if sid is None:
                try:
                    idx = tuple(sorted(off + local[t] for t in self._allowed_local(
                        corpus.declaration, tag)))  # fmt: skip
                except KeyError as e:
                    raise SerkitError(
                        f"{corpus.train}: corpus {corpus.name!r} has tag {tag!r}, which its "
                        f"declaration {corpus.declaration.name!r} does not allow "
                        f"(types: {', '.join(corpus.declaration.types)})"
                    ) from e
                sid = self._set_id.get(idx)
                if sid is None:
                    sid = self._set_id[idx] = len(self._sets)
                    self._sets.append(idx)
                cache[tag] = sid
            out.append(sid)
        return out

    def set_table(self) -> np.ndarray:
        """``(n_sets, total)`` booleans: row ``i`` marks the outputs allowed set ``i`` allows."""
        table = np.zeros((max(1, len(self._sets)), self.total), dtype=bool)
        for i, idx in enumerate(self._sets):
            table[i, list(idx)] = True
        return table

    def head_mask(self) -> np.ndarray:
        """``(n_heads, total)`` booleans: the outputs each head normalises over."""
        m = np.zeros((len(self.heads), self.total), dtype=bool)
        for i, h in enumerate(self.heads):
            m[i, self.offsets[i] : self.offsets[i] + len(h.labels)] = True
        return m

    # -- inference --------------------------------------------------------------------
    def eval_scheme(self, corpus: CorpusSpec) -> dict:
        """The scheme that scores a corpus's validation set in its own types."""
        if self.mode in ("single", "multihead"):
            return {"head": corpus.name}
        proj = corpus.declaration.projection()
        return {"head": SERKIT_HEAD, "map": {s: t for s, t in proj.items() if t}}

    def schemes(self) -> tuple[dict[str, dict], str]:
        """Named inference schemes (``config.json``'s ``serkit_schemes``) and the default.

        One per corpus, in its declaration's name (``wikiser``, ``softner-9``, ``sner``);
        with several corpora also ``developer``: serkit's 12 types in developer-text
        convention. A multi-head model takes it from the StackOverflow head where that
        corpus has a type, and splits the probability of its O over O and the types it
        never annotates (Protocol, Architecture, General_Concept) as the WikiSER head
        does: the partial-label reading of an O, applied at inference.
        """
        out: dict[str, dict] = {}
        for c in self.corpora:
            out.setdefault(c.declaration.name, self.eval_scheme(c))
        if self.mode == "single":
            return out, self.corpora[0].declaration.name
        if self.mode != "multihead":
            out[DEVELOPER] = {"head": SERKIT_HEAD}
            out.setdefault("wikiser", {"head": SERKIT_HEAD})
            return out, DEVELOPER
        serkit_like = [c for c in self.corpora if set(c.declaration.types) == set(SERKIT_TYPES)]
        dev = [c for c in self.corpora if c.declaration.name in ("softner-9", "stackoverflow-ner")]
        if dev and serkit_like:
            primary, fill = dev[0], serkit_like[0]
            to_serkit = {}
            for ctype in primary.declaration.types:
                stypes = primary.declaration.relation[ctype]
                if len(stypes) == 1:
                    to_serkit[ctype] = stypes[0]
            out[DEVELOPER] = {
                "head": primary.name,
                "map": to_serkit,
                "fill": {"head": fill.name, "types": list(primary.declaration.unannotated)},
                "types": list(SERKIT_TYPES),
            }
            return out, DEVELOPER
        if serkit_like:
            return out, serkit_like[0].declaration.name
        return out, self.corpora[0].declaration.name
