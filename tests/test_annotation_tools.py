"""Label Studio and doccano: exports read as training/evaluation data, predictions written
as pre-annotations, round trips on files shaped like the tools' own examples."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from serkit import files
from serkit.cli._app import app
from serkit.cli.main import main  # also registers the commands
from serkit.errors import DataFormatError
from serkit.files import labelstudio
from serkit.files.formats import FORMAT_TABLE
from serkit.render import DocWriter, TaggedDoc
from serkit.scheme import spans
from serkit.tokens import Entity, Sentence

TEXT1 = "I installed TensorFlow on Ubuntu 22.04 with pip."
TEXT2 = "Use 🐍 Python with NumPy."  # an emoji before the spans: UTF-16 offsets differ


def _region(rid, start, end, text, label, **extra):
    return {
        "id": rid,
        "from_name": "label",
        "to_name": "text",
        "type": "labels",
        "origin": "manual",
        "value": {"start": start, "end": end, "text": text, "labels": [label]},
        **extra,
    }


def _annotation(aid, result, **extra):
    return {
        "id": aid,
        "completed_by": 1,
        "result": result,
        "was_cancelled": False,
        "ground_truth": False,
        "created_at": "2024-05-02T10:00:00.000000Z",
        "updated_at": "2024-05-02T10:00:00.000000Z",
        "lead_time": 12.5,
        "task": 1,
        **extra,
    }


def export_fixture() -> list[dict]:
    """A Label Studio JSON export of the named-entity template: full task records with
    annotation metadata, a relation and a choices item, predictions, a cancelled
    annotation, a ground-truth one among several, and a task nobody labelled."""
    return [
        {
            "id": 1,
            "data": {"text": TEXT1},
            "annotations": [
                _annotation(
                    11,
                    [
                        _region("a1", 12, 22, "TensorFlow", "Library"),
                        _region("a2", 26, 38, "Ubuntu 22.04", "Operating_System"),
                        _region("a3", 44, 47, "pip", "Application"),
                        {"from_id": "a1", "to_id": "a2", "type": "relation", "direction": "right"},
                        {
                            "id": "c1",
                            "from_name": "topic",
                            "to_name": "text",
                            "type": "choices",
                            "value": {"choices": ["setup"]},
                        },
                    ],
                )
            ],
            "predictions": [
                {"model_version": "old", "result": [_region("p1", 0, 1, "I", "Language")]}
            ],
            "file_upload": "tasks.json",
            "project": 3,
        },
        {
            "id": 2,
            "data": {"text": TEXT2},
            "annotations": [
                _annotation(21, [_region("b1", 6, 12, "Python", "Language")]),
                _annotation(22, [_region("b2", 7, 13, "Python", "Language")], ground_truth=True),
                _annotation(23, [], was_cancelled=True),
            ],
        },
        {"id": 3, "data": {"text": "Nothing to see."}, "annotations": []},
    ]


def write_json(path: Path, obj, indent: int | None = 2) -> Path:
    path.write_text(json.dumps(obj, indent=indent, ensure_ascii=False), encoding="utf-8")
    return path


def entities(s: Sentence) -> list[tuple[str, str]]:
    return [(" ".join(s.tokens[i:j]), t) for i, j, t in spans(s.tags or [])]


def test_a_label_studio_export_reads_as_tagged_sentences(tmp_path: Path) -> None:
    path = write_json(tmp_path / "project-3-at-2024.json", export_fixture())
    assert files.detect_format(path) == "labelstudio"
    s1, s2, s3 = files.read_all(path)
    assert entities(s1) == [
        ("TensorFlow", "Library"),
        ("Ubuntu 22.04", "Operating_System"),
        ("pip", "Application"),
    ]  # the relation and the choice hold no spans; predictions are not labels
    assert s1.tokens[:3] == ["I", "installed", "TensorFlow"] and s1.meta["id"] == 1
    # the ground-truth annotation wins; its offsets are UTF-16 units (the emoji counts 2)
    assert entities(s2) == [("Python", "Language")] and s2.tokens[2] == "Python"
    assert s3.tags is None  # nobody labelled it: unlabelled, not "no entities"
    starts = [i for i, x in enumerate(path.read_text().splitlines(), 1) if x == "  {"]
    assert [s.line for s in (s1, s2, s3)] == starts  # where each task starts, for errors
    # one-line and compact exports read the same
    compact = write_json(tmp_path / "compact.json", export_fixture(), indent=None)
    assert files.detect_format(compact) == "labelstudio"
    assert [(s.tokens, s.tags) for s in files.read_all(compact)] == [
        (s.tokens, s.tags) for s in (s1, s2, s3)
    ]


def test_round_trip_through_label_studio_and_doccano(tmp_path: Path) -> None:
    original = files.read_all(write_json(tmp_path / "export.json", export_fixture()))
    for fmt, name in (("labelstudio", "again.json"), ("doccano", "again.doccano")):
        out = tmp_path / name
        assert files.write(out, original, fmt) == 3
        back = files.read_all(out, fmt)
        assert [(s.tokens, s.tags) for s in back] == [(s.tokens, s.tags) for s in original]
        assert [s.meta["text"] for s in back] == [TEXT1, TEXT2, "Nothing to see."]
    # the doccano file is plain JSONL: it is also found and read as such
    assert files.detect_format(tmp_path / "again.doccano") == "jsonl"
    line = json.loads((tmp_path / "again.doccano").read_text(encoding="utf-8").splitlines()[0])
    assert line == {
        "text": TEXT1,
        "label": [[12, 22, "Library"], [26, 38, "Operating_System"], [44, 47, "Application"]],
    }


def test_a_doccano_export_reads_and_writes_back_the_same(tmp_path: Path) -> None:
    """doccano's own export: id, text, label triples, Comments."""
    rows = [
        {"id": 1, "text": TEXT1, "label": [[12, 22, "Library"], [26, 32, "Operating_System"]],
         "Comments": []},
        {"id": 2, "text": "No entity here.", "label": [], "Comments": ["checked"]},
    ]  # fmt: skip
    src = tmp_path / "admin.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    sents = files.read_all(src, "doccano")
    assert entities(sents[0]) == [("TensorFlow", "Library"), ("Ubuntu", "Operating_System")]
    assert sents[1].tags == ["O"] * len(sents[1].tokens)  # labelled, with no entities
    out = tmp_path / "out.jsonl"
    files.write(out, sents, "doccano")
    back = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert back == [{"text": r["text"], "label": r["label"]} for r in rows]


