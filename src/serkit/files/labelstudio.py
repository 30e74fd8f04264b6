"""Label Studio tasks: read its JSON exports as corpora, write tasks it imports.

* **Reading** an export (``[{"id", "data": {"text"}, "annotations": [{"result": [...]}]}]``):
  each task is one :class:`~serkit.tokens.Sentence` of serkit tokens (``serkit.tokenize``)
  with IOB2 tags from its ``labels`` regions. A task with several completed annotations gives
  its ``ground_truth`` one, else its last (the newest); cancelled (skipped) annotations do
  not count, and a task with none left is unlabelled (``tags`` None). Result items of other
  types (relations, choices, text areas) hold no spans and are passed over. A region whose
  boundary falls inside a serkit token is an error naming the task, never a guess.
  Offsets are code points; older Label Studio versions counted UTF-16 units after an emoji,
  which is recognised from the region's ``text`` and converted.
* **Writing sentences** gives tasks with ``annotations`` (gold labels to review or extend);
  **writing tagged documents** (``serkit tag -f labelstudio``) gives pre-annotations:
  ``predictions`` with ``model_version`` and per-region and per-task scores. ``data.doc_id``
  carries the document's name (a file path) there and back.

Both use Label Studio's named-entity template (:func:`label_config`): a ``Labels`` control
named ``label`` over a ``Text`` object named ``text`` reading ``$text``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import quoteattr

from serkit.errors import DataFormatError, LimitExceeded, SerkitError
from serkit.files._common import ReadContext, code_point_offsets
from serkit.files.inputs import Input, as_input
from serkit.files.jsonl import _align, _tokenize, checked_layout
from serkit.scheme import tags_from_spans, type_problem
from serkit.tokens import Entity, Sentence

#: The names of the template's controls: ``<Labels name="label" toName="text">`` and
#: ``<Text name="text" value="$text"/>``.
FROM_NAME, TO_NAME, DATA_KEY = "label", "text", "text"
#: Largest export read (it is one JSON document, parsed whole).
MAX_EXPORT_BYTES = 512 * 2**20
#: ``model_version`` of the predictions :class:`LabelStudioWriter` writes (the document
#: writers of the format table get no model): whoever tags sets it from the model's card,
#: ``MODEL_VERSION.set(model_version(tagger.card))``; unset, it is ``"serkit"``.
MODEL_VERSION: ContextVar[str | None] = ContextVar("serkit_labelstudio_model_version", default=None)


def label_config(types: Sequence[str]) -> str:
    """The labelling interface the files fit: paste it into the project's settings."""
    labels = "".join(f"\n    <Label value={quoteattr(t)}/>" for t in types)
    return (
        f'<View>\n  <Labels name="{FROM_NAME}" toName="{TO_NAME}">{labels}\n  </Labels>\n'
        f'  <Text name="{TO_NAME}" value="${DATA_KEY}"/>\n</View>\n'
    )


def model_version(card: dict[str, Any] | None) -> str:
    """A model's name and the start of its weights' checksum (``serkit-m1@3d7935aface6``):
    what tells two models' predictions apart in Label Studio."""
    card = card or {}
    name = str(card.get("name") or card.get("arch") or "serkit")
    files = card.get("files")
    if isinstance(files, dict) and files:
        digest = hashlib.sha256("".join(sorted(map(str, files.values()))).encode()).hexdigest()
        return f"{name}@{digest[:12]}"
    return name


# -- reading ---------------------------------------------------------------------------------
def _tasks(text: str, path: str) -> Iterator[tuple[int, int, Any]]:
    """``(task number, line, task)`` of a top-level JSON list, decoded one task at a time so
    an error can name the line the task starts on."""
    dec = json.JSONDecoder()
    n, pos = len(text), 0

    def skip(i: int) -> int:
        while i < n and text[i] in " \t\r\n":
            i += 1
        return i

    counted = [0, 1]  # position, line there: positions only grow, so counting stays linear

    def line(i: int) -> int:
        at, no = counted
        no += text.count("\n", at, i) if i >= at else -text.count("\n", i, at)
        counted[:] = [i, no]
        return no

    pos = skip(pos)
    if pos >= n or text[pos] != "[":
        raise DataFormatError(path, line(pos), "expected a JSON list of Label Studio tasks")
    pos, k = skip(pos + 1), 0
    closed = pos < n and text[pos] == "]"
    while not closed and pos < n:
        try:
            obj, end = dec.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            why = f"invalid JSON: {e.msg} (column {e.colno})"
            raise DataFormatError(path, e.lineno, why) from None
        except RecursionError:
            raise DataFormatError(path, line(pos), "invalid JSON: nested too deeply") from None
        except ValueError as e:  # an integer beyond Python's digit limit
            raise DataFormatError(path, line(pos), f"invalid JSON: {e}") from None
        k += 1
        yield k, line(pos), obj
        pos = skip(end)
        if pos < n and text[pos] == ",":
            pos = skip(pos + 1)
        elif pos < n and text[pos] == "]":
            closed = True
        elif pos < n:
            raise DataFormatError(path, line(pos), "expected ',' or ']' after a task")
    if not closed:
        raise DataFormatError(path, line(n), "the list of tasks is not closed (no ']')")
    if skip(pos + 1) < n:
        raise DataFormatError(path, line(skip(pos + 1)), "text after the list of tasks")


