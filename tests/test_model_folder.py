"""One owner for the model folder (issue 15, item 2): its file names are spelled once, the
card has one layout with the checksums of the weight files, and a load reads it once."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

import serkit
from _runtime_model import build_tiny_model
from serkit.errors import ModelLoadError
from serkit.models import folder
from serkit.models.registry import default_model_dir, load_tagger

SRC = Path(serkit.__file__).resolve().parent


def spellings(names: tuple[str, ...]) -> dict[str, set[str]]:
    """Which modules hold a string literal (docstrings aside) containing each name."""
    found: dict[str, set[str]] = {n: set() for n in names}
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) in docstrings:
                    continue
                for name in names:
                    if name in node.value:
                        found[name].add(path.relative_to(SRC).as_posix())
    return found


def test_model_file_names_are_spelled_in_one_module():
    names = (folder.LEXICON, folder.ONNX_FP32, folder.ONNX_INT8, folder.CRF_MODEL)
    found = spellings(names)
    for name, where in found.items():
        assert where == {"models/folder.py"}, (name, where)


def test_write_card_records_the_checksum_of_every_weight_file(tmp_path):
    d = build_tiny_model(tmp_path / "m")
    card = folder.read_card(d)
    assert card["files"] == {
        name: folder.sha256_file(d / name) for name in (folder.SAFETENSORS, folder.TOKENIZER)
    }


def test_an_exported_card_lists_its_own_folder_not_the_source(tiny_dirs):
    for kind, graph in (("onnx", folder.ONNX_FP32), ("int8", folder.ONNX_INT8)):
        d = tiny_dirs[kind]
        files = folder.read_card(d)["files"]
        assert set(files) == {graph, folder.TOKENIZER}
        assert files[graph] == folder.sha256_file(d / graph)


def test_the_shipped_default_card_covers_its_weight_files():
    d = default_model_dir()
    card = folder.read_card(d)
    assert set(card["files"]) == set(folder.weight_files(d))
    assert {folder.ONNX_INT8, folder.TOKENIZER, folder.LEXICON} <= set(card["files"])
    folder.verify_all(d, card)


def test_a_card_without_checksums_still_loads(tmp_path, tiny_dirs):
    """Models saved before cards carried ``files``."""
    d = tmp_path / "m"
    shutil.copytree(tiny_dirs["onnx"], d)
    card = json.loads((d / folder.CARD_NAME).read_text())
    del card["files"]
    (d / folder.CARD_NAME).write_text(json.dumps(card))
    assert len(load_tagger(d).tag_tokens(["I", "use", "Linux"])) == 3


@pytest.mark.parametrize(("kind", "prefer"), [("onnx", "auto"), ("torch", "torch")])
def test_a_load_reads_the_card_once(tiny_dirs, monkeypatch, kind, prefer):
    reads: list[str] = []
    real = folder.read_bytes

    def spy(path, limit):
        reads.append(Path(path).name)
        return real(path, limit)

    monkeypatch.setattr(folder, "read_bytes", spy)
    load_tagger(tiny_dirs[kind], prefer=prefer, threads=1)
    assert reads.count(folder.CARD_NAME) == 1


@pytest.mark.parametrize("name", ["model.safetensors", "shards/model-1.safetensors", "a..b"])
def test_plain_relative_names_stay_inside(tmp_path, name):
    assert folder.inside(tmp_path, name) == tmp_path / name


def test_recording_a_result_does_not_bless_a_damaged_file(tmp_path, tiny_dirs):
    from serkit.card import record_result

    d = tmp_path / "m"
    shutil.copytree(tiny_dirs["onnx"], d)
    before = (d / folder.CARD_NAME).read_text()
    record_result(d, "T1", {"f1": 0.5})
    card = folder.read_card(d)
    assert card["results"]["T1"] == {"f1": 0.5}
    assert card["files"] == json.loads(before)["files"]
    tok = d / folder.TOKENIZER
    tok.write_bytes(tok.read_bytes() + b" ")
    after = (d / folder.CARD_NAME).read_text()
    with pytest.raises(ModelLoadError, match="damaged or changed"):
        record_result(d, "T2", {"f1": 0.6})
    assert (d / folder.CARD_NAME).read_text() == after


def test_the_old_card_module_is_the_folder_module():
    """``serkit.card`` stays importable for code written against it."""
    from serkit import card

    assert card.read_card is folder.read_card
    assert card.write_card is folder.write_card
    assert card.CARD_NAME == folder.CARD_NAME


def test_a_kill_while_publishing_never_leaves_the_old_card_over_new_files(tmp_path, monkeypatch):
    """A kill between the renames of ``publish`` must not leave a folder that loads as a
    mix: the old card (which checksums only the weights) over a new ``config.json``
    (another window size) beside the old weights. It loads as nothing, in one line."""
    out = build_tiny_model(tmp_path / "m", max_length=32)
    stage = build_tiny_model(out / folder.STAGE_DIR, max_length=16, seed=1)
    replace = folder.os.replace

    def killed_at_weights(src, dst):
        if Path(src).name == folder.SAFETENSORS:
            raise KeyboardInterrupt  # the process dies here: nothing below runs
        replace(src, dst)

    monkeypatch.setattr(folder.os, "replace", killed_at_weights)
    with pytest.raises(KeyboardInterrupt):
        folder.publish(stage, out)
    monkeypatch.undo()
    assert json.loads((out / folder.CONFIG).read_text())["serkit_max_length"] == 16
    with pytest.raises(ModelLoadError, match="interrupted") as e:
        serkit.load(out)
    assert "\n" not in str(e.value)
    with folder.staged(out) as again:  # the leftover stage does not stop the next save
        shutil.rmtree(again)
        shutil.copytree(build_tiny_model(tmp_path / "new", max_length=16, seed=1), again)
    assert serkit.load(out).model.config.serkit_max_length == 16


def test_published_model_files_are_readable_as_any_new_file(tmp_path):
    """safetensors (and temp files) create files private to their owner: a trained
    model's weights were 0600, unreadable to the service account that serves them."""
    import os
    import stat

    from serkit.files.atomic import new_file_mode

    with folder.staged(tmp_path / "m") as stage:
        for name in (folder.SAFETENSORS, folder.CONFIG, folder.CARD_NAME):
            (stage / name).write_text("{}")
            os.chmod(stage / name, 0o600)
    for name in (folder.SAFETENSORS, folder.CONFIG, folder.CARD_NAME):
        mode = stat.S_IMODE((tmp_path / "m" / name).stat().st_mode)
        assert mode == new_file_mode(), (name, oct(mode))