def _doc(text: str, ents: list[Entity], doc_id: str = "doc") -> TaggedDoc:
    return TaggedDoc(doc_id, text, ents, [], None)


DOCS = [
    _doc(
        TEXT1,
        [Entity(12, 22, "Library", "TensorFlow", 0.91), Entity(26, 38, "Operating_System",
         "Ubuntu 22.04", 0.62)],
        "notes.txt",
    ),
    _doc("Nothing here.", [], "text-2"),
]  # fmt: skip


def test_predictions_are_label_studio_pre_annotations() -> None:
    buf = io.StringIO()
    token = labelstudio.MODEL_VERSION.set("tiny@0123456789ab")
    try:
        w = DocWriter(buf, "labelstudio", ["Library", "Operating_System"])
        for d in DOCS:
            w.write(d)
        w.close()
    finally:
        labelstudio.MODEL_VERSION.reset(token)
    tasks = json.loads(buf.getvalue())
    assert [t["data"] for t in tasks] == [
        {"text": TEXT1, "doc_id": "notes.txt"},
        {"text": "Nothing here.", "doc_id": "text-2"},
    ]
    (pred,) = tasks[0]["predictions"]
    assert pred["model_version"] == "tiny@0123456789ab" and pred["score"] == 0.62
    r0 = pred["result"][0]
    assert {k: r0[k] for k in ("from_name", "to_name", "type", "score")} == {
        "from_name": "label",
        "to_name": "text",
        "type": "labels",
        "score": 0.91,
    }
    assert r0["value"] == {"start": 12, "end": 22, "text": "TensorFlow", "labels": ["Library"]}
    assert len({r["id"] for r in pred["result"]}) == 2
    assert tasks[1]["predictions"][0]["result"] == []
    assert "score" not in tasks[1]["predictions"][0]


def test_accepted_pre_annotations_read_back_as_the_predicted_entities(tmp_path: Path) -> None:
    """Import the predictions, accept them (Label Studio copies the result into an
    annotation), export: the same entities come back as training data."""
    buf = io.StringIO()
    w = DocWriter(buf, "labelstudio")
    for d in DOCS:
        w.write(d)
    w.close()
    tasks = json.loads(buf.getvalue())
    for i, t in enumerate(tasks, 1):
        t["id"] = i
        t["annotations"] = [_annotation(i, t["predictions"][0]["result"])]
    back = files.read_all(write_json(tmp_path / "export.json", tasks))
    assert [entities(s) for s in back] == [
        [("TensorFlow", "Library"), ("Ubuntu 22.04", "Operating_System")],
        [],
    ]
    assert [s.doc_id for s in back] == ["notes.txt", "text-2"]


