"""Label schemes, IOB2 helpers and mappings between label sets: the one place for them."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from serkit.errors import SerkitError

OUTSIDE = "O"

WIKISER_TYPES: tuple[str, ...] = (
    "Algorithm", "Application", "Architecture", "Data_Structure", "Device", "Error_Name",
    "General_Concept", "Language", "Library", "License", "Operating_System", "Protocol",
)  # fmt: skip

SOFTNER9_TYPES: tuple[str, ...] = (
    "Algorithm", "Application", "Data_Structure", "Device", "Error_Name", "Language",
    "Library", "License", "Operating_System",
)  # fmt: skip

SNER_TYPES: tuple[str, ...] = ("API", "Fram", "PL", "Plat", "Stan")

#: StackOverflow NER (Tabassum et al. 2020), every type found in its release.
SONER_TYPES: tuple[str, ...] = (
    "Algorithm", "Application", "Class_Name", "Code_Block", "Data_Structure", "Data_Type",
    "Device", "Error_Name", "File_Name", "File_Type", "Function_Name", "HTML_XML_Tag",
    "Keyboard_IP", "Language", "Library", "Library_Class", "Library_Function",
    "Library_Variable", "Licence", "Operating_System", "Organization", "Output_Block",
    "User_Interface_Element", "User_Name", "Value", "Variable_Name", "Version", "Website",
)  # fmt: skip

SCHEMES: dict[str, tuple[str, ...]] = {
    "wikiser": WIKISER_TYPES,
    "softner-9": SOFTNER9_TYPES,
    "sner": SNER_TYPES,
    "stackoverflow-ner": SONER_TYPES,
}

#: Type -> type (None means O). Built from ../shared/data/README.md; a test checks it
#: reproduces every tag of softner-9/test.txt from stackoverflow-ner/test.txt.
SONER_TO_SOFTNER9: dict[str, str | None] = {t: None for t in SONER_TYPES} | {
    "Application": "Application",
    "Website": "Application",
    "Data_Structure": "Data_Structure",
    "Data_Type": "Data_Structure",
    "User_Interface_Element": "Data_Structure",
    "HTML_XML_Tag": "Data_Structure",
    "Library": "Library",
    "Language": "Language",
    "Device": "Device",
    "Operating_System": "Operating_System",
    "Error_Name": "Error_Name",
    "Algorithm": "Algorithm",
    "Licence": "License",
}

#: WikiSER-12 -> SoftNER-9: the three types outside the 9 become O.
WIKISER_TO_SOFTNER9: dict[str, str | None] = {
    t: (t if t in SOFTNER9_TYPES else None) for t in WIKISER_TYPES
}

MAPPINGS: dict[tuple[str, str], dict[str, str | None]] = {
    ("stackoverflow-ner", "softner-9"): SONER_TO_SOFTNER9,
    ("wikiser", "softner-9"): WIKISER_TO_SOFTNER9,
}


def bio_labels(types: Iterable[str]) -> list[str]:
    """``O`` then ``B-T``, ``I-T`` for each type, in a stable order (the model's id2label)."""
    out = [OUTSIDE]
    for t in types:
        out += [f"B-{t}", f"I-{t}"]
    return out


def split_tag(tag: str) -> tuple[str, str | None]:
    """``'B-Library'`` -> ``('B', 'Library')``; ``'O'`` -> ``('O', None)``.

    Raises ``ValueError`` with a readable reason for anything else.
    """
    if tag == OUTSIDE:
        return OUTSIDE, None
    if len(tag) > 2 and tag[1] == "-" and tag[0] in "BI":
        return tag[0], tag[2:]
    raise ValueError(f"invalid tag {tag!r}: expected O, B-<type> or I-<type>")


def repair_iob(tags: Sequence[str]) -> tuple[list[str], int]:
    """Turn stray ``I-X`` (not after ``B-X``/``I-X``) into ``B-X``; return tags and count.

    Strict IOB2 scoring drops such entities; WikiSER has a few, so we repair them
    explicitly and report how many.
    """
    out: list[str] = []
    fixed = 0
    prev_type: str | None = None
    for tag in tags:
        prefix, typ = split_tag(tag)
        if prefix == "I" and typ != prev_type:
            tag = f"B-{typ}"
            fixed += 1
        out.append(tag)
        prev_type = typ
    return out, fixed


def count_stray(tags: Sequence[str]) -> int:
    return repair_iob(tags)[1]


def spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Token spans ``(start, end_exclusive, type)`` of IOB2 tags, stray ``I-`` opening a span."""
    result: list[tuple[int, int, str]] = []
    start, typ = -1, None
    for i, tag in enumerate(tags):
        if tag == OUTSIDE:  # most tags: skip the split
            if typ is not None:
                result.append((start, i, typ))
                typ = None
            continue
        prefix, t = split_tag(tag)
        if typ is not None and (prefix != "I" or t != typ):
            result.append((start, i, typ))
            typ = None
        if prefix != OUTSIDE and typ is None:
            start, typ = i, t
    if typ is not None:
        result.append((start, len(tags), typ))
    return result


def tags_from_spans(n: int, token_spans: Iterable[tuple[int, int, str]]) -> list[str]:
    tags = [OUTSIDE] * n
    for start, end, typ in token_spans:
        tags[start] = f"B-{typ}"
        for i in range(start + 1, end):
            tags[i] = f"I-{typ}"
    return tags


def map_tags(tags: Sequence[str], mapping: Mapping[str, str | None]) -> list[str]:
    """Map entity types; types mapped to None/'O'/'' (or absent) become O, spans stay intact.

    Every span of ``spans(tags)`` keeps its tokens and only changes or loses its type: a
    stray ``I-`` (which opens its own span) stays ``I-`` unless the new type would glue it
    to the span before (``B-A I-B`` with A, B -> C), where it becomes ``B-``, and a span
    whose type maps to O leaves O, never a bridge between its neighbours.
    """
    out: list[str] = []
    prev_in: str | None = None  # type of the previous input tag
    prev_out: str | None = None  # type of the previous output tag
    for tag in tags:
        prefix, typ = split_tag(tag)
        new = mapping.get(typ) if typ is not None else None
        if not new or new == OUTSIDE:
            out.append(OUTSIDE)
            new = None
        elif prefix == "I" and typ != prev_in and new == prev_out:
            out.append(f"B-{new}")  # a stray I- would otherwise continue the previous span
        else:
            out.append(f"{prefix}-{new}")
        prev_in, prev_out = typ, new
    return out


def get_mapping(source: str, target: str) -> dict[str, str | None]:
    try:
        return MAPPINGS[(source, target)]
    except KeyError:
        known = ", ".join(f"{a}->{b}" for a, b in MAPPINGS)
        raise SerkitError(f"no built-in mapping {source}->{target} (known: {known})") from None


def load_mapping(spec: str | Path) -> dict[str, str | None]:
    """A mapping given as ``source:target`` (built-in) or a TOML/JSON file.

    File form: a table/object of ``"source type" = "target type"``; ``"O"`` or ``""``
    drops the type. In TOML the table may sit under ``[mapping]``.
    """
    spec_s = str(spec)
    path = Path(spec_s)
    if not path.exists() and ":" in spec_s:
        src, _, dst = spec_s.partition(":")
        return get_mapping(src, dst)
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode()) if path.suffix == ".toml" else json.loads(raw)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise SerkitError(f"{path}: cannot read mapping: {e}") from e
    if isinstance(data, dict) and isinstance(data.get("mapping"), dict):
        data = data["mapping"]
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise SerkitError(f"{path}: a mapping must be an object of type -> type strings")
    return {k: (None if v in ("", OUTSIDE) else v) for k, v in data.items()}