def _annotation(task: dict, where: str, path: str, lineno: int) -> dict | None:
    """The annotation a task contributes (see the module docstring), or None."""
    anns = task.get("annotations", task.get("completions"))  # "completions": before LS 1.0
    if anns is None:
        return None
    if not isinstance(anns, list) or not all(isinstance(a, dict) for a in anns):
        raise DataFormatError(path, lineno, f'{where}: "annotations" must be a list of objects')
    done = [a for a in anns if not a.get("was_cancelled")]
    if not done:
        return None
    truth = [a for a in done if a.get("ground_truth")]
    return (truth or done)[-1]


def _regions(
    result: Any, text: str, where: str, path: str, lineno: int
) -> list[tuple[int, int, str]]:
    """The ``labels`` regions of one annotation as ``(start, end, label)``."""
    if not isinstance(result, list):
        raise DataFormatError(path, lineno, f'{where}: "result" must be a list')
    out = []
    for r in result:
        if not isinstance(r, dict):
            raise DataFormatError(path, lineno, f"{where}: result item {r!r} is not an object")
        if r.get("type") != "labels":
            continue  # relations, choices, text areas: no span to tag
        v = r.get("value")
        s, e = (v.get("start"), v.get("end")) if isinstance(v, dict) else (None, None)
        labels = v.get("labels") if isinstance(v, dict) else None
        rid = f"region {r.get('id')!r}" if "id" in r else "a region"
        if type(s) is not int or type(e) is not int:
            raise DataFormatError(path, lineno, f"{where}: {rid}: start/end must be integers")
        if not isinstance(labels, list) or len(labels) != 1 or not isinstance(labels[0], str):
            raise DataFormatError(
                path,
                lineno,
                f"{where}: {rid} [{s}, {e}): needs exactly one label (IOB2 gives a word one "
                f"type), has {labels!r}",
            )
        label = labels[0]
        problem = type_problem(label)
        if problem:
            raise DataFormatError(path, lineno, f"{where}: {rid} [{s}, {e}): {problem}")
        said = v.get("text")
        if isinstance(said, str) and text[s:e] != said:
            cs, ce = code_point_offsets(text, (s, e))
            if cs is None or ce is None or text[cs:ce] != said:
                raise DataFormatError(
                    path,
                    lineno,
                    f"{where}: {rid} [{s}, {e}) says {said!r} but the text there is {text[s:e]!r}",
                )
            s, e = cs, ce  # UTF-16 offsets of an older Label Studio
        out.append((s, e, label))
    return out


