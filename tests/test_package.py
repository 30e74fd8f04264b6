"""`serkit package`: a model folder as a wheel that pip installs and serkit finds by name."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import serkit
from _runtime_model import build_tiny_model
from serkit.cli.main import main
from serkit.errors import SerkitError
from serkit.models.registry import installed_model, load_tagger
from serkit.packaging import build_wheel

NAME = "tiny-ser"
TEXT = "I installed tensorflow on ubuntu with pip and ran it on an nvidia a100."


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    d = build_tiny_model(tmp_path_factory.mktemp("pkg") / "tiny")
    (d / "pytorch_model.bin").write_bytes(b"a pickle: never shipped")
    (d / "checkpoint").mkdir()  # training state: not part of the model
    (d / "checkpoint" / "optimizer.safetensors").write_bytes(b"x")
    (d / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n')  # the run's log
    return d


@pytest.fixture(scope="module")
def wheel(tiny_model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    with pytest.raises(SystemExit) as exc:
        main(["package", str(tiny_model), "-o", str(out), "--name", NAME, "--version", "1.2"])
    assert exc.value.code in (0, None)
    (whl,) = out.glob("*.whl")
    return whl


@pytest.fixture(scope="module")
def site(wheel, tmp_path_factory) -> Path:
    """The wheel installed by pip, offline, into a folder of its own."""
    target = tmp_path_factory.mktemp("site")
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
    subprocess.run([*cmd, "--target", str(target), str(wheel)], check=True, timeout=300)
    return target


def test_wheel_layout_record_and_metadata(wheel, tiny_model):
    assert wheel.name == "tiny_ser-1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        info = "tiny_ser-1.2.dist-info"
        model = {n.split("/", 2)[2] for n in names if n.startswith("tiny_ser/model/")}
        assert {"serkit.json", "config.json", "model.safetensors", "tokenizer.json"} <= model
        assert not any(n.startswith(("pytorch_model.bin", "checkpoint")) for n in model)
        assert "metrics.jsonl" not in model  # a run's file, not the model's
        assert {"tiny_ser/__init__.py", "tiny_ser/README.md", f"{info}/RECORD"} <= names
        assert zf.read("tiny_ser/model/serkit.json") == (tiny_model / "serkit.json").read_bytes()
        assert zf.read(f"{info}/entry_points.txt").decode() == (
            "[serkit_models]\ntiny-ser = tiny_ser\n"
        )
        meta = zf.read(f"{info}/METADATA").decode()
        readme = zf.read("tiny_ser/README.md").decode()
        assert meta.startswith("Metadata-Version: 2.1\nName: tiny-ser\nVersion: 1.2\n")
        assert meta.endswith("\n\n" + readme)
        if (tiny_model / "README.md").is_file():  # the folder's own model card travels
            assert readme == (tiny_model / "README.md").read_text(encoding="utf-8")
        assert "Tag: py3-none-any" in zf.read(f"{info}/WHEEL").decode()
        record = zf.read(f"{info}/RECORD").decode().splitlines()
        assert {line.split(",")[0] for line in record} == names
        for line in record:
            path, digest, size = line.split(",")
            if path.endswith("RECORD"):
                continue
            data = zf.read(path)
            want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == "sha256=" + want.decode() and int(size) == len(data)


def test_same_folder_same_wheel(tiny_model, wheel, tmp_path):
    again = build_wheel(tiny_model, tmp_path, NAME, "1.2").wheel
    assert again.read_bytes() == wheel.read_bytes()


def test_folder_without_a_model_card_gets_a_readme(tiny_model, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(tiny_model, bare)
    (bare / "README.md").unlink(missing_ok=True)
    with zipfile.ZipFile(build_wheel(bare, tmp_path / "dist", NAME, "1.2").wheel) as zf:
        readme = zf.read("tiny_ser/README.md").decode()
    assert readme.startswith("# tiny-ser 1.2\n")
    assert "entity types: Application, Device, Library, Operating_System" in readme
    assert 'serkit.load("tiny-ser")' in readme


def test_installed_package_loads_by_name(site, tiny_model, monkeypatch, capsys):
    assert installed_model(NAME) is None  # not on sys.path yet
    monkeypatch.syspath_prepend(str(site))
    folder = site / "tiny_ser" / "model"
    assert installed_model(NAME) == folder
    assert installed_model("Tiny_Ser") == folder  # names compare as pip compares them
    want = load_tagger(tiny_model, prefer="torch")(TEXT)
    assert want  # the tiny random model tags plenty: the comparisons below are not vacuous

    tagger = serkit.load(NAME, prefer="torch")
    assert tagger.model_dir == folder and tagger(TEXT) == want

    with pytest.raises(SystemExit) as exc:
        main(["tag", "--model", NAME, "--runtime", "torch", "--text", TEXT])
    assert exc.value.code in (0, None)
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["start"], e["end"], e["label"]) for e in record["entities"]] == [
        (e.start, e.end, e.label) for e in want
    ]

    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("serkit", config={"model": NAME, "runtime": "torch"})
    doc = nlp(TEXT)
    assert [(s.start_char, s.end_char, s.label_) for s in doc.ents] == [
        (e.start, e.end, e.label) for e in want
    ]


def test_a_new_version_of_an_installed_model_package_builds(
    site, tiny_model, monkeypatch, tmp_path
):
    monkeypatch.syspath_prepend(str(site))  # tiny_ser is importable now: a model package
    assert (
        build_wheel(tiny_model, tmp_path, NAME, "1.3").wheel.name == "tiny_ser-1.3-py3-none-any.whl"
    )


def test_a_missing_name_is_still_a_clear_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["tag", "--model", "no-such-package", "--text", TEXT])
    assert exc.value.code == 2
    assert "no such model directory or installed model package" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "1bad"], "bad package name '1bad'"),
        (["--name", "json"], "would shadow"),
        (["--name", "tiny-"], "bad package name 'tiny-'"),  # pip refuses such a wheel
        (["--name", "numpy"], "its module 'numpy' would shadow"),  # pip would overwrite it
        (["--name", "PyYAML"], "would be replaced by pip"),  # module yaml, distribution pyyaml
        (["--name", "ok", "--version", "one"], "bad version 'one'"),
    ],
)
def test_bad_name_or_version_exit_2_with_one_line(tiny_model, tmp_path, args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["package", str(tiny_model), "-o", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_damaged_or_missing_model_is_refused(tiny_model, tmp_path):
    with pytest.raises(SerkitError, match="not a serkit model directory"):
        build_wheel(tmp_path, tmp_path / "dist", NAME)
    bad = tmp_path / "bad"
    shutil.copytree(tiny_model, bad)
    with open(bad / "model.safetensors", "ab") as f:
        f.write(b"\0")
    with pytest.raises(SerkitError, match="damaged or changed"):
        build_wheel(bad, tmp_path / "dist", NAME)
    assert not (tmp_path / "dist").exists()
