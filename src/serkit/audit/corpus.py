"""The corpus under audit: sentences with their source file, format and per-token line.

A finding must point at ``path:line`` and ``--fix`` must rewrite exactly the lines it
changes, so every token keeps the 1-based line it was read from. The readers give the
sentence's first line only; the token lines are recovered by scanning the file once with
the same line rules as the readers (``serkit.files._common.iter_lines``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from serkit.errors import SerkitError
from serkit.files import read
from serkit.files._common import iter_lines
from serkit.files.conll import is_separator
from serkit.files.detect import check_format, detect_format
from serkit.files.wikiser import CLOSE, OPEN, corpus_files
from serkit.labels import (
    OUTSIDE,
    bio_labels,
    load_mapping,
    map_tags,
    mapping_notes,
    repair_iob,
    split_tag,
)
from serkit.tokens import Sentence


@dataclass(slots=True)
class SourceFile:
    """One input file: where it came from, its format, and its name under ``-o`` (``rel``)."""

    path: Path
    fmt: str
    rel: Path
    token_col: int = 0
    tag_col: int = 1


@dataclass(slots=True)
class AuditSentence:
    """A sentence with IOB2 ``tags`` (stray ``I-`` repaired, mapped) and ``raw_tags`` as read."""

    sentence: Sentence
    source: SourceFile
    tags: list[str]
    raw_tags: list[str]
    token_lines: list[int] = field(default_factory=list)

    @property
    def tokens(self) -> list[str]:
        return self.sentence.tokens

    def where(self, token: int = 0) -> str:
        """``path:line`` of a token (of the document's line for JSONL, of the task's first
        line for a Label Studio export)."""
        line = self.token_lines[token] if self.token_lines else self.sentence.line
        return f"{self.source.path}:{line}"


@dataclass(slots=True)
class AuditCorpus:
    sentences: list[AuditSentence]
    files: list[SourceFile]
    labels: list[str]
    mapping: str | None = None
    repaired: int = 0
    #: What reading it found worth saying (``labels.mapping_notes``).
    notes: list[str] = field(default_factory=list)

    @property
    def types(self) -> list[str]:
        return sorted({t[2:] for t in self.labels if t != OUTSIDE})

    def fingerprint(self) -> str:
        """sha256 of the labels, tokens and tags under audit: what cached folds must match."""
        h = hashlib.sha256("\x1f".join(self.labels).encode())
        for a in self.sentences:
            h.update(("\x1e" + "\x1f".join(a.tokens) + "\x1d" + "\x1f".join(a.tags)).encode())
        return h.hexdigest()


#: Formats of one token a line: findings point at (and ``--fix`` rewrites) token lines.
TOKEN_LINE_FORMATS = ("wikiser", "conll")


def _token_lines(src: SourceFile) -> list[int]:
    """Line numbers of the token lines of a WikiSER or CoNLL file, in reading order
    (the readers' own rules for what is not a token line)."""
    out = []
    for lineno, line in iter_lines(src.path):
        if src.fmt == "wikiser" and (not line.strip() or line in (OPEN, CLOSE)):
            continue
        if src.fmt == "conll" and is_separator(line):
            continue
        out.append(lineno)
    return out


def _files(paths: Sequence[str | Path], fmt: str | None) -> list[SourceFile]:
    """Expand folders (WikiSER corpus layout) into files, each with a unique output name."""
    out: list[SourceFile] = []
    for given in paths:
        p = Path(given)
        if not p.exists():
            raise SerkitError(f"{p}: no such file or folder")
        if p.is_dir():
            for f in corpus_files(p):
                out.append(SourceFile(f, check_format(fmt or "wikiser"), p.name / f.relative_to(p)))
        else:
            out.append(SourceFile(p, check_format(fmt) if fmt else detect_format(p), Path(p.name)))
    seen: dict[Path, Path] = {}
    for src in out:
        if src.rel in seen:
            raise SerkitError(
                f"{src.path}: same output name as {seen[src.rel]}; audit them separately"
            )
        seen[src.rel] = src.path
    return out


def read_corpus(
    paths: Sequence[str | Path],
    fmt: str | None = None,
    *,
    mapping: str | None = None,
    token_col: int = 0,
    tag_col: int = 1,
) -> AuditCorpus:
    """Read every input (files or WikiSER folders) with its token lines; labels required."""
    table = load_mapping(mapping) if mapping else None
    files = _files(paths, fmt)
    sentences: list[AuditSentence] = []
    repaired = 0
    seen: set[str | None] = set()  # types before mapping, for the mapping's notes
    for src in files:
        src.token_col, src.tag_col = token_col, tag_col
        lines = _token_lines(src) if src.fmt in TOKEN_LINE_FORMATS else []
        pos = 0
        for s in read(src.path, src.fmt, token_col=token_col, tag_col=tag_col):
            if s.tags is None:
                raise SerkitError(
                    f"{src.path}:{s.line}: no labels to audit (a tag column is needed)"
                )
            tok_lines: list[int] = []
            if lines:
                tok_lines = lines[pos : pos + len(s.tokens)]
                pos += len(s.tokens)
            if not s.tokens:
                continue
            tags, fixed = repair_iob(s.tags)
            repaired += fixed
            if table is not None:
                seen.update(split_tag(t)[1] for t in tags)
                tags = map_tags(tags, table)
            sentences.append(AuditSentence(s, src, tags, list(s.tags), tok_lines))
    types = sorted({split_tag(t)[1] for a in sentences for t in a.tags} - {None})
    notes = mapping_notes(table, seen, "corpus")
    return AuditCorpus(sentences, files, bio_labels(types), mapping, repaired, notes)
