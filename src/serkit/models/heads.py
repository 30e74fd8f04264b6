"""Heads and schemes: from a model's raw outputs to log-probabilities in one label set.

A multi-corpus model's classifier is a row of heads (``config.json``: ``serkit_heads``,
each a list of IOB2 tags, in output order). A *scheme* (``serkit_schemes``) says how to
answer in one label set:

* ``head``: the head whose distribution is used (softmax over its slice only);
* ``map``: optional head type -> output type renaming (types it lacks become O); the
  probabilities of tags that land on one output tag are added;
* ``fill``: optional ``{"head", "types"}``: the primary head's O probability is split over
  O and the fill types in the proportions the fill head gives them (a corpus that never
  annotates those types says nothing about them; another corpus's head does);
* ``types``: the output types, in order (default: the head's types after ``map``).

Models without heads (every model before multi-corpus training) have one implicit
scheme: their labels, unchanged. Pure numpy: the torch and ONNX runtimes share it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from serkit.errors import InvalidScheme, ModelLoadError
from serkit.labels import MAPPINGS, OUTSIDE, SCHEMES, bio_labels, split_tag

_EPS = 1e-30


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def _types_of(labels: Sequence[str]) -> list[str]:
    """Entity types in label order; a label that is not an IOB2 tag is skipped here (the
    loader's label check refuses such a model with its own message)."""
    out: list[str] = []
    for t in labels:
        try:
            typ = split_tag(t)[1]
        except ValueError:
            continue
        if typ is not None and typ not in out:
            out.append(typ)
    return out


def _projection(
    src: Sequence[str], dst: Sequence[str], rename: dict[str, str] | None
) -> np.ndarray:
    """``(len(src), len(dst))`` 0/1 matrix: where each source tag's probability goes."""
    index = {t: i for i, t in enumerate(dst)}
    m = np.zeros((len(src), len(dst)))
    for i, tag in enumerate(src):
        prefix, typ = split_tag(tag)
        if typ is not None and rename is not None:
            typ = rename.get(typ)
        target = f"{prefix}-{typ}" if typ is not None else OUTSIDE
        m[i, index.get(target, index[OUTSIDE])] = 1.0
    return m


@dataclass
class View:
    """One scheme of one model: ``apply(raw)`` -> log-probabilities in :attr:`labels`."""

    name: str
    labels: list[str]
    primary: slice
    project: np.ndarray
    fill: tuple[slice, np.ndarray, np.ndarray] | None = None
    #: The primary head's name: whose convention the lexicon feature follows.
    head: str | None = None

    def apply(self, raw: np.ndarray) -> np.ndarray:
        p = _softmax(raw[:, self.primary]) @ self.project
        if self.fill is not None:
            sl, proj, share = self.fill
            q = (_softmax(raw[:, sl]) @ proj) * share  # fill head, O + fill types only
            q = q / np.maximum(q.sum(axis=-1, keepdims=True), _EPS)
            o = p[:, [self.labels.index(OUTSIDE)]]
            p = p * ~share.astype(bool) + o * q
        return np.log(np.maximum(p, _EPS))


def _mappings_from(own: str) -> dict[str, dict[str, str | None]]:
    """Label sets a one-head model in ``own`` can answer in: the built-in mappings, and for
    serkit's own types every declared corpus's projection (serkit.corpora)."""
    from serkit.corpora import BUILTIN, SERKIT_TYPES

    out = {dst: dict(m) for (src, dst), m in MAPPINGS.items() if src == own}
    if set(SCHEMES.get(own, ())) == set(SERKIT_TYPES):
        for name, decl in BUILTIN.items():
            if name != own:
                out.setdefault(name, decl.projection())
    return out


class Heads:
    """The heads and schemes of one model, read from its ``config.json``."""

    def __init__(self, config: dict[str, Any], flat_labels: Sequence[str]) -> None:
        heads = config.get("serkit_heads")
        self.schemes_cfg: dict[str, Any] = dict(config.get("serkit_schemes") or {})
        self.default: str | None = config.get("serkit_default_scheme")
        self.slices: dict[str, slice] = {}
        self.labels_of: dict[str, list[str]] = {}
        if not heads:
            self.slices[""] = slice(0, len(flat_labels))
            self.labels_of[""] = list(flat_labels)
            return
        try:
            off = 0
            for h in heads:
                name, labels = str(h["name"]), [str(x) for x in h["labels"]]
                self.slices[name] = slice(off, off + len(labels))
                self.labels_of[name] = labels
                off += len(labels)
        except (KeyError, TypeError, ValueError) as e:
            raise ModelLoadError(f"config.json: bad serkit_heads: {e!r}") from e
        if off != len(flat_labels):
            raise ModelLoadError(
                f"config.json: serkit_heads cover {off} outputs but the model has "
                f"{len(flat_labels)}"
            )
        if self.default is not None and self.default not in self.schemes_cfg:
            raise ModelLoadError(f"config.json: default scheme {self.default!r} is not defined")

    @property
    def names(self) -> list[str]:
        """The schemes a user may ask for: a multi-head model's own; for a one-head model
        its label set's name and those a built-in mapping reaches (serkit.labels)."""
        if self.schemes_cfg:
            return list(self.schemes_cfg)
        own = self.own_scheme()
        if own is None:
            return []
        return [own] + sorted(_mappings_from(own))

    def own_scheme(self) -> str | None:
        """The known label set (``wikiser``, ``softner-9``...) a one-head model's types are."""
        types = set(_types_of(self.labels_of.get("", [])))
        for name, known in SCHEMES.items():
            if types == set(known):
                return name
        return None

    def view(self, scheme: str | None = None) -> View | None:
        """The view for ``scheme`` (None: the model's default); None when the raw outputs
        already are the answer (a one-head model in its own labels)."""
        if scheme is not None and not isinstance(scheme, str):
            raise InvalidScheme(f"a scheme is a name (str), not {type(scheme).__name__}")
        if not self.schemes_cfg:
            own = self.own_scheme()
            if scheme is None or scheme == own:
                return None
            table = _mappings_from(own).get(scheme) if own is not None else None
            if table is None:
                known = ", ".join(self.names) or "its own labels only"
                raise InvalidScheme(f"unknown scheme {scheme!r} for this model (it knows: {known})")
            return self.build(scheme, {"head": "", "map": {k: v for k, v in table.items() if v}})
        name = scheme if scheme is not None else (self.default or self.names[0])
        spec = self.schemes_cfg.get(name)
        if spec is None:
            known = ", ".join(self.names)
            raise InvalidScheme(f"unknown scheme {name!r} (this model knows: {known})")
        try:
            return self.build(name, spec)
        except (KeyError, TypeError, ValueError) as e:
            raise ModelLoadError(f"config.json: bad scheme {name!r}: {e!r}") from e

    def build(self, name: str, spec: dict[str, Any]) -> View:
        """The view of one scheme given as a dict (see the module docstring)."""
        head = spec["head"]
        src = self.labels_of[head]
        rename = spec.get("map")
        if spec.get("types") is not None:
            types = list(spec["types"])
        elif rename is not None:
            types = []
            for t in _types_of(src):
                if rename.get(t) and rename[t] not in types:
                    types.append(rename[t])
        else:
            types = _types_of(src)
        labels = bio_labels(types)
        view = View(name, labels, self.slices[head], _projection(src, labels, rename), head=head)
        fill = spec.get("fill")
        if fill:
            fsrc = self.labels_of[fill["head"]]
            fill_types = set(fill["types"])
            share = np.array(
                [t == OUTSIDE or split_tag(t)[1] in fill_types for t in labels], dtype=float
            )
            view.fill = (self.slices[fill["head"]], _projection(fsrc, labels, None), share)
        return view
