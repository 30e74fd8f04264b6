"""Lexicon entries: build from labelled sentences, TSV load/save, summary statistics.

The paper built WikiSER by matching a lexicon against text; users need the same step
for their own names. A lexicon entry is a *token sequence* (its surface form is the
tokens joined by single spaces) with how often it was labelled with each type, how
often the same token sequence occurs *untagged*, and in how many documents. The
labelled ratio ``labelled / (labelled + untagged)`` says how safe it is to tag it
blindly: ``Java`` is nearly always a language, ``file`` rarely an entity.

Counting untagged occurrences and matching (``serkit.lexicon.matcher``) both run an
Aho-Corasick automaton (pyahocorasick, in C) over the tokens joined with a separator,
with keys that start and end with it, so every hit starts and ends on token boundaries.

The TSV a person edits (UTF-8, a BOM and CRLF line ends are fine; ``#`` lines are
comments)::

    surface            types                       labelled  untagged  ratio  docs
    Visual Studio Code Application:12,Library:1    13        2         0.867  5

The header line is required and names the columns in this order; it may stop after
``types`` (``surface<TAB>types`` is a valid header), and columns after ``docs`` are
ignored (notes). A missing, renamed or reordered header is an error at its line, since
the columns are read by position. ``types`` may be a bare type (``MyLib<TAB>Library`` is
a valid line: one labelled occurrence, ratio 1). ``labelled`` and ``ratio`` are derived
from the other columns when loading, so editing the counts is enough. A surface listed
twice (or differing only in spaces) is one entry with the counts of both lines added.
A surface starting with ``#`` (``#include``) is written ``\\#include`` so that it is not
read as a comment: one backslash before a leading ``#`` (or before leading backslashes
and a ``#``) is dropped when loading.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import ahocorasick

from serkit.errors import DataFormatError, SerkitError
from serkit.labels import OUTSIDE, repair_iob, spans
from serkit.tokens import Sentence

if TYPE_CHECKING:
    from serkit.lexicon.matcher import Matcher

#: Joins tokens in automaton keys and texts; inside a token it is replaced by ``ALT``.
SEP = "\x1f"
ALT = "\x1e"
COLUMNS = ("surface", "types", "labelled", "untagged", "ratio", "docs")
CasePolicy = Literal["smart", "sensitive", "insensitive"]
CASE_POLICIES: tuple[str, ...] = ("smart", "sensitive", "insensitive")
#: Upper bounds of the labelled-ratio buckets used as model features.
RATIO_BUCKETS: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9, 1.01)
#: The largest lexicon TSV :meth:`Lexicon.load` reads (bytes; the shipped one is 0.4 MB).
#: Checked before reading, so a link to ``/dev/zero`` or a FIFO is refused rather than
#: read without end.
MAX_TSV_BYTES = 256 << 20


def ratio_bucket(ratio: float) -> int:
    """0..5: which of the :data:`RATIO_BUCKETS` a labelled ratio falls in."""
    for i, upper in enumerate(RATIO_BUCKETS):
        if ratio < upper:
            return i
    return len(RATIO_BUCKETS) - 1


@dataclass(slots=True)
class Entry:
    """One surface form: labelled counts per type, untagged occurrences, documents."""

    surface: str
    counts: dict[str, int] = field(default_factory=dict)
    untagged: int = 0
    docs: int = 0

    @property
    def labelled(self) -> int:
        return sum(self.counts.values())

    @property
    def ratio(self) -> float:
        """Share of the occurrences of this token sequence that were labelled."""
        total = self.labelled + self.untagged
        return self.labelled / total if total else 0.0

    @property
    def type(self) -> str:
        """Majority type; ties go to the alphabetically first type (deterministic)."""
        return min(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]

    @property
    def tokens(self) -> list[str]:
        return self.surface.split(" ")


def _key(tokens: Iterable[str]) -> str:
    """``SEP tok1 SEP tok2 ... SEP``; a SEP inside a token is replaced so it stays one token."""
    if not isinstance(tokens, list):
        tokens = list(tokens)
    key = SEP + SEP.join(tokens) + SEP
    if key.count(SEP) != len(tokens) + 1:
        key = SEP + SEP.join(t.replace(SEP, ALT) for t in tokens) + SEP
    return key


class Lexicon:
    """Surface form -> :class:`Entry`. Build from labelled sentences, save/load as TSV."""

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self.entries: dict[str, Entry] = {e.surface: e for e in entries}

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, surface: str) -> bool:
        return surface in self.entries

    def __getitem__(self, surface: str) -> Entry:
        return self.entries[surface]

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries.values())

    @property
    def types(self) -> list[str]:
        return sorted({t for e in self for t in e.counts})

    # -- building -----------------------------------------------------------------------
    @classmethod
    def build(cls, sentences: Iterable[Sentence], *, min_count: int = 1) -> Lexicon:
        """Two passes: collect labelled spans, then count untagged occurrences of them.

        A non-sequence iterable is materialised; for corpora that do not fit in memory
        use :meth:`build_stream` with a function that re-opens the corpus.
        """
        sents = sentences if isinstance(sentences, Sequence) else list(sentences)
        return cls.build_stream(lambda: iter(sents), min_count=min_count)

    @classmethod
    def build_stream(
        cls, open_corpus: Callable[[], Iterable[Sentence]], *, min_count: int = 1
    ) -> Lexicon:
        """Like :meth:`build`, streaming: ``open_corpus()`` yields the sentences (called twice).

        ``docs`` counts documents (``doc_id``); sentences without one count as their own
        document. An occurrence is *untagged* when all its tokens are tagged ``O``
        (occurrences inside or across other entities count as neither).
        """
        lex = cls()
        last_doc: dict[str, object] = {}
        for n, sent in enumerate(open_corpus()):
            if not sent.tags:
                continue
            doc = sent.doc_id if sent.doc_id is not None else n
            tags, _ = repair_iob(sent.tags)
            for s, e, typ in spans(tags):
                surface = " ".join(sent.tokens[s:e])
                entry = lex.entries.get(surface)
                if entry is None:
                    entry = lex.entries[surface] = Entry(surface)
                entry.counts[typ] = entry.counts.get(typ, 0) + 1
                if surface not in last_doc or last_doc[surface] != doc:
                    entry.docs += 1
                    last_doc[surface] = doc
        if min_count > 1:
            lex.entries = {s: e for s, e in lex.entries.items() if e.labelled >= min_count}
        lex._count_untagged(open_corpus())
        return lex

    def _count_untagged(self, sentences: Iterable[Sentence]) -> None:
        automaton = ahocorasick.Automaton()
        for entry in self:
            tokens = entry.tokens
            automaton.add_word(_key(tokens), (len(tokens), entry))
        if not len(automaton):
            return
        automaton.make_automaton()
        for sent in sentences:
            tokens = sent.tokens
            if not tokens:
                continue
            tagged = [t != OUTSIDE for t in sent.tags] if sent.tags else None
            key = _key(tokens)
            for end_pos, (n, entry) in automaton.iter(key):
                end = key.count(SEP, 0, end_pos)  # hits start and end on separators
                if tagged is None or not any(tagged[end - n : end]):
                    entry.untagged += 1

    # -- summary ------------------------------------------------------------------------
    def stats(self) -> dict:
        """Entries, per-type counts, ambiguity and a labelled-ratio histogram."""
        per_type: dict[str, dict[str, int]] = {}
        ambiguous = minority = labelled = untagged = multi = 0
        hist = [0] * len(RATIO_BUCKETS)
        for e in self:
            n = e.labelled
            labelled += n
            untagged += e.untagged
            multi += " " in e.surface
            if not e.counts:
                continue
            row = per_type.setdefault(e.type, {"entries": 0, "labelled": 0})
            row["entries"] += 1
            row["labelled"] += n
            if len(e.counts) > 1:
                ambiguous += 1
                minority += n - e.counts[e.type]
            hist[ratio_bucket(e.ratio)] += 1
        lows = (0.0, *RATIO_BUCKETS[:-1])
        return {
            "entries": len(self),
            "multi_token_entries": multi,
            "labelled_occurrences": labelled,
            "untagged_occurrences": untagged,
            "types": dict(sorted(per_type.items())),
            "ambiguous_entries": ambiguous,
            "minority_type_occurrences": minority,
            "ratio_histogram": {
                f"[{lo:.1f}, {min(hi, 1.0):.1f}{']' if hi > 1 else ')'}": c
                for lo, hi, c in zip(lows, RATIO_BUCKETS, hist, strict=True)
            },
        }

    # -- TSV ----------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the TSV atomically; most frequent entries first."""
        from serkit.files.atomic import atomic_write

        with atomic_write(path) as f:
            f.write("\t".join(COLUMNS) + "\n")
            for e in sorted(self, key=lambda e: (-e.labelled, e.surface)):
                if "\t" in e.surface or "\n" in e.surface:
                    raise SerkitError(f"lexicon entry {e.surface!r} holds a tab or newline")
                types = ",".join(
                    f"{t}:{c}" for t, c in sorted(e.counts.items(), key=lambda kv: (-kv[1], kv[0]))
                )
                surface = "\\" + e.surface if _COMMENT_LIKE.match(e.surface) else e.surface
                f.write(
                    f"{surface}\t{types}\t{e.labelled}\t{e.untagged}\t{e.ratio:.4f}\t{e.docs}\n"
                )

    @classmethod
    def load(cls, path: str | Path) -> Lexicon:
        """Read a lexicon TSV; malformed lines raise ``DataFormatError(path, line, reason)``.

        Lines end at ``\\n`` only (CRLF and a BOM are fine; bad UTF-8 names its line).
        """
        from serkit.files._common import iter_lines

        path = Path(path)
        if path.is_dir():
            raise SerkitError(f"{path}: is a folder, not a lexicon TSV")
        try:
            st = os.stat(path)
        except OSError as e:
            raise SerkitError(f"{path}: cannot open: {e.strerror or e}") from None
        if not stat.S_ISREG(st.st_mode):
            raise SerkitError(f"{path}: not a regular file (a device or FIFO), not a lexicon TSV")
        if st.st_size > MAX_TSV_BYTES:
            raise SerkitError(
                f"{path}: {st.st_size:,} bytes, over the lexicon limit of {MAX_TSV_BYTES:,}"
            )
        lex = cls()
        header_seen = False
        for lineno, line in iter_lines(path):
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t")
            if not header_seen:
                header_seen = True
                _check_header(path, lineno, cols)
                continue
            entry = _parse_line(path, lineno, cols)
            old = lex.entries.get(entry.surface)
            if old is not None:  # a person may list a form twice: merge
                _merge(old, entry)
            else:
                lex.entries[entry.surface] = entry
        return lex

    def in_convention(self, own: Lexicon) -> Lexicon:
        """This lexicon with each entry typed as ``own`` (one corpus's lexicon) types it.

        Several corpora disagree on types (WikiSER calls TensorFlow a Language, Stack
        Overflow NER a Library). A model trained on all of them reads one merged lexicon;
        asked to answer in one corpus's convention, it reads the merged one with that
        corpus's majority type (over all casings of the surface) wherever the corpus labels
        the surface at all. Counts, untagged occurrences and documents stay the merged ones,
        so the ratio features the model learned with do not move; only the type does.
        """
        folded: dict[str, dict[str, int]] = {}
        for e in own:
            c = folded.setdefault(e.surface.lower(), {})
            for t, n in e.counts.items():
                c[t] = c.get(t, 0) + n
        out = []
        for e in self:
            c = folded.get(e.surface.lower())
            if c and e.labelled:
                typ = min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0]
                e = Entry(e.surface, {typ: e.labelled}, e.untagged, e.docs)
            out.append(e)
        return Lexicon(out)

    # -- matching -----------------------------------------------------------------------
    def matcher(
        self, case: CasePolicy = "smart", min_ratio: float = 0.0, min_count: int = 1
    ) -> Matcher:
        from serkit.lexicon.matcher import Matcher

        return Matcher(self, case=case, min_ratio=min_ratio, min_count=min_count)


