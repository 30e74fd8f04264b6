"""Reports of an audit: JSONL for tools, Markdown and HTML for a person reading top-down.

Kept apart from the finding logic (as seqeval keeps its report apart from its metrics):
:func:`records` turns a result into plain dicts once; every writer formats those.
The HTML page uses the palette of ``serkit tag -o page.html`` (``serkit.render``).
"""

from __future__ import annotations

import html
import json
from collections import Counter
from pathlib import Path
from typing import Any

from serkit.audit.core import AuditResult
from serkit.audit.findings import KINDS, SCORE_DIGITS, Finding
from serkit.files.atomic import atomic_write
from serkit.labels import spans

KIND_NAMES = {
    "missed": "missed entity",
    "wrong_type": "wrong type",
    "wrong_boundary": "wrong boundary",
    "spurious": "spurious entity",
}


def _spans(tokens: list[str], tags: list[str], offset: int) -> list[dict[str, Any]]:
    return [
        {"text": " ".join(tokens[offset + s : offset + e]), "label": t,
         "start": offset + s, "end": offset + e}
        for s, e, t in spans(tags)
    ]  # fmt: skip


def describe(spans_: list[dict[str, Any]]) -> str:
    """``Java (Language)``; ``O`` for no entity."""
    return ", ".join(f"{s['text']} ({s['label']})" for s in spans_) or "O"


def record(result: AuditResult, f: Finding, rank: int) -> dict[str, Any]:
    """One finding as a plain dict (the JSONL line)."""
    a = result.corpus.sentences[f.sentence]
    toks = a.tokens
    marked = [*toks[: f.start], "[[", *toks[f.start : f.end], "]]", *toks[f.end :]]
    return {
        "rank": rank,
        "score": round(f.score, SCORE_DIGITS),
        "kind": f.kind,
        "path": str(a.source.path),
        "line": a.token_lines[f.start] if a.token_lines else a.sentence.line,
        "sentence_index": a.sentence.index,
        "doc_id": a.sentence.doc_id,
        "start": f.start,
        "end": f.end,
        "text": " ".join(toks[f.start : f.end]),
        "given": _spans(toks, f.given, f.start),
        "suggested": _spans(toks, f.suggested, f.start),
        "given_tags": list(f.given),
        "suggested_tags": list(f.suggested),
        "signals": {k: round(v, SCORE_DIGITS) for k, v in sorted(f.signals.items())},
        "sentence": " ".join(marked),
    }


def records(result: AuditResult) -> list[dict[str, Any]]:
    return [record(result, f, r) for r, f in enumerate(result.findings, 1)]


def summary(result: AuditResult) -> dict[str, Any]:
    c = result.corpus
    return {
        "files": [str(s.path) for s in c.files],
        "sentences": len(c.sentences),
        "tokens": sum(len(a.tokens) for a in c.sentences),
        "entities": sum(len(spans(a.tags)) for a in c.sentences),
        "types": c.types,
        "mapping": c.mapping,
        "repaired_stray_I": c.repaired,
        "signals": result.signals,
        "findings": len(result.findings),
        "by_kind": {k: n for k, n in Counter(f.kind for f in result.findings).items()},
        "notes": result.notes,
        "options": result.options,
        "timings_s": {k: round(v, 1) for k, v in result.timings.items()},
    }


def verdict(result: AuditResult) -> str:
    """The one-line answer a reader needs first (says so when there is nothing to fix)."""
    c = result.corpus
    if not c.sentences:
        return "The corpus holds no labelled sentence: nothing to audit."
    n = len(result.findings)
    if not n:
        return f"No suspected label issues found in {len(c.sentences)} sentences."
    by = Counter(f.kind for f in result.findings)
    kinds = ", ".join(f"{by[k]} {KIND_NAMES[k]}" for k in KINDS if by[k])
    plural = "s" if n != 1 else ""
    return f"{n} suspected label issue{plural} in {len(c.sentences)} sentences: {kinds}."


def write_jsonl(path: Path, result: AuditResult) -> None:
    with atomic_write(path) as f:
        for rec in records(result):
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("`", "'")


