"""``serkit tag --engine ray`` (serkit.scale): Ray Data on a local 2-CPU instance gives the
records of a local ``serkit tag``, and a run that crashes or loses a shard is resumed with
nothing lost and nothing doubled; ``serkit weak-label --engine ray`` gives the sentences of a
local ``serkit weak-label``."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

import serkit.cli.main  # noqa: F401  (registers the commands)
from serkit.cli._app import app
from serkit.errors import SerkitError
from serkit.scale import MANIFEST, ray_tag, read_manifest

ray = pytest.importorskip("ray", reason="the `scale` extra (ray[data]) is not installed")

WORDS = "i installed tensorflow on ubuntu with pip and ran it on an nvidia a100 . the python"
TEXTS = [
    " ".join(WORDS.split()[k % 7 : k % 7 + 4 + k % 9]).capitalize()
    + f". Doc {k} uses Java on Linux."
    for k in range(14)
]


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray instance with 2 CPUs for the module; ``ray_tag`` uses it as is."""
    from serkit.scale.engine import init_local

    init_local(2)
    # A run that stalls (actors that never get a CPU) fails in minutes, not Ray's 30.
    ray.data.DataContext.get_current().execution_no_progress_timeout_s = 180
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def model(tiny_dirs) -> str:
    return str(tiny_dirs["int8"])


@pytest.fixture
def docs(tmp_path) -> Path:
    d = tmp_path / "docs"
    d.mkdir()
    for k, text in enumerate(TEXTS):
        (d / f"doc{k:02d}.txt").write_text(text + ("\n\n" + TEXTS[-k] if k % 3 == 0 else ""))
    (d / "bad.txt").write_bytes(b"not \xff utf-8")  # skipped and reported, as locally
    return d


def local_records(args: list[str]) -> list[dict]:
    res = CliRunner().invoke(app, ["tag", *args], catch_exceptions=False)
    assert res.exit_code in (0, 1), res.output
    return [json.loads(line) for line in res.stdout.splitlines()]


def test_ray_equals_local_tag_and_resumes_a_deleted_shard(ray_local, docs, model, tmp_path):
    out = tmp_path / "out"
    run = ray_tag([docs], out, model=model, actors=2, docs_per_shard=4)
    assert run.shards == 4 and run.tagged == 4 and run.actors == 2
    assert len(run.skipped) == 1 and "bad.txt:1: not UTF-8" in run.skipped[0]
    assert run.exit_code == 1
    # At most one process per actor did the work: the model is loaded once per actor, not
    # per shard (on a loaded machine one actor may take every shard before the other starts).
    assert 1 <= len({w["pid"] for w in run.workers}) <= 2
    expected = local_records([str(docs), "-m", model])
    got = list(read_manifest(out).records())
    assert got == expected and len(got) == len(TEXTS)
    assert sum(len(r["entities"]) for r in got) > 0  # the tiny model tags plenty

    # A lost shard file is tagged again, and only that one.
    lost = out / "part-00002.jsonl"
    lost.unlink()
    again = ray_tag([docs], out, model=model, actors=2, docs_per_shard=4)
    assert (again.tagged, again.reused) == (1, 3)
    assert list(read_manifest(out).records()) == expected

    # A finished run has nothing left to do (no Ray work at all).
    done = ray_tag([docs], out, model=model, actors=2, docs_per_shard=4)
    assert (done.tagged, done.reused) == (0, 4)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["complete"] and [s["index"] for s in manifest["shards"]] == [0, 1, 2, 3]
    # Each shard says what its actor held, before and after loading the model (bench/scale).
    for w in (s["worker"] for s in manifest["shards"]):
        if os.path.exists("/proc/self/smaps_rollup"):
            before, after = w["memory_before_job_mb"], w["memory_mb"]
            assert 0 < before["uss"] < after["uss"] <= after["pss"] <= after["peak"]