def test_a_card_and_its_readme_name_no_private_folder(tmp_path, monkeypatch):
    """A card travels (wheels, the Hub): the command that made it (a notebook's kernel
    launcher, a script) and the paths it records name no home folder; a path inside the
    working directory is recorded relative to it; other absolute paths stay."""
    home, work = tmp_path / "home" / "alice", tmp_path / "srv"
    (home / "proj").mkdir(parents=True)
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home / "proj")
    launcher = f"{home}/.venv/lib/ipykernel_launcher.py"
    monkeypatch.setattr(
        "sys.argv", [launcher, "-f", f"{home}/.local/kernel-1.json", f"--data={work}/x.txt"]
    )
    assert folder.command_line() == (
        f"~/.venv/lib/ipykernel_launcher.py -f ~/.local/kernel-1.json --data={work}/x.txt"
    )
    d = home / "proj" / "model"
    d.mkdir()
    config = {"train": f"{home}/proj/data/train.txt", "dev": "/"}
    folder.write_card(d, {"arch": "crf", "backbone": f"{home}/bert", "config": config})
    card = folder.read_card(d)
    assert card["backbone"] == "~/bert" and card["config"]["train"] == "data/train.txt"
    assert card["config"]["dev"] == "/"
    for name in ("serkit.json", "README.md"):
        assert "alice" not in (d / name).read_text(encoding="utf-8")


def test_shareable_paths_keep_root_paths_and_rerun_in_a_shell(monkeypatch, tmp_path):
    """With a working directory or home of `/` (a container), every absolute path became
    relative or `~/...`; `~'/my dir'` and `--opt=~/x` are not expanded by a shell."""
    import subprocess

    monkeypatch.chdir("/")
    monkeypatch.setenv("HOME", "/")
    assert folder.shareable_path("/data/train.txt") == "/data/train.txt"
    monkeypatch.setenv("HOME", str(tmp_path))  # the working directory stays `/`
    home_file = str(tmp_path / "my dir" / "x")
    words = [folder._shareable_arg(a) for a in (home_file, f"--output={tmp_path}/y")]
    assert words == ["~/'my dir/x'", "--output ~/y"]
    echoed = subprocess.run(
        ["sh", "-c", "printf '%s\\n' " + " ".join(words)],
        capture_output=True, text=True, env={"HOME": str(tmp_path)}, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert echoed == [home_file, "--output", f"{tmp_path}/y"]