def markdown(result: AuditResult, top: int | None = None) -> str:
    s = summary(result)
    lines = [
        "# serkit audit",
        "",
        f"**{verdict(result)}**",
        "",
        f"Files: {', '.join(f'`{p}`' for p in s['files']) or '(none)'}; {s['sentences']} "
        f"sentences, {s['tokens']} tokens, {s['entities']} entities"
        + (f" (types mapped with `{s['mapping']}`)" if s["mapping"] else "")
        + ". Signals: " + (", ".join(s["signals"]) or "none") + "; findings are the "
        f"candidates scoring >= {s['options'].get('threshold', 0)} (of "
        f"{len(result.candidates)}), best first.",
    ]  # fmt: skip
    lines += [f"> Note: {n}" for n in s["notes"]]
    recs = records(result)
    shown = recs if top is None else recs[:top]
    if shown and len(shown) < len(recs):
        lines += ["", f"The top {len(shown)} of {len(recs)} findings; all are in `findings.jsonl`."]
    for r in shown:
        sig = ", ".join(f"{k} {v:.2f}" for k, v in r["signals"].items())
        words = r["sentence"].split(" ")
        # CommonMark bolds `**span**` only with no space inside the marks.
        marked = (
            " ".join(w if w in ("[[", "]]") else _md_escape(w) for w in words)
            .replace("[[ ", "**", 1)
            .replace(" ]]", "**", 1)
        )
        lines += [
            "",
            f"## {r['rank']}. {KIND_NAMES[r['kind']]}: {_md_escape(r['text'])} "
            f"(score {r['score']:.3f})",
            "",
            f"`{r['path']}:{r['line']}`: {marked}",
            "",
            f"- given: {_md_escape(describe(r['given']))}",
            f"- suggested: {_md_escape(describe(r['suggested']))}",
            f"- signals: {sig}",
        ]
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, result: AuditResult, top: int | None = None) -> None:
    with atomic_write(path) as f:
        f.write(markdown(result, top))


_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.3rem}.legend span,mark{border-radius:.3em;padding:.05em .3em}
.legend span{display:inline-block;margin:.2em .4em .2em 0;font-size:.9rem}
section{border-top:1px solid #ddd;padding:.6rem 0}section h2{font-size:1rem;margin:.2rem 0}
.where{color:#666;font-family:monospace;font-size:.85rem}.region{outline:2px solid #d62728;
outline-offset:1px;border-radius:.2em}mark sub{font-size:.65em;font-weight:600;opacity:.7;
margin-left:.25em}.sig{color:#555;font-size:.85rem}
"""


def html_page(result: AuditResult, top: int | None = None) -> str:
    """A standalone page: findings best first, given entities coloured by type, the
    suspected region outlined, the suggestion beside it."""
    from serkit.render import type_color

    esc = html.escape
    types = result.corpus.types
    color = {t: type_color(t) for t in types}

    def chip(label: str) -> str:
        c = color.get(label) or type_color(label)
        return f'<mark style="background:{c}">{esc(label)}</mark>'

    def labelled(toks: list[str], tags: list[str]) -> list[str]:
        out = [esc(t) for t in toks]
        for s, e, t in spans(tags):
            c = color.get(t) or type_color(t)
            out[s] = f'<mark style="background:{c}">' + out[s]
            out[e - 1] += f"<sub>{esc(t)}</sub></mark>"
        return out

    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>serkit audit'
        f"</title><style>{_STYLE}</style></head><body>\n<h1>serkit audit</h1>\n"
        f"<p><strong>{esc(verdict(result))}</strong></p>\n"
        f'<div class="legend">{"".join(chip(t) for t in types)}</div>\n'
    ]
    parts += [f"<p>Note: {esc(n)}</p>\n" for n in result.notes]
    recs = records(result)
    for r, f in zip(recs if top is None else recs[:top], result.findings, strict=False):
        a = result.corpus.sentences[f.sentence]
        words = labelled(a.tokens, a.tags)
        words[f.start] = '<span class="region">' + words[f.start]
        words[f.end - 1] += "</span>"
        sugg = " ".join(labelled(a.tokens[f.start : f.end], f.suggested))
        sig = ", ".join(f"{k} {v:.2f}" for k, v in r["signals"].items())
        parts.append(
            f"<section><h2>{r['rank']}. {esc(KIND_NAMES[r['kind']])} "
            f"<small>score {r['score']:.3f}</small></h2>"
            f'<div class="where">{esc(r["path"])}:{r["line"]}</div>'
            f"<p>{' '.join(words)}</p><p>suggested: {sugg}"
            f"{'' if spans(f.suggested) else ' (no entity)'}</p>"
            f'<div class="sig">{esc(sig)}</div></section>\n'
        )
    parts.append("</body></html>\n")
    return "".join(parts)


def write_html(path: Path, result: AuditResult, top: int | None = None) -> None:
    with atomic_write(path) as f:
        f.write(html_page(result, top))
