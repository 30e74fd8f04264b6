"""``--fix``: a corrected copy of every input, in its own format, plus a log of changes.

The copy is the input line for line and byte for byte, except the token lines (WikiSER,
CoNLL) or document lines (JSONL) whose tags a finding with score >= ``min_score``
changes: only the tag column (or the record's entities and tags) is rewritten there, so
separators, extra columns, comments and line endings survive. Each file is written
atomically under the output folder; the input is never touched. ``changes.jsonl`` holds
one record per applied finding with every changed line before and after, enough to
review or revert a fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from serkit.audit.core import AuditResult
from serkit.audit.corpus import TOKEN_LINE_FORMATS, AuditCorpus, AuditSentence, SourceFile
from serkit.audit.findings import SCORE_DIGITS
from serkit.audit.report import record
from serkit.errors import SerkitError
from serkit.files.atomic import atomic_write
from serkit.files.doccano import doccano_label
from serkit.labels import spans

CHANGE_LOG = "changes.jsonl"
#: Formats ``--fix`` rewrites in place in its copy: one token (or one document) a line.
FIXABLE = (*TOKEN_LINE_FORMATS, "jsonl")


def check_fixable(corpus: AuditCorpus) -> None:
    """Refuse, before any work, an input ``--fix`` cannot copy line for line."""
    if corpus.mapping:
        raise SerkitError("--fix with --map would write mapped types into the input's copy; "
                          "audit without --map to fix")  # fmt: skip
    for src in corpus.files:
        if src.fmt not in FIXABLE:
            raise SerkitError(
                f"{src.path}: --fix writes corrected copies of {', '.join(FIXABLE)} files, "
                f"not {src.fmt}; convert it first (serkit data convert IN OUT --to jsonl)"
            )


def _raw_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        yield from f


def _split_ending(raw: bytes) -> tuple[str, str]:
    ending = b"\r\n" if raw.endswith(b"\r\n") else b"\n" if raw.endswith(b"\n") else b""
    return raw[: len(raw) - len(ending)].decode("utf-8"), ending.decode()


def _tag_field(line: str, src: SourceFile) -> tuple[int, int] | None:
    """Where the tag field of a token line lies: the last tab-separated field (WikiSER),
    field ``tag_col`` (CoNLL), or word ``tag_col`` of a whitespace-separated CoNLL line
    (CoNLL-2003 style, read that way when the line holds no tab)."""
    if src.fmt == "wikiser":
        return line.rfind("\t") + 1, len(line)
    if "\t" not in line:
        words = [m.span() for m in re.finditer(r"\S+", line)]
        return words[src.tag_col] if src.tag_col < len(words) else None
    bounds = [-1, *(i for i, ch in enumerate(line) if ch == "\t"), len(line)]
    if src.tag_col + 1 >= len(bounds):
        return None
    return bounds[src.tag_col] + 1, bounds[src.tag_col + 1]


def _retag(line: str, src: SourceFile, old: str, new: str, lineno: int) -> str:
    """The line with its tag field ``old`` replaced by ``new`` (surrounding spaces kept)."""
    at = _tag_field(line, src)
    field = line[at[0] : at[1]] if at else ""
    if at is None or field.strip() != old:
        raise SerkitError(f"{src.path}:{lineno}: changed while auditing (tag {field.strip()!r})")
    return line[: at[0]] + field.replace(old, new, 1) + line[at[1] :]


def _rejson(line: str, a: AuditSentence, tags: list[str], lineno: int) -> str:
    """The JSONL record with entities (and ``tags``, when present) from the new tags;
    unchanged entities keep their objects, new ones the style of the file's."""
    obj = json.loads(line)
    offsets = a.sentence.meta["offsets"]
    key = "entities" if "entities" in obj else "label"
    old = obj.get(key) or []
    sample = next((e for e in old if isinstance(e, dict)), None)
    keys = (
        ("start_offset", "end_offset") if sample and "start_offset" in sample else ("start", "end")
    )
    keep: dict[tuple, Any] = {}
    for e in old:
        if isinstance(e, dict):
            keep[(e.get(keys[0]), e.get(keys[1]), e.get("label"))] = e
        else:
            keep[tuple(e)] = e
    new = []
    found = [(offsets[s][0], offsets[e - 1][1], t) for s, e, t in spans(tags)]
    if key == "label" or keys[0] == "start_offset":  # doccano's: UTF-16 units
        found = [(cs, ce, t) for cs, ce, t in doccano_label(obj["text"], found)]
    for cs, ce, t in found:
        if (cs, ce, t) in keep:
            new.append(keep[(cs, ce, t)])
        elif key == "label" and sample is None:
            new.append([cs, ce, t])
        else:
            new.append({keys[0]: cs, keys[1]: ce, "label": t})
    obj[key] = new
    if "tags" in obj:
        obj["tags"] = tags
    return json.dumps(obj, ensure_ascii=False)


