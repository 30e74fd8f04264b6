"""Label sets (the types of each corpus) and mappings between them.

The IOB2 rules themselves live in ``serkit.scheme``; their functions are re-exported here
under the names the rest of serkit has always imported (``split_tag``, ``spans``...).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from serkit.errors import SerkitError
from serkit.scheme import (
    OUTSIDE,
    bio_labels,
    repair_iob,
    spans,
    split_tag,
    tags_from_spans,
)
from serkit.tomlfile import load_table

__all__ = [
    "MAPPINGS",
    "OUTSIDE",
    "SCHEMES",
    "SNER_TYPES",
    "SOFTNER9_TYPES",
    "SONER_TO_SOFTNER9",
    "SONER_TYPES",
    "WIKISER_TO_SOFTNER9",
    "WIKISER_TYPES",
    "bio_labels",
    "get_mapping",
    "load_mapping",
    "map_tags",
    "mapping_notes",
    "repair_iob",
    "spans",
    "split_tag",
    "tags_from_spans",
]

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


def mapping_notes(
    mapping: Mapping[str, str | None] | None, seen: Iterable[str | None], side: str = "data"
) -> list[str]:
    """Why a mapped corpus lost a type nobody asked to drop: a type the ``side`` holds that
    the mapping does not list becomes O like an explicitly dropped one, and a listed type
    the data never holds is most often a typo of it (``"Libary" = "Library"``). Built-in
    mappings list every source type, so they never cause a note on their own corpus. No
    mapping (None): no notes."""
    if mapping is None:
        return []
    present = {t for t in seen if t}
    unlisted = sorted(present - mapping.keys())
    if not unlisted:
        return []
    unused = sorted(mapping.keys() - present)
    named = []
    for t in unlisted:
        close = difflib.get_close_matches(t, unused, n=1, cutoff=0.75)
        named.append(f"{t} (listed: {close[0]!r}, a typo?)" if close else t)
    return [
        f"the mapping does not list {', '.join(named)}, found in the {side}: mapped to O "
        '(list a type with "" to drop it on purpose)'
    ]


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
    if path.suffix == ".toml":
        data: object = load_table(path, "mapping", "mapping")
    else:
        try:  # a BOM is fine, as in every file users write
            data = json.loads(path.read_bytes().decode("utf-8-sig"))
        except (OSError, ValueError) as e:
            raise SerkitError(f"{path}: cannot read mapping: {e}") from e
        if isinstance(data, dict) and isinstance(data.get("mapping"), dict):
            data = data["mapping"]
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise SerkitError(f"{path}: a mapping must be an object of type -> type strings")
    return {k: (None if v in ("", OUTSIDE) else v) for k, v in data.items()}