def read_labelstudio(src: Path | Input, ctx: ReadContext) -> Iterator[Sentence]:
    """One Sentence per task; ``index`` counts tasks, ``line`` is where the task starts."""
    inp = as_input(src)
    path, stem = inp.name, inp.stem
    with inp:
        inp.check_text()
        try:
            data = inp.stream.read(MAX_EXPORT_BYTES + 1)
        except OSError as e:
            raise SerkitError(f"{path}: cannot read: {e.strerror or e}") from None
    if len(data) > MAX_EXPORT_BYTES:
        raise LimitExceeded(
            f"{path}: larger than {MAX_EXPORT_BYTES // 2**20} MiB (the limit for a Label Studio "
            "export, parsed whole); export the project in parts"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataFormatError(path, line, f"invalid UTF-8 (byte 0x{data[e.start]:02x})") from None
    del data
    for k, lineno, task in _tasks(text, path):
        tid = task.get("id") if isinstance(task, dict) else None
        where = f"task {k}" + (f" (id {tid})" if tid is not None else "")
        body = task.get("data") if isinstance(task, dict) else None
        doc = body.get(DATA_KEY) if isinstance(body, dict) else None
        if not isinstance(doc, str):
            raise DataFormatError(path, lineno, f'{where}: expected "data": {{"text": "..."}}')
        toks = _tokenize(doc)
        tags = None
        ann = _annotation(task, where, path, lineno)
        if ann is not None:
            ents = _regions(ann.get("result", []), doc, where, path, lineno)
            try:
                tags = tags_from_spans(len(toks), _align(doc, toks, ents, path, lineno))
            except DataFormatError as e:
                raise DataFormatError(path, lineno, f"{where}: {e.reason}") from None
            for tag in tags:
                ctx.check_tag(tag, path, lineno)
        meta: dict[str, Any] = {"text": doc, "offsets": [(s, e) for _, s, e in toks]}
        if tid is not None:
            meta["id"] = tid
        doc_id = body.get("doc_id")
        yield ctx.finish(
            Sentence(
                [t for t, _, _ in toks],
                tags,
                str(doc_id) if doc_id is not None else stem,
                k - 1,
                lineno,
                meta,
            )
        )
    ctx.stats.files += 1


def looks_like_labelstudio(lines: list[bytes]) -> bool:
    """A JSON list of objects: ``[{...`` on one line, or ``[`` then ``{`` (pretty-printed).
    A CoNLL token ``[`` has a tab before its tag."""
    first = lines[0]
    if first == b"[":
        return len(lines) == 1 or lines[1].startswith((b"{", b"]"))
    return first.startswith(b"[") and first[1:].lstrip().startswith((b"{", b"]"))


# -- writing ---------------------------------------------------------------------------------
def _region(start: int, end: int, label: str, text: str, score: float | None = None) -> dict:
    """One result item; its id is stable (the same span gets the same id on every run)."""
    rid = hashlib.sha1(f"{start}:{end}:{label}".encode()).hexdigest()[:10]
    item: dict[str, Any] = {
        "id": rid,
        "from_name": FROM_NAME,
        "to_name": TO_NAME,
        "type": "labels",
        "value": {"start": start, "end": end, "text": text[start:end], "labels": [label]},
    }
    if score is not None:
        item["score"] = round(float(score), 4)
    return item


class _ListWriter:
    """A JSON list written item by item as the items come."""

    def __init__(self, f: IO[str]) -> None:
        self.f, self.n = f, 0

    def item(self, obj: dict) -> None:
        self.f.write(("[\n" if self.n == 0 else ",\n") + json.dumps(obj, ensure_ascii=False))
        self.n += 1

    def close(self) -> None:
        self.f.write("[]\n" if self.n == 0 else "\n]\n")


def write_labelstudio(f: IO[str], sentences: Iterable[Sentence]) -> int:
    """Sentences as tasks; tagged ones carry their entities as an annotation."""
    out = _ListWriter(f)
    ok: set[str] = set()
    for s in sentences:
        text, _, ents = checked_layout(s, "labelstudio", ok)
        task: dict[str, Any] = {}
        if "id" in s.meta:
            task["id"] = s.meta["id"]
        task["data"] = {DATA_KEY: text}
        if s.doc_id is not None:
            task["data"]["doc_id"] = s.doc_id
        if ents is not None:
            result = [_region(a, b, typ, text) for a, b, typ in ents]
            task["annotations"] = [{"result": result}]
        out.item(task)
    out.close()
    return out.n


class LabelStudioWriter:
    """Tagged documents as pre-annotated tasks: one ``predictions`` entry each, scored by
    its least confident entity (Label Studio sorts tasks by it, so the doubtful come first)."""

    def __init__(self, f: IO[str], entity_types: Sequence[str] = ()) -> None:
        self.out = _ListWriter(f)
        self.version = MODEL_VERSION.get() or "serkit"

    def write(self, doc: Any) -> None:
        ents: list[Entity] = list(doc.entities)
        pred: dict[str, Any] = {
            "model_version": self.version,
            "result": [_region(e.start, e.end, e.label, doc.text, e.score) for e in ents],
        }
        if ents:
            pred["score"] = round(min(float(e.score) for e in ents), 4)
        data = {DATA_KEY: doc.text, "doc_id": doc.id}
        self.out.item({"data": data, "predictions": [pred]})

    def close(self) -> None:
        self.out.close()
