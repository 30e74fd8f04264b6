"""The IOB2 tagging scheme, declared once: what a tag is, which tag may follow which, and the
one entity extractor (tags <-> token spans).

Modelled on seqeval's ``scheme.py``: a small declared class instead of the same prefix test
written in every reader, label check and decoder. Readers validate with :meth:`IOB2.check`,
the Viterbi decoder takes its transitions from :meth:`IOB2.allowed`, the weak labeller and
the lexicon matcher write tags with :meth:`IOB2.tags`, evaluation and decoding read entities
with :meth:`IOB2.spans`. ``serkit.labels`` re-exports the functions under their old names.

Only IOB2 is declared: every corpus serkit reads and every model it ships uses it (BIES/IOBES
tags are refused, not guessed).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

OUTSIDE = "O"


def type_problem(typ: str) -> str | None:
    """Why ``typ`` cannot be an entity type, or None: a type is one non-empty word without
    whitespace or control characters (a tab or newline in a label would split the columns
    of a CoNLL/WikiSER file written from it, so it is refused where it is read)."""
    if not typ:
        return "an empty entity type"
    for c in typ:
        if c.isspace() or unicodedata.category(c)[0] == "C":
            return f"entity type {typ!r} holds whitespace or a control character ({c!r})"
    return None


class IOB2:
    """``O`` outside entities, ``B-T`` begins an entity of type T, ``I-T`` continues it.

    A stray ``I-T`` (not after ``B-T``/``I-T``) is not valid IOB2; :meth:`spans` lets it open
    an entity (conlleval's reading, what the corpora need) and :meth:`repair` rewrites it.
    """

    name = "IOB2"
    outside = OUTSIDE
    prefixes = ("B", "I")

    @staticmethod
    def split(tag: str) -> tuple[str, str | None]:
        """``'B-Library'`` -> ``('B', 'Library')``; ``'O'`` -> ``('O', None)``.

        Structural only (the hot path of decoding); raises ``ValueError`` with a readable
        reason for anything else. :meth:`check` also checks the type's characters.
        """
        if tag == OUTSIDE:
            return OUTSIDE, None
        if isinstance(tag, str) and len(tag) > 2 and tag[1] == "-" and tag[0] in "BI":
            return tag[0], tag[2:]
        raise ValueError(f"invalid tag {tag!r}: expected O, B-<type> or I-<type>")

    @staticmethod
    def check(tag: str) -> str | None:
        """Why ``tag`` is not a valid IOB2 tag, or None when it is."""
        if tag == OUTSIDE:
            return None
        if not (isinstance(tag, str) and len(tag) > 2 and tag[1] == "-" and tag[0] in "BI"):
            return f"unknown tag {tag!r}: expected O, B-<type> or I-<type>"
        return type_problem(tag[2:])

    @classmethod
    def is_tag(cls, tag: str) -> bool:
        return cls.check(tag) is None

    @staticmethod
    def type_of(item: str) -> str | None:
        """The type of a tag (``B-X``/``I-X`` -> ``X``, ``O`` -> None); anything else is taken
        to be a bare type name (label lists may give either)."""
        if item == OUTSIDE:
            return None
        if len(item) > 2 and item[1] == "-" and item[0] in "BI":
            return item[2:]
        return item

    @staticmethod
    def allowed(prev: str | None, tag: str) -> bool:
        """May ``tag`` follow ``prev`` (None: at the start of a sentence)? ``I-X`` only after
        ``B-X`` or ``I-X``; everything else anywhere."""
        if not tag.startswith("I-"):
            return True
        return prev is not None and prev != OUTSIDE and prev[2:] == tag[2:]

    @staticmethod
    def labels(types: Iterable[str]) -> list[str]:
        """``O`` then ``B-T``, ``I-T`` for each type, in a stable order (the model's id2label)."""
        out = [OUTSIDE]
        for t in types:
            out += [f"B-{t}", f"I-{t}"]
        return out

    @staticmethod
    def spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
        """Token spans ``(start, end_exclusive, type)``; a stray ``I-`` opens a span."""
        result: list[tuple[int, int, str]] = []
        start, typ = -1, None
        split = IOB2.split
        for i, tag in enumerate(tags):
            if tag == OUTSIDE:  # most tags: skip the split
                if typ is not None:
                    result.append((start, i, typ))
                    typ = None
                continue
            prefix, t = split(tag)
            if typ is not None and (prefix != "I" or t != typ):
                result.append((start, i, typ))
                typ = None
            if prefix != OUTSIDE and typ is None:
                start, typ = i, t
        if typ is not None:
            result.append((start, len(tags), typ))
        return result

    @staticmethod
    def tags(n: int, token_spans: Iterable[tuple[int, int, str]]) -> list[str]:
        """``n`` tags with ``B-T I-T ...`` over each span (the inverse of :meth:`spans`)."""
        tags = [OUTSIDE] * n
        for start, end, typ in token_spans:
            tags[start] = f"B-{typ}"
            for i in range(start + 1, end):
                tags[i] = f"I-{typ}"
        return tags

    @staticmethod
    def repair(tags: Sequence[str]) -> tuple[list[str], int]:
        """Turn stray ``I-X`` (not after ``B-X``/``I-X``) into ``B-X``; return tags and count.

        Strict IOB2 scoring drops such entities; WikiSER has a few, so they are repaired
        explicitly and counted.
        """
        out: list[str] = []
        fixed = 0
        prev_type: str | None = None
        split = IOB2.split
        for tag in tags:
            prefix, typ = split(tag)
            if prefix == "I" and typ != prev_type:
                tag = f"B-{typ}"
                fixed += 1
            out.append(tag)
            prev_type = typ
        return out, fixed


#: Every tagging scheme serkit knows, by name (``serkit.labels.SCHEMES`` are label sets).
TAG_SCHEMES: dict[str, type[IOB2]] = {"iob2": IOB2}

split_tag = IOB2.split
spans = IOB2.spans
tags_from_spans = IOB2.tags
repair_iob = IOB2.repair
bio_labels = IOB2.labels