def test_hf_and_doccano_document_writers() -> None:
    for fmt in ("hf", "doccano"):
        buf = io.StringIO()
        w = DocWriter(buf, fmt)
        for d in DOCS:
            w.write(d)
        w.close()
        lines = [json.loads(x) for x in buf.getvalue().splitlines()]
        if fmt == "hf":
            assert lines == [[e.to_hf() for e in d.entities] for d in DOCS]
        else:
            assert lines[0] == {
                "text": TEXT1,
                "label": [[12, 22, "Library"], [26, 38, "Operating_System"]],
            }
            assert lines[1] == {"text": "Nothing here.", "label": []}
    assert FORMAT_TABLE["hf"].read is None and FORMAT_TABLE["hf"].write is None


def _task(result, text=TEXT1, **extra):
    return {"id": 7, "data": {"text": text}, "annotations": [_annotation(1, result)], **extra}


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        (
            [_task([])] + [_task([_region("x", 13, 22, "ensorFlow", "Library")])],
            r"bad\.json:\d+: task 2 \(id 7\): entity \[13, 22\) 'ensorFlow' \(Library\): "
            r"boundary 13 falls inside token 'TensorFlow'",
        ),
        (
            [_task([_region("x", 12, 22, "Tensorflow", "Library")])],
            r":2: task 1 \(id 7\): region 'x' \[12, 22\) says 'Tensorflow' but the text "
            r"there is 'TensorFlow'",
        ),
        (
            [_task([{**_region("x", 12, 22, "TensorFlow", "A"), "value": {
                "start": 12, "end": 22, "labels": ["A", "B"]}}])],
            r"needs exactly one label",
        ),
        ([_task([_region("x", "12", 22, "TensorFlow", "A")])], "start/end must be integers"),
        ([_task([_region("x", 12, 22, "TensorFlow", "Lib rary")])], "whitespace"),
        (
            [_task([_region("x", 12, 22, "TensorFlow", "A"), _region("y", 12, 38,
              "TensorFlow on Ubuntu 22.04", "B")])],
            "overlaps",
        ),
        ([{"id": 7, "data": {"image": "x.png"}}], r'task 1 \(id 7\): expected "data"'),
        ([_task({"a": 1})], '"result" must be a list'),
        ([{**_task([]), "annotations": {"a": 1}}], '"annotations" must be a list'),
    ],
)  # fmt: skip
def test_bad_tasks_are_one_line_errors_naming_the_task(tmp_path, tasks, message) -> None:
    path = write_json(tmp_path / "bad.json", tasks)
    with pytest.raises(DataFormatError, match=message):
        files.read_all(path, "labelstudio")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"data": {"text": "x"}}', "expected a JSON list"),
        ('[{"data": {"text": "x"}} {"data": 1}]', r":1: expected ',' or ']'"),
        ('[\n{"data": {"text": "x"}},\n', r":3: the list of tasks is not closed"),
        ('[\n{"data": {"text": "x"\n]', r":3: invalid JSON"),
        ("[] []", "text after the list"),
    ],
)
def test_broken_exports_are_one_line_errors(tmp_path, text, message) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataFormatError, match=message):
        files.read_all(path, "labelstudio")


def test_empty_export_and_sniffing(tmp_path) -> None:
    path = tmp_path / "empty.json"
    path.write_text("[]\n", encoding="utf-8")
    assert files.read_all(path) == []
    conll = tmp_path / "brackets.conll"
    conll.write_text("[\tO\nx\tO\n", encoding="utf-8")  # a CoNLL token "[" is not a list
    assert files.detect_format(conll) == "conll"


def test_cli_converts_an_export_and_reports_a_bad_span_in_one_line(tmp_path, capsys) -> None:
    tasks = export_fixture()[:2]
    src = write_json(tmp_path / "export.json", tasks)
    out = tmp_path / "out.conll"
    res = CliRunner().invoke(app, ["data", "convert", str(src), str(out), "--to", "conll"])
    assert res.exit_code == 0, res.output
    assert [entities(s) for s in files.read_all(out)] == [
        [("TensorFlow", "Library"), ("Ubuntu 22.04", "Operating_System"), ("pip", "Application")],
        [("Python", "Language")],
    ]
    tasks[1]["annotations"][1]["result"][0]["value"].update(start=8, text="ython")
    bad = write_json(tmp_path / "bad.json", tasks)
    with pytest.raises(SystemExit) as exc:
        main(["data", "convert", str(bad), str(tmp_path / "no.conll"), "--to", "conll"])
    assert exc.value.code == 2
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert f"{bad}:" in line and "task 2 (id 2)" in line and "inside token 'Python'" in line
    assert "Traceback" not in line and not (tmp_path / "no.conll").exists()


