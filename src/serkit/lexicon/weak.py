"""Distant (weak) labelling: tag raw text or token files with lexicon matches.

Raw text is read one paragraph (block between blank lines) at a time, split into
sentences and tokens by ``serkit.tokenize``; every sentence keeps its exact source text
and token offsets in ``meta`` so JSONL output carries character offsets with
``text[start:end] == entity text``. Token files keep their tokens and lose their tags.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from serkit.files.conll import DOCSTART, space_columns
from serkit.files.formats import sniff_lines
from serkit.files.inputs import Input, as_input
from serkit.lexicon.matcher import Matcher
from serkit.tokens import Sentence


def looks_like_raw_text(src: str | Path | Input) -> bool:
    """True when the first lines read as prose rather than token-per-line columns.

    WikiSER (``<s>``) and JSONL (``{``) are recognised by ``serkit.files.formats``; this
    separates prose from CoNLL: a CoNLL line holds a tab, one field, a ``-DOCSTART-``, or
    a few whitespace-separated columns the CoNLL reader reads as such (an IOB2 tag second
    or last). Give an :class:`Input` to sniff a pipe without consuming it.
    """
    if not isinstance(src, Input):
        with as_input(src) as inp:
            return looks_like_raw_text(inp)
    prose = token_lines = 0
    for raw in sniff_lines(src.head):
        line = raw.decode("utf-8", "replace")
        fields = line.split()
        if (
            "\t" in line
            or len(fields) == 1
            or line.startswith(DOCSTART)
            or (len(fields) <= 6 and space_columns(line, 1))  # CoNLL-2003: EU NNP B-NP B-ORG
        ):
            token_lines += 1
        else:
            prose += 1
    return prose > token_lines


def _paragraphs(src: Path | Input) -> Iterator[str]:
    """Blocks between blank lines; bad UTF-8 is reported with its line, a BOM is dropped."""
    from serkit.files._common import iter_lines

    return paragraphs(line for _, line in iter_lines(src))


def paragraphs(lines: Iterable[str]) -> Iterator[str]:
    """Blocks between blank lines of ``lines`` (without their newlines)."""
    block: list[str] = []
    for line in lines:
        if line.strip():
            block.append(line + "\n")
        elif block:
            yield "".join(block)
            block = []
    if block:
        yield "".join(block)


def label_text(
    matcher: Matcher, texts: Iterable[str], doc_id: str | None = None
) -> Iterator[Sentence]:
    """One tagged ``Sentence`` per sentence of ``texts``, with source text and offsets in meta."""
    from serkit.tokenize import sentences

    n = 0
    for text in texts:
        for toks in sentences(text):
            if not toks:
                continue
            start = toks[0].start
            tokens = [t.text for t in toks]
            yield Sentence(
                tokens,
                matcher.tags(tokens),
                doc_id=doc_id,
                index=n,
                meta={
                    "id": n,
                    "text": text[start : toks[-1].end],
                    "offsets": [(t.start - start, t.end - start) for t in toks],
                },
            )
            n += 1


def label_text_file(matcher: Matcher, path: str | Path | Input) -> Iterator[Sentence]:
    inp = as_input(path)
    return label_text(matcher, _paragraphs(inp), doc_id=inp.stem)


def label_document(matcher: Matcher, text: str, doc_id: str | None) -> Iterator[Sentence]:
    """A decoded text, labelled as :func:`label_text_file` labels a file holding it (lines
    end at ``\n``, a ``\r`` before it dropped)."""
    lines = (line.removesuffix("\r") for line in text.split("\n"))
    return label_text(matcher, paragraphs(lines), doc_id=doc_id)


def label_sentences(matcher: Matcher, sents: Iterable[Sentence]) -> Iterator[Sentence]:
    """The same sentences with lexicon tags instead of their own."""
    for s in sents:
        s.tags = matcher.tags(s.tokens)
        yield s