def test_jsonl_records_and_parquet_inputs(ray_local, model, tmp_path):
    """Records read as locally (fields kept, ``path:line`` ids, bad records reported), a
    JSONL file cut into line ranges; Parquet rows from its text column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from serkit.models.registry import load_tagger

    jsonl = tmp_path / "recs.jsonl"
    lines = [json.dumps({"id": f"r{k}", "text": t, "n": k}) for k, t in enumerate(TEXTS[:6])]
    lines[4] = json.dumps({"text": TEXTS[4]})  # no id: called recs.jsonl:line
    lines.insert(3, '{"id": "broken", "text": 5}')
    lines.insert(1, "")
    jsonl.write_text("\n".join(lines) + "\n")
    parquet = tmp_path / "recs.parquet"
    pq.write_table(pa.table({"text": TEXTS[6:], "lang": ["en"] * 8}), parquet, row_group_size=3)

    out = tmp_path / "out"
    run = ray_tag([jsonl, parquet], out, model=model, actors=2, docs_per_shard=2)
    assert run.shards == 4 + 3  # 7 lines in ranges of 2; 8 rows in row groups of 3
    (bad,) = run.skipped  # the local reader's message for line 5
    assert bad.startswith(f"{jsonl}:5: 'text' is ")
    got = list(read_manifest(out).records())
    assert got[:6] == local_records([str(jsonl), "-m", model])
    assert got[4]["id"] == f"{jsonl}:7" and got[0]["n"] == 0
    tagger = load_tagger(model)
    assert [r["id"] for r in got[6:]] == [f"{parquet}#{k}" for k in range(1, 9)]
    assert [r["text"] for r in got] == TEXTS
    assert [r["entities"] for r in got] == [
        [e.to_dict() for e in ents] for ents in tagger.pipe(TEXTS)
    ]


def test_records_on_one_line_have_the_ids_of_a_local_run(model, tmp_path):
    """A one-line JSON array read by the code each actor runs on its shard (no Ray
    needed): ``file:line``, then ``file:line#2``..., the ids of a local ``serkit tag``."""
    from serkit.scale.shards import plan, read_shard

    arr = tmp_path / "arr.json"
    arr.write_text(json.dumps([{"text": t} for t in TEXTS[:3]]))
    skipped: list[str] = []
    ids = [src.id for shard in plan([str(arr)]) for src, _ in read_shard(shard, skipped)]
    assert ids == [f"{arr}:1", f"{arr}:1#2", f"{arr}:1#3"] and not skipped
    assert ids == [r["id"] for r in local_records([str(arr), "-m", model])]


def test_an_undecodable_jsonl_line_is_skipped_as_locally(ray_local, model, tmp_path):
    """One line of a JSONL file that is not UTF-8 is a bad record in a line range and
    locally alike: the records after it are tagged by both (locally they were lost)."""
    jsonl = tmp_path / "posts.jsonl"
    good = [json.dumps({"id": k, "text": t}).encode() for k, t in enumerate(TEXTS[:6])]
    jsonl.write_bytes(b"\n".join([*good[:3], b'{"id": 99, "text": "caf\xe9"}', *good[3:]]) + b"\n")
    run = ray_tag([jsonl], tmp_path / "out", model=model, actors=2, docs_per_shard=2)
    (bad,) = run.skipped
    assert bad == f"{jsonl}:4: not UTF-8 text (byte 0xe9 at offset 23)"
    got = list(read_manifest(tmp_path / "out").records())
    assert [r["id"] for r in got] == list(range(6))
    assert got == local_records([str(jsonl), "-m", model])


def test_an_input_in_the_output_folder_is_refused(tmp_path, model):
    """``-o`` naming the folder of the inputs: shard 0's output would replace the input
    ``part-00000.jsonl`` while other shards still read it (a former run tagged again in
    place), and a re-run would read its own output. Refused before anything is written."""
    folder = tmp_path / "shards"
    folder.mkdir()
    data = "".join(json.dumps({"id": k, "text": t}) + "\n" for k, t in enumerate(TEXTS))
    (folder / "part-00000.jsonl").write_text(data)
    for inputs, out in (
        ([folder], folder),
        ([folder / "part-00000.jsonl"], folder / ".." / "shards"),
    ):
        with pytest.raises(SerkitError, match="an input in the output folder"):
            ray_tag(inputs, out, model=model, docs_per_shard=2, pattern="*.jsonl")
    assert (folder / "part-00000.jsonl").read_text() == data
    assert sorted(p.name for p in folder.iterdir()) == ["part-00000.jsonl"]