#: A surface that would read as a comment (``#...``) or as one (``\\#...``) once saved.
_COMMENT_LIKE = re.compile(r"\\*#")


def _check_header(path: Path, lineno: int, cols: list[str]) -> None:
    """The first non-comment line must be the header, naming the columns in order."""
    names = [c.strip().lower() for c in cols[: len(COLUMNS)]]
    while names and not names[-1]:
        names.pop()
    if len(names) < 2 or names != list(COLUMNS[: len(names)]):
        expected = "\t".join(COLUMNS)
        raise DataFormatError(
            path,
            lineno,
            f"expected the header line {expected!r} (at least its first 2 columns, in this "
            f"order; the columns are read by position), found {chr(9).join(cols)!r}",
        )


def _merge(into: Entry, other: Entry) -> None:
    for t, c in other.counts.items():
        into.counts[t] = into.counts.get(t, 0) + c
    into.untagged += other.untagged
    into.docs += other.docs


def _parse_line(path: Path, lineno: int, cols: list[str]) -> Entry:
    surface = " ".join(cols[0].split())
    if surface.startswith("\\") and _COMMENT_LIKE.match(surface):  # an escaped leading '#'
        surface = surface[1:]
    if not surface:
        raise DataFormatError(path, lineno, "empty surface form")
    if len(cols) < 2 or not cols[1].strip():
        reason = "expected at least 2 tab-separated columns: surface, types"
        raise DataFormatError(path, lineno, reason)
    counts: dict[str, int] = {}
    for item in cols[1].split(","):
        typ, _, num = item.strip().partition(":")
        if not typ or typ == OUTSIDE or any(ch.isspace() for ch in typ):
            raise DataFormatError(path, lineno, f"bad type {item!r} in types column")
        try:
            c = int(num) if num else 1
        except ValueError:
            raise DataFormatError(path, lineno, f"bad count in {item!r}") from None
        if c < 0:
            raise DataFormatError(path, lineno, f"negative count in {item!r}")
        counts[typ] = counts.get(typ, 0) + c
    nums = []
    for i in (3, 5):  # untagged, docs; labelled and ratio are derived
        raw = cols[i].strip() if len(cols) > i else ""
        try:
            nums.append(int(raw) if raw else 0)
        except ValueError:
            reason = f"column {COLUMNS[i]!r}: {raw!r} is not an integer"
            raise DataFormatError(path, lineno, reason) from None
        if nums[-1] < 0:
            raise DataFormatError(path, lineno, f"column {COLUMNS[i]!r} is negative")
    docs = nums[1] or (1 if sum(counts.values()) else 0)
    return Entry(surface, counts, untagged=nums[0], docs=docs)
