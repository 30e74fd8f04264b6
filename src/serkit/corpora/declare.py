"""Corpus declarations: a corpus's own label set and how it relates to serkit's 12 types.

Corpora disagree on conventions and on what they leave unlabelled (StackOverflow NER has
no Protocol, so every HTTP in it is O; S-NER's Fram covers libraries and applications at
once). A declaration states this once, and both directions follow from it:

* ``relation``: corpus type -> the serkit types it may stand for (first = the one a flat
  ``merge`` maps it to; an empty list = no serkit type, the word counts as O);
* ``unannotated``: serkit types the corpus never labels, so its O may hide them.

Training (partial labels) and evaluation (projection of serkit predictions into the
corpus's types) both read these (:mod:`serkit.corpora.space`). Built-in declarations
cover WikiSER, StackOverflow NER (all its types), SoftNER-9 and S-NER; users write their
own in TOML with the same keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serkit.errors import SerkitError
from serkit.labels import SCHEMES, SNER_TYPES, SOFTNER9_TYPES, SONER_TYPES, WIKISER_TYPES
from serkit.tomlfile import load_table

#: The model-side label set every declaration relates to.
SERKIT_TYPES: tuple[str, ...] = WIKISER_TYPES


@dataclass(frozen=True)
class Declaration:
    """A label set and its relation to :data:`SERKIT_TYPES` (see the module docstring)."""

    name: str
    types: tuple[str, ...]
    relation: dict[str, tuple[str, ...]]
    unannotated: tuple[str, ...] = ()
    #: Where the declaration came from, for error messages.
    source: str = "built-in"

    def __post_init__(self) -> None:
        where = f"{self.source}: declaration {self.name!r}"
        if not self.types:
            raise SerkitError(f"{where}: no types")
        missing = [t for t in self.types if t not in self.relation]
        if missing:
            raise SerkitError(f"{where}: type(s) {missing} have no relation to serkit's types")
        extra = sorted(set(self.relation) - set(self.types))
        if extra:
            raise SerkitError(f"{where}: relation names types {extra} not in its types")
        known = set(SERKIT_TYPES)
        for ctype, stypes in self.relation.items():
            bad = [s for s in stypes if s not in known]
            if bad:
                raise SerkitError(
                    f"{where}: type {ctype!r} stands for unknown serkit type(s) {bad} "
                    f"(known: {', '.join(SERKIT_TYPES)})"
                )
        bad = [s for s in self.unannotated if s not in known]
        if bad:
            raise SerkitError(f"{where}: unannotated lists unknown serkit type(s) {bad}")
        paired = {s for stypes in self.relation.values() for s in stypes}
        both = sorted(paired & set(self.unannotated))
        if both:
            raise SerkitError(
                f"{where}: serkit type(s) {both} are both paired with a corpus type and "
                "declared unannotated; a corpus either labels a type or leaves it O"
            )

    def merge_type(self, ctype: str) -> str | None:
        """The one serkit type a flat merge maps ``ctype`` to (None: O)."""
        stypes = self.relation.get(ctype, ())
        return stypes[0] if stypes else None

    def projection(self) -> dict[str, str | None]:
        """serkit type -> corpus type, a function: each serkit type goes to the first corpus
        type (in declaration order) that may stand for it; types it has none of -> O."""
        out: dict[str, str | None] = {s: None for s in SERKIT_TYPES}
        for ctype in self.types:
            for s in self.relation[ctype]:
                if out[s] is None:
                    out[s] = ctype
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "types": list(self.types),
            "relation": {k: list(v) for k, v in self.relation.items()},
            "unannotated": list(self.unannotated),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> Declaration:
        try:
            name = str(data["name"])
            types = tuple(str(t) for t in data["types"])
            relation = {str(k): tuple(str(s) for s in v) for k, v in data["relation"].items()}
            unannotated = tuple(str(s) for s in data.get("unannotated", ()))
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise SerkitError(
                f"{source}: a declaration needs name, types (list), relation (table of "
                f"type -> list of serkit types) and optionally unannotated: {e!r}"
            ) from e
        return cls(name, types, relation, unannotated, source)


def _identity(types: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {t: (t,) for t in types}


_NOT_IN_SOFTNER = tuple(t for t in SERKIT_TYPES if t not in SOFTNER9_TYPES)

#: StackOverflow NER's own types; the code-level ones (Class_Name, Variable_Name...) have no
#: serkit type. From ../shared/data/README.md (the SoftNER-9 mapping) and serkit.labels.
_SONER_RELATION: dict[str, tuple[str, ...]] = {t: () for t in SONER_TYPES} | {
    "Application": ("Application",),
    "Website": ("Application",),
    "Data_Structure": ("Data_Structure",),
    "Data_Type": ("Data_Structure",),
    "User_Interface_Element": ("Data_Structure",),
    "HTML_XML_Tag": ("Data_Structure",),
    "Library": ("Library",),
    "Language": ("Language",),
    "Device": ("Device",),
    "Operating_System": ("Operating_System",),
    "Error_Name": ("Error_Name",),
    "Algorithm": ("Algorithm",),
    "Licence": ("License",),
}

BUILTIN: dict[str, Declaration] = {
    "wikiser": Declaration("wikiser", WIKISER_TYPES, _identity(WIKISER_TYPES)),
    "softner-9": Declaration(
        "softner-9", SOFTNER9_TYPES, _identity(SOFTNER9_TYPES), unannotated=_NOT_IN_SOFTNER
    ),
    "stackoverflow-ner": Declaration(
        "stackoverflow-ner", SONER_TYPES, _SONER_RELATION, unannotated=_NOT_IN_SOFTNER
    ),
    # S-NER (Ye et al. 2016): PL languages; Fram frameworks, libraries and tools; Plat
    # platforms (Android, Windows, JVM); Stan standards (HTTP, XML, JSON, ajax); API names
    # (methods, HTML tags), which serkit's types do not cover.
    "sner": Declaration(
        "sner",
        SNER_TYPES,
        {
            "API": (),
            "Fram": ("Library", "Application"),
            "PL": ("Language",),
            "Plat": ("Operating_System", "Device", "Architecture"),
            "Stan": ("Protocol", "General_Concept"),
        },
        unannotated=("Algorithm", "Data_Structure", "Error_Name", "License"),
    ),
}
assert set(BUILTIN) <= set(SCHEMES)


def load_declaration(spec: str | dict[str, Any], where: str = "config") -> Declaration:
    """A built-in name, a TOML file (keys at top level or under ``[declaration]``), or an
    inline table with the same keys (its errors name ``where``: the config and corpus)."""
    if isinstance(spec, dict):
        return Declaration.from_dict(spec, where)
    if spec in BUILTIN:
        return BUILTIN[spec]
    path = Path(spec)
    if not path.is_file():
        raise SerkitError(
            f"{where}: unknown corpus declaration {spec!r}: give a built-in one "
            f"({', '.join(BUILTIN)}) or a TOML file"
        )
    data = load_table(path, "declaration", "corpus declaration")
    data.setdefault("name", path.stem)
    return Declaration.from_dict(data, str(path))


@dataclass
class CorpusSpec:
    """One training corpus of a config: where its data is, how to split it, how much to
    sample it, and its declaration."""

    name: str
    train: str
    declaration: Declaration
    dev: str | None = None
    val_slice: bool = False
    val_tail: float | None = None
    format: str | None = None
    #: Rename the training file's types into the declaration's first (``src:dst`` or a
    #: mapping file), e.g. StackOverflow NER's 20 types into SoftNER-9's 9.
    mapping: str | None = None
    weight: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    KEYS = ("name", "train", "declare", "dev", "val_slice", "val_tail", "format", "mapping",
            "weight", "types", "relation", "unannotated")  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> CorpusSpec:
        if not isinstance(data, dict):
            raise SerkitError(f"{where}: each [[corpora]] entry is a table, got {data!r}")
        unknown = sorted(set(data) - set(cls.KEYS))
        if unknown:
            raise SerkitError(f"{where}: unknown corpus key(s) {unknown} (known: {cls.KEYS})")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise SerkitError(f"{where}: a corpus needs a name")
        train = data.get("train")
        if not isinstance(train, str) or not train:
            raise SerkitError(f"{where}: corpus {name!r} needs a train file")
        if "types" in data:
            inline = {k: data[k] for k in ("types", "relation", "unannotated") if k in data}
            decl = load_declaration({"name": name, **inline}, where)
        else:
            decl = load_declaration(str(data.get("declare", name)), where)
        weight = data.get("weight", 1.0)
        if (
            not isinstance(weight, int | float)
            or isinstance(weight, bool)
            or not 0 < weight < math.inf  # TOML has nan and inf
        ):
            raise SerkitError(f"{where}: corpus {name!r}: weight must be a finite number > 0")
        tail = data.get("val_tail")
        if tail is not None and not (isinstance(tail, int | float) and 0 < tail < 1):
            raise SerkitError(f"{where}: corpus {name!r}: val_tail must be between 0 and 1")
        splits = sum(bool(data.get(k)) for k in ("dev", "val_slice", "val_tail"))
        if splits > 1:
            raise SerkitError(f"{where}: corpus {name!r}: give one of dev, val_slice, val_tail")
        for key in ("dev", "format", "mapping"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise SerkitError(f"{where}: corpus {name!r}: {key} must be a string")
        return cls(
            name=name,
            train=train,
            declaration=decl,
            dev=data.get("dev"),
            val_slice=bool(data.get("val_slice", False)),
            val_tail=float(tail) if tail is not None else None,
            format=data.get("format"),
            mapping=data.get("mapping"),
            weight=float(weight),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "train": self.train,
            "dev": self.dev,
            "val_slice": self.val_slice,
            "val_tail": self.val_tail,
            "format": self.format,
            "mapping": self.mapping,
            "weight": self.weight,
            **{k: v for k, v in self.declaration.to_dict().items() if k != "name"},
        }