@pytest.mark.parametrize(
    "entry, why",
    [
        ({"index": 7, "file": "../precious.txt"}, "file '../precious.txt' is not the name"),
        ({"index": 7, "file": "part-00003.jsonl"}, "file 'part-00003.jsonl' is not the name"),
        ({"index": "x"}, "index 'x' is not a shard number"),
        ({"index": 7, "file": "part-00007.jsonl", "key": None}, "no 'key'"),
        ([1, 2], "not an object"),
    ],
)
def test_a_corrupt_manifest_is_one_line_and_removes_nothing(tmp_path, entry, why):
    """A re-run removes the files of entries beyond its plan and reads those it keeps: an
    entry naming a file outside the folder (an edited or foreign manifest) deleted it."""
    from serkit.scale import Manifest

    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "precious.txt").write_text("keep me")
    if isinstance(entry, dict):
        entry = {"key": "k", "bytes": 1, "docs": 1, "entities": 0, **entry}
        entry = {k: v for k, v in entry.items() if v is not None}
    run = {"model": "m"}
    doc = {"kind": "serkit-shards/1", "run": run, "shards": [entry]}
    (out / MANIFEST).write_text(json.dumps(doc))
    with pytest.raises(SerkitError, match=f"manifest.json: shard entry 1: {why}"):
        Manifest(out, run).plan([])
    with pytest.raises(SerkitError, match="shard entry 1"):
        read_manifest(out)
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    (out / MANIFEST).write_text(json.dumps({**doc, "shards": "abc"}))
    with pytest.raises(SerkitError, match="'shards' is not a list"):
        read_manifest(out)


@pytest.mark.parametrize("mode", ["raise", "exit"])
def test_crash_mid_shard_loses_and_doubles_nothing(ray_local, docs, model, tmp_path, mode):
    """``raise``: the run stops (one line), the re-run finishes it. ``exit``: the actor
    process dies mid-shard; Ray restarts it and runs the shard again in the same run."""
    from serkit.scale.engine import init_local

    fmt = "parquet" if mode == "exit" else "jsonl"
    ref = tmp_path / "ref"
    ray_tag([docs], ref, model=model, fmt=fmt, actors=2, docs_per_shard=2)
    expected = list(read_manifest(ref).records())

    out = tmp_path / "out"
    fault = {"shard": 3, "mode": mode, "marker": str(tmp_path / "failed-once")}
    if mode == "raise":
        # The worker's own error, not Ray's wrapper.
        stopped = "the Ray run stopped: RuntimeError: injected failure in shard 3; .*run the same"
        with pytest.raises(SerkitError, match=stopped):
            ray_tag([docs], out, model=model, fmt=fmt, actors=2, docs_per_shard=2, _fault=fault)
        partial = json.loads((out / MANIFEST).read_text())
        assert not partial["complete"] and 3 not in [s["index"] for s in partial["shards"]]
        # The re-run is a new command, as from the CLI: a new Ray instance. (In the same
        # instance the failed run's actors keep their CPUs while anything still holds the
        # error: here pytest's log capture keeps Ray Data's record of it.)
        ray.shutdown()
        init_local(2)
        again = ray_tag([docs], out, model=model, fmt=fmt, actors=2, docs_per_shard=2)
        assert again.tagged == again.shards - len(partial["shards"]) >= 1
    else:
        run = ray_tag([docs], out, model=model, fmt=fmt, actors=2, docs_per_shard=2, _fault=fault)
        assert run.tagged == run.shards
    assert (tmp_path / "failed-once").exists()  # the failure did happen
    got = list(read_manifest(out).records())
    assert got == expected and len(got) == len(TEXTS)
    assert not [i for i, n in Counter(r["id"] for r in got).items() if n > 1]
    assert not list(out.glob(".*.tmp"))  # the dead actor's partial file is gone


def test_cli_engine_ray(ray_local, docs, model, tmp_path, capsys):
    out = tmp_path / "cli-out"
    res = CliRunner().invoke(
        app, ["tag", str(docs), "--engine", "ray", "-m", model, "-o", str(out)]
    )
    assert res.exit_code == 1, res.output  # one input skipped, as a local run says
    assert "bad.txt:1" in res.stderr and f"{out}: 1 shards" in res.stderr
    assert list(read_manifest(out).records()) == local_records([str(docs), "-m", model])
    with pytest.raises(SystemExit) as e:  # the real entry point maps errors to exit 2
        serkit.cli.main.main(["tag", str(docs), "--engine", "ray", "-m", model])
    assert e.value.code == 2 and "-o OUT_DIR" in capsys.readouterr().err


def test_bad_inputs_are_one_line_errors(tmp_path, model):
    with pytest.raises(SerkitError, match="not text arguments or stdin"):
        ray_tag(["some literal text"], tmp_path / "o", model=model)
    with pytest.raises(SerkitError, match="unknown format"):
        ray_tag([tmp_path], tmp_path / "o", model=model, fmt="html")
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / MANIFEST).write_text('{"kind": "serkit-shards/1", "run": {"model": "x"}}')
    (tmp_path / "a.txt").write_text("Linux")
    with pytest.raises(SerkitError, match="holds the shards of another run"):
        ray_tag([tmp_path / "a.txt"], tmp_path / "o", model=model)