def apply_fixes(result: AuditResult, min_score: float, out_dir: str | Path) -> list[dict]:
    """Write the corrected copies and ``changes.jsonl``; returns the change records."""
    corpus = result.corpus
    check_fixable(corpus)
    out = Path(out_dir)
    new_tags: dict[int, list[str]] = {}
    applied = []
    for rank, f in enumerate(result.findings, 1):
        if round(f.score, SCORE_DIGITS) < min_score:  # the score as findings.jsonl lists it
            continue
        a = corpus.sentences[f.sentence]
        tags = new_tags.setdefault(f.sentence, list(a.raw_tags))
        tags[f.start : f.end] = f.suggested
        applied.append((rank, f))
    # line number -> (old line, new line) per file
    edits: dict[Path, dict[int, str]] = {}
    for i, tags in new_tags.items():
        a = corpus.sentences[i]
        per = edits.setdefault(a.source.path, {})
        if a.source.fmt == "jsonl":
            per[a.sentence.line] = ("json", i, tags)  # type: ignore[assignment]
            continue
        for t, (old, new) in enumerate(zip(a.raw_tags, tags, strict=True)):
            if old != new:
                per[a.token_lines[t]] = ("tag", old, new)  # type: ignore[assignment]
    changed_lines: dict[tuple[Path, int], tuple[str, str]] = {}
    for src in corpus.files:
        per = edits.get(src.path, {})
        target = out / src.rel
        with atomic_write(target, "wb") as fo:
            for lineno, raw in enumerate(_raw_lines(src.path), 1):
                edit = per.get(lineno)
                if edit is None:
                    fo.write(raw)
                    continue
                text, ending = _split_ending(raw)
                if edit[0] == "tag":
                    new_text = _retag(text, src, edit[1], edit[2], lineno)
                else:
                    new_text = _rejson(text, corpus.sentences[edit[1]], edit[2], lineno)
                changed_lines[(src.path, lineno)] = (text, new_text)
                fo.write((new_text + ending).encode("utf-8"))
    log = []
    for rank, f in applied:
        a = corpus.sentences[f.sentence]
        rec = record(result, f, rank)
        lines = [a.sentence.line] if a.source.fmt == "jsonl" else a.token_lines[f.start : f.end]
        rec["changes"] = [
            {"line": n, "before": changed_lines[(a.source.path, n)][0],
             "after": changed_lines[(a.source.path, n)][1]}
            for n in lines
            if (a.source.path, n) in changed_lines
        ]  # fmt: skip
        rec["output"] = str(out / a.source.rel)
        log.append(rec)
    with atomic_write(out / CHANGE_LOG) as fo:
        for rec in log:
            fo.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return log


def check_output_folder(out_dir: str | Path, inputs: list[str | Path | None]) -> None:
    """Refuse, before any work, an output folder that is a file, is or lies inside an input
    folder, or holds an input file (a corrected copy would replace the input)."""
    out = Path(out_dir).resolve()
    if out.exists() and not out.is_dir():
        raise SerkitError(f"{out_dir}: is a file; -o names a folder for the report")
    blocker = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise SerkitError(f"{out_dir}: cannot write: {blocker} is a file, not a folder")
    for given in inputs:
        if given is None:
            continue
        p = Path(given).resolve()
        if out == p or (p.is_dir() and out.is_relative_to(p)) or p.is_relative_to(out):
            raise SerkitError(
                f"{out_dir}: the output folder would mix the report with its input {given}; "
                "write elsewhere"
            )
