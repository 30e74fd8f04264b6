"""WikiSER files: ``<s>`` ... ``</s>`` blocks of ``token<TAB>tag`` lines, and corpus folders.

Tokens may hold spaces and even tabs (``"[ nuclear ] "``), so a line splits on its LAST tab
and the token is kept byte-exact.
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
from serkit.tokens import Sentence

OPEN, CLOSE = "<s>", "</s>"


def read_wikiser(
    src: Path | Input, ctx: ReadContext, doc_id: str | None = None
) -> Iterator[Sentence]:
    """Stream the sentences of one WikiSER file; ``index`` counts sentences in this file."""
    inp = as_input(src)
    path = inp.name
    doc_id = doc_id if doc_id is not None else inp.stem
    tokens: list[str] = []
    tags: list[str] = []
    opened = 0  # line of the open <s>, 0 when outside a sentence
    index = 0
    check = ctx.check_tag
    max_tokens = sentence_limit()
    for lineno, line in iter_lines(inp):
        if line == OPEN:
            if opened:
                raise DataFormatError(path, opened, f"unclosed {OPEN}: new {OPEN} at line {lineno}")
            opened = lineno
            tokens, tags = [], []
        elif line == CLOSE:
            if not opened:
                raise DataFormatError(path, lineno, f"stray {CLOSE} without an open {OPEN}")
            yield ctx.finish(Sentence(tokens, tags, doc_id, index, opened))
            index += 1
            opened = 0
        elif not line.strip():
            continue  # blank lines carry nothing in this format
        elif not opened:
            raise DataFormatError(path, lineno, f"token line outside a {OPEN} ... {CLOSE} block")
        else:
            tok, sep, tag = line.rpartition("\t")
            if not sep:
                raise DataFormatError(path, lineno, "expected token<TAB>tag, found 1 column")
            if not tok:
                raise DataFormatError(path, lineno, "empty token")
            tokens.append(tok)
            if len(tokens) > max_tokens:
                check_sentence_length(len(tokens), path, lineno)
            tags.append(check(tag.strip(), path, lineno))
    if opened:
        raise DataFormatError(path, opened, f"unclosed {OPEN} at end of file")
    ctx.stats.files += 1


def corpus_files(folder: Path) -> list[Path]:
    """The article files of a WikiSER corpus folder, in a stable (sorted) order."""
    files = sorted(p for p in folder.rglob("*.txt") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise SerkitError(f"{folder}: no .txt files (expected one Article_Name.txt per article)")
    return files


def write_wikiser(f: IO[str], sentences: Iterable[Sentence]) -> int:
    n = 0
    ok: set[str] = set()
    for s in sentences:
        if s.tags is None:
            raise SerkitError(f"sentence {s.index}: WikiSER output needs tags")
        f.write(OPEN + "\n")
        for tok, tag in zip(s.tokens, s.tags, strict=True):
            check_writable_token(tok, "wikiser", s, "\n")
            check_writable_tag(tag, "wikiser", s, ok)
            f.write(f"{tok}\t{tag}\n")
        f.write(CLOSE + "\n")
        n += 1
    return n