def test_weak_label_bad_inputs_are_one_line_errors(tmp_path, capsys):
    from serkit.scale import ray_weak_label

    (tmp_path / "a.txt").write_text("Linux")
    lex = tmp_path / "lex.tsv"
    lex.write_text(LEXICON)
    with pytest.raises(SerkitError, match="missing.tsv: cannot open"):
        ray_weak_label([tmp_path / "a.txt"], tmp_path / "o", lexicon=tmp_path / "missing.tsv")
    with pytest.raises(SerkitError, match="unknown format 'html'"):
        ray_weak_label([tmp_path / "a.txt"], tmp_path / "o", lexicon=lex, fmt="html")
    a = str(tmp_path / "a.txt")
    for args, why in (
        ([a, a], "give one input"),  # the local engine reads one
        ([a, "--engine", "ray", "--from", "conll"], "not --from conll"),
        ([a, "--engine", "spark"], "unknown engine"),
    ):
        with pytest.raises(SystemExit) as e:
            serkit.cli.main.main(["weak-label", *args, "-l", str(lex), "-o", str(tmp_path / "w")])
        assert e.value.code == 2 and why in capsys.readouterr().err


# -- serkit weak-label --engine ray: the same engine, a lexicon instead of a model --------

LEXICON = """surface\ttypes
tensorflow\tLibrary:5
ubuntu\tOperating_System:4
java\tLanguage:9
Linux\tOperating_System:7
python\tLanguage:3,Library:1
nvidia a100\tDevice:2
pip\tApplication:1
"""


def local_weak_label(path: Path, lexicon: Path, out: Path) -> list[dict]:
    res = CliRunner().invoke(app, ["weak-label", str(path), "-l", str(lexicon), "-o", str(out)])
    assert res.exit_code == 0, res.output
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_weak_label_equals_local_weak_label_and_survives_a_dead_actor(ray_local, docs, tmp_path):
    """Text files, JSONL records and Parquet rows: each document's sentences are those of a
    local ``serkit weak-label`` of a text file holding it (a record's id as its stem)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from serkit.scale import ray_weak_label

    lex = tmp_path / "lex.tsv"
    lex.write_text(LEXICON)
    recs = {f"r{k}": TEXTS[k] + "\r\n\r\nSecond paragraph: pip on Ubuntu." for k in range(3)}
    jsonl = tmp_path / "recs.jsonl"
    jsonl.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in recs.items()))
    rows = {"p0": TEXTS[5], "p1": "Nothing here."}
    parquet = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"id": list(rows), "text": list(rows.values())}), parquet)
    as_files = tmp_path / "as-files"  # each record as a text file named after its id
    as_files.mkdir()
    for i, t in {**recs, **rows}.items():
        (as_files / f"{i}.txt").write_bytes(t.encode())
    texts = sorted(p for p in docs.glob("*.txt") if p.name != "bad.txt")
    expected = [
        rec
        for k, f in enumerate([*texts, *(as_files / f"{i}.txt" for i in {**recs, **rows})])
        for rec in local_weak_label(f, lex, tmp_path / f"local{k}.jsonl")
    ]
    assert sum(len(r["entities"]) for r in expected) > 10

    out = tmp_path / "weak"
    fault = {"shard": 1, "mode": "exit", "marker": str(tmp_path / "died-once")}
    run = ray_weak_label([docs, jsonl, parquet], out, lexicon=lex, min_ratio=0.4, actors=2,
                         docs_per_shard=4,
                         _fault=fault)  # fmt: skip
    assert (tmp_path / "died-once").exists()  # an actor did die mid-shard
    assert (run.shards, run.tagged, run.docs) == (4 + 1 + 1, 6, len(TEXTS) + 3 + 2)
    assert len(run.skipped) == 1 and "bad.txt:1: not UTF-8" in run.skipped[0]
    got = list(read_manifest(out).records())
    assert got == expected
    assert run.entities == sum(len(r["entities"]) for r in expected)
    assert not list(out.glob(".*.tmp"))

    # The command: same output; another lexicon setting is another run, never mixed in.
    cli = tmp_path / "cli"
    args = [str(docs), str(jsonl), str(parquet), "-l", str(lex), "--engine", "ray", "-o", str(cli)]
    res = CliRunner().invoke(app, ["weak-label", *args])
    assert res.exit_code == 1, res.output  # bad.txt skipped, as serkit tag says
    assert "bad.txt:1" in res.stderr and f"{cli}: 3 shards" in res.stderr  # 1000 docs each
    assert list(read_manifest(cli).records()) == expected
    with pytest.raises(SerkitError, match="another run.*min_ratio 0.4 -> 0.9"):
        ray_weak_label([docs], cli, lexicon=lex, min_ratio=0.9)