def test_label_config_and_model_version() -> None:
    from xml.etree import ElementTree

    view = ElementTree.fromstring(labelstudio.label_config(["Library", 'A"B<']))
    labels, text = list(view)
    assert (labels.tag, labels.get("name"), labels.get("toName")) == ("Labels", "label", "text")
    assert [x.get("value") for x in labels] == ["Library", 'A"B<']
    assert (text.tag, text.get("name"), text.get("value")) == ("Text", "text", "$text")
    card = {"name": "m", "files": {"a": "0" * 64}}
    assert (
        labelstudio.model_version(card).startswith("m@")
        and len(labelstudio.model_version(card)) == len("m@") + 12
    )
    assert labelstudio.model_version({}) == "serkit"


def test_serkit_tag_names_the_model_in_label_studio_predictions(tmp_path: Path) -> None:
    """`serkit tag -f labelstudio` stamps each prediction with the model that made it."""
    from _runtime_model import build_tiny_model
    from serkit.models.folder import read_card

    model = build_tiny_model(tmp_path / "m")
    src = tmp_path / "in.txt"
    src.write_text("Python runs on Linux.\n", encoding="utf-8")
    out = tmp_path / "tasks.json"
    res = CliRunner().invoke(
        app,
        [
            "tag",
            str(src),
            "--model",
            str(model),
            "-f",
            "labelstudio",
            "-o",
            str(out),
            "--workers",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    tasks = json.loads(out.read_text(encoding="utf-8"))
    want = labelstudio.model_version(read_card(model))
    assert want != "serkit" and [p["model_version"] for t in tasks for p in t["predictions"]] == [
        want
    ]


def test_doccano_offsets_are_utf16_units_both_ways(tmp_path: Path) -> None:
    """doccano indexes text as JavaScript does: the emoji in TEXT2 counts 2, so "Python"
    (code points 6-12) is [7, 13) there, "NumPy" [19, 24)."""
    buf = io.StringIO()
    w = DocWriter(buf, "doccano")
    w.write(_doc(TEXT2, [Entity(6, 12, "Language", "Python", 0.9)]))
    w.close()
    assert json.loads(buf.getvalue())["label"] == [[7, 13, "Language"]]
    sents = files.read_all(write_json(tmp_path / "export.json", export_fixture()))
    out = tmp_path / "out.doccano"
    files.write(out, sents, "doccano")
    assert json.loads(out.read_text(encoding="utf-8").splitlines()[1])["label"] == [
        [7, 13, "Language"]
    ]
    # doccano's own export, label lists and the older start_offset entities alike
    rows = [
        {"id": 1, "text": TEXT2, "label": [[7, 13, "Language"], [19, 24, "Library"]]},
        {"id": 2, "text": TEXT2, "entities": [
            {"id": 5, "start_offset": 19, "end_offset": 24, "label": "Library"}]},
    ]  # fmt: skip
    src = tmp_path / "admin.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    a, b = files.read_all(src, "doccano")
    assert entities(a) == [("Python", "Language"), ("NumPy", "Library")]
    assert entities(b) == [("NumPy", "Library")]
    src.write_text(json.dumps({"text": TEXT2, "label": [[5, 13, "Language"]]}) + "\n")
    with pytest.raises(DataFormatError, match=r"admin\.jsonl:1: .*inside a character"):
        files.read_all(src, "doccano")  # 5 is between the emoji's two UTF-16 units


def test_a_long_doccano_document_with_an_emoji_reads_in_linear_time(tmp_path):
    """Each entity's offsets were converted by a pass over the whole text: 2,000 entities in
    a 120k-character text with one emoji took about 20 s (now well under a second)."""
    import time

    text = "word " * 24000 + "😀 end"
    labels = [[i * 5, i * 5 + 4, "Library"] for i in range(0, 20000, 10)]
    p = tmp_path / "big.jsonl"
    p.write_text(json.dumps({"text": text, "label": labels}) + "\n", encoding="utf-8")
    t = time.perf_counter()
    (s,) = files.read_all(p)
    assert time.perf_counter() - t < 5.0
    assert s.tags.count("B-Library") == 2000
