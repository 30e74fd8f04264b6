"""CoNLL-style column files: one token a line, tab-separated columns, blank-line separators.

Covers StackOverflow NER (4 columns, tag in column 2, separators empty or a lone tab),
SoftNER-9 (4 columns, leading blank line) and S-NER (2 columns). Columns other than token
and tag are kept in ``Sentence.meta["columns"]`` so writing the sentence back restores them.
A file of a single column reads as unlabelled tokens (``tags=None``). A file whose first
token line has no tab but space-separated fields ending in (or holding at the tag column) an
IOB2 tag is read with whitespace-separated columns, as CoNLL-2003 files are: read as one
column it would silently lose every tag. ``-DOCSTART-`` lines separate documents, as there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from serkit.errors import DataFormatError, SerkitError
from serkit.files._common import (
    ReadContext,
    check_sentence_length,
    check_writable_tag,
    check_writable_token,
    iter_lines,
    sentence_limit,
)
from serkit.files.inputs import Input, as_input
from serkit.scheme import IOB2
from serkit.tokens import Sentence

#: CoNLL-2003's document marker: a line of its own, never a token.
DOCSTART = "-DOCSTART-"


def is_separator(line: str) -> bool:
    """A line between sentences: blank, a lone tab, or a ``-DOCSTART-`` line (never a token).

    What the reader skips and what ``serkit audit`` counts as no token line: one rule."""
    return not line.strip() or line.startswith(DOCSTART)


def space_columns(line: str, tag_col: int | None) -> bool:
    """Whether a tab-less token line is whitespace-separated columns with a tag in them."""
    fields = line.split()
    if tag_col is None or len(fields) < 2:
        return False
    at = fields[tag_col] if tag_col < len(fields) else None
    return IOB2.check(fields[-1]) is None or (at is not None and IOB2.check(at) is None)


def check_columns(token_col: int, tag_col: int | None) -> None:
    """0-based, distinct columns: a negative index would silently overwrite another column."""
    if token_col < 0 or (tag_col is not None and (tag_col < 0 or tag_col == token_col)):
        raise SerkitError(f"bad columns: token column {token_col}, tag column {tag_col}")


def read_conll(
    src: Path | Input, ctx: ReadContext, token_col: int = 0, tag_col: int | None = 1
) -> Iterator[Sentence]:
    """Stream sentences; every token line must have as many columns as the first one."""
    check_columns(token_col, tag_col)
    inp = as_input(src)
    path, doc_id = inp.name, inp.stem
    ncols = 0
    labelled = True
    keep_rows = False
    tokens: list[str] = []
    tags: list[str] = []
    rows: list[list[str]] = []
    start = 0
    index = 0
    check = ctx.check_tag
    max_tokens = sentence_limit()

    def flush() -> Sentence:
        meta = {"columns": rows} if keep_rows else {}
        return ctx.finish(Sentence(tokens, tags if labelled else None, doc_id, index, start, meta))

    spaces = False
    for lineno, line in iter_lines(inp):
        if is_separator(line):
            if tokens:
                yield flush()
                index += 1
                tokens, tags, rows = [], [], []
            continue
        if not ncols and "\t" not in line:
            spaces = space_columns(line, tag_col)
        cols = line.split() if spaces else line.split("\t")
        if not ncols:
            ncols = len(cols)
            labelled = not (ncols == 1 and token_col == 0)
            need = max(token_col, tag_col if tag_col is not None else 0) + 1
            if labelled and tag_col is None:
                labelled = False
            if ncols < need and labelled:
                raise DataFormatError(
                    path,
                    lineno,
                    f"expected at least {need} columns (token column "
                    f"{token_col + 1}, tag column {(tag_col or 0) + 1}), found {ncols}",
                )
            keep_rows = ncols > (2 if labelled else 1)
        elif len(cols) != ncols:
            raise DataFormatError(path, lineno, f"expected {ncols} columns, found {len(cols)}")
        if not tokens:
            start = lineno
        tok = cols[token_col]
        if not tok:
            raise DataFormatError(path, lineno, "empty token")
        tokens.append(tok)
        if len(tokens) > max_tokens:
            check_sentence_length(len(tokens), path, lineno)
        if labelled:
            tags.append(check(cols[tag_col].strip(), path, lineno))  # type: ignore[index]
        if keep_rows:
            rows.append(cols)
    if tokens:
        yield flush()
    ctx.stats.files += 1


def write_conll(
    f: IO[str], sentences: Iterable[Sentence], token_col: int = 0, tag_col: int = 1
) -> int:
    """Write ``token<TAB>tag`` (or the sentence's original columns with token/tag updated)."""
    check_columns(token_col, tag_col)
    n = 0
    ok: set[str] = set()
    for s in sentences:
        if n:
            f.write("\n")
        rows = s.meta.get("columns")
        if rows is not None and len(rows) != len(s.tokens):
            rows = None
        tags = s.tags
        if not s.tokens:  # a blank line is a separator: the sentence would silently vanish
            where = f"sentence {s.index}" + (f" of {s.doc_id}" if s.doc_id else "")
            raise SerkitError(f"{where}: an empty sentence cannot be written as conll")
        for i, tok in enumerate(s.tokens):
            check_writable_token(tok, "conll", s, "\t\n\r")
            if rows is not None and len(rows[i]) > max(token_col, tag_col):
                cols = list(rows[i])
            else:
                cols = [""] * (max(token_col, tag_col) + 1 if tags is not None else token_col + 1)
            cols[token_col] = tok
            if tags is not None:
                check_writable_tag(tags[i], "conll", s, ok)
                cols[tag_col] = tags[i]
            line = "\t".join(cols)
            if is_separator(line):  # a -DOCSTART- token: the reader would skip the line
                where = f"sentence {s.index}" + (f" of {s.doc_id}" if s.doc_id else "")
                raise SerkitError(
                    f"{where}: token {tok!r} cannot be written as conll (its line would read "
                    f"as a {DOCSTART} document separator)"
                )
            f.write(line + "\n")
        n += 1
    return n
