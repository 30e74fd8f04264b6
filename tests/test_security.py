"""Nothing from a model folder runs, unpickles, escapes the folder, crashes a parser or is
read without bound (issue 14, items 1-4, 7 and 12): every way in (``serkit.load``,
``serkit tag``, ``--backbone``, ``--teacher``, ``export onnx``, a training checkpoint)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _runtime_model import build_tiny_model
from serkit.errors import ModelLoadError, SerkitError
from serkit.models import folder
from serkit.models.registry import load_tagger

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": ""}


def serkit_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """The CLI in its own process: a crash (segfault) shows as a return code here."""
    return subprocess.run(
        [sys.executable, "-m", "serkit", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-2000:]
    return lines[0]


def edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("sec") / "torch")


def copy_of(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


# -- 1. code from a model folder never runs -----------------------------------------------
def with_remote_code(d: Path, marker: Path, *, model_type: str = "serkit-evil") -> Path:
    """Make ``d`` a folder whose config asks transformers to import its ``evil.py``; that
    file writes ``marker`` when it is executed."""
    (d / "evil.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        "from transformers import BertConfig, BertForTokenClassification\n"
        f"class EvilConfig(BertConfig):\n    model_type = {model_type!r}\n"
        "class EvilModel(BertForTokenClassification):\n    config_class = EvilConfig\n"
    )
    edit_json(
        d / "config.json",
        model_type=model_type,
        auto_map={
            "AutoConfig": "evil.EvilConfig",
            "AutoModelForTokenClassification": "evil.EvilModel",
        },
    )
    return d


def test_tag_refuses_a_folder_with_auto_map_in_one_line_and_runs_nothing(tmp_path, tiny):
    marker = tmp_path / "MARKER"
    d = with_remote_code(copy_of(tiny, tmp_path / "m"), marker)
    proc = serkit_cli("tag", "--model", str(d), "-", stdin="yes\nI use Python.\n")
    assert "auto_map" in one_line_error(proc)
    assert proc.stdout == ""
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["torch", "onnx"])
def test_load_refuses_auto_map_on_every_runtime(tmp_path, tiny_dirs, kind):
    marker = tmp_path / "MARKER"
    d = with_remote_code(copy_of(tiny_dirs[kind], tmp_path / "m"), marker)
    with pytest.raises(ModelLoadError, match="auto_map"):
        load_tagger(d, prefer="torch" if kind == "torch" else "auto", threads=1)
    assert not marker.exists()


def test_auto_map_in_tokenizer_config_is_refused(tmp_path, tiny):
    d = copy_of(tiny, tmp_path / "m")
    (d / folder.TOKENIZER_CONFIG).write_text(json.dumps({"auto_map": {"AutoTokenizer": "x.Y"}}))
    with pytest.raises(ModelLoadError, match="auto_map"):
        folder.torch_weights(d)


def test_an_unknown_model_type_is_refused_not_resolved(tmp_path, tiny):
    d = copy_of(tiny, tmp_path / "m")
    edit_json(d / "config.json", model_type="serkit-evil")
    with pytest.raises(ModelLoadError, match="unknown model_type 'serkit-evil'"):
        load_tagger(d, prefer="torch", threads=1)


def _load_backbone(d: Path):
    from serkit.models.encoding import FeatureScheme
    from serkit.models.transformer import build_model

    return build_model(str(d), ["O", "B-X", "I-X"], FeatureScheme())


def _load_teacher(d: Path):
    from serkit.training.distill import load_teacher

    cfg = json.loads((d / "config.json").read_text())
    labels = [cfg["id2label"][str(i)] for i in range(len(cfg["id2label"]))]
    return load_teacher(d, labels, cfg["serkit_features"])


def _export(d: Path):
    from serkit.models.export_onnx import export_onnx

    return export_onnx(d, d.parent / "exported")


LOADERS = {"backbone": _load_backbone, "teacher": _load_teacher, "export": _export}


@pytest.mark.parametrize("way", sorted(LOADERS))
def test_backbone_teacher_and_export_refuse_remote_code(tmp_path, tiny, way):
    marker = tmp_path / "MARKER"
    d = with_remote_code(copy_of(tiny, tmp_path / "m"), marker)
    with pytest.raises(ModelLoadError, match="auto_map"):
        LOADERS[way](d)
    assert not marker.exists()
    assert not (tmp_path / "exported").exists()


def test_remote_code_is_refused_even_for_a_known_model_type(tmp_path, tiny):
    """With an auto_map and ``model_type: bert``, transformers may still prefer the
    folder's class; serkit refuses the auto_map itself."""
    marker = tmp_path / "MARKER"
    d = with_remote_code(copy_of(tiny, tmp_path / "m"), marker, model_type="bert")
    with pytest.raises(ModelLoadError, match="auto_map"):
        load_tagger(d, prefer="torch", threads=1)
    assert not marker.exists()


# -- 2. nothing is unpickled --------------------------------------------------------------
def pickle_only(d: Path) -> Path:
    import torch
    from safetensors.torch import load_file

    weights = load_file(str(d / folder.SAFETENSORS))
    (d / folder.SAFETENSORS).unlink()
    torch.save(weights, d / "pytorch_model.bin")
    return d


def bin_shards(d: Path) -> Path:
    """An index that passes the 'is there a safetensors index' test, with pickle shards."""
    import torch
    from safetensors.torch import load_file

    weights = load_file(str(d / folder.SAFETENSORS))
    (d / folder.SAFETENSORS).unlink()
    torch.save(weights, d / "pytorch_model-00001-of-00001.bin")
    index = {
        "metadata": {},
        "weight_map": dict.fromkeys(weights, "pytorch_model-00001-of-00001.bin"),
    }
    (d / folder.SAFETENSORS_INDEX).write_text(json.dumps(index))
    return d


@pytest.mark.parametrize("way", ["load", *sorted(LOADERS)])
@pytest.mark.parametrize(("damage", "match"), [(pickle_only, "pickle"), (bin_shards, "pickle")])
def test_pickled_weights_are_refused_by_every_loader(
    tmp_path, tiny, monkeypatch, way, damage, match
):
    import torch

    def no_unpickling(*a, **k):
        raise AssertionError("torch.load was called")

    d = damage(copy_of(tiny, tmp_path / "m"))
    monkeypatch.setattr(torch, "load", no_unpickling)
    with pytest.raises(ModelLoadError, match=match) as err:
        if way == "load":
            load_tagger(d, prefer="torch", threads=1)
        else:
            LOADERS[way](d)
    assert "\n" not in str(err.value)


def test_export_of_a_pickle_only_folder_is_one_line(tmp_path, tiny):
    d = pickle_only(copy_of(tiny, tmp_path / "m"))
    proc = serkit_cli("export", "onnx", str(d), "-o", str(tmp_path / "out"))
    assert "pickle" in one_line_error(proc)
    assert not (tmp_path / "out" / folder.ONNX_FP32).exists()


# -- 3. file names never leave the folder ---------------------------------------------------
@pytest.mark.parametrize(
    "escape", ["../outside.safetensors", "ABSOLUTE", "sub/../../o.safetensors"]
)
def test_an_index_pointing_outside_the_folder_is_refused(tmp_path, tiny, escape):
    d = copy_of(tiny, tmp_path / "m")
    outside = tmp_path / "outside.safetensors"
    shutil.move(d / folder.SAFETENSORS, outside)  # loadable weights, outside the folder
    name = str(outside) if escape == "ABSOLUTE" else escape
    from safetensors import safe_open

    with safe_open(str(outside), "pt") as f:
        keys = list(f.keys())
    (d / folder.SAFETENSORS_INDEX).write_text(json.dumps({"weight_map": dict.fromkeys(keys, name)}))
    for load in (lambda: load_tagger(d, prefer="torch", threads=1), lambda: _export(d)):
        with pytest.raises(ModelLoadError, match="leaves the model folder"):
            load()


@pytest.mark.parametrize("name", ["../x.onnx", "/etc/passwd", "C:\\x", "a/../../b", "", "\x00"])
def test_file_names_in_a_card_cannot_leave_the_folder(tmp_path, tiny_dirs, name):
    d = copy_of(tiny_dirs["onnx"], tmp_path / "m")
    edit_json(d / folder.CARD_NAME, files={name: "0" * 64})
    with pytest.raises(ModelLoadError, match="leaves the model folder"):
        load_tagger(d)


# -- 4. damaged weight files never reach a native parser ----------------------------------------
@pytest.fixture(scope="module")
def crf_dir(tmp_path_factory) -> Path:
    from serkit.tokens import Sentence
    from serkit.training.crf import train_crf

    data = [
        Sentence(["I", "use", "Linux", "and", "Python"], ["O", "O", "B-OS", "O", "B-Lang"]),
        Sentence(["Python", "on", "Windows"], ["B-Lang", "O", "B-OS"]),
    ] * 3
    d = tmp_path_factory.mktemp("crf") / "m"
    train_crf(data, None, d, {"max_iterations": 10})
    return d


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [truncate, flip])
def test_a_damaged_crf_model_is_one_line_not_a_crash(tmp_path, crf_dir, damage):
    d = copy_of(crf_dir, tmp_path / "m")
    damage(d / folder.CRF_MODEL)
    proc = serkit_cli("tag", "--model", str(d), "-", stdin="I use Linux\n")
    assert "damaged or changed" in one_line_error(proc)


def test_a_truncated_crf_model_without_checksums_is_one_line_not_a_crash(tmp_path, crf_dir):
    """Cards from before checksums: the model file is parsed in Python first."""
    d = copy_of(crf_dir, tmp_path / "m")
    card = json.loads((d / folder.CARD_NAME).read_text())
    del card["files"]
    (d / folder.CARD_NAME).write_text(json.dumps(card))
    truncate(d / folder.CRF_MODEL)
    proc = serkit_cli("tag", "--model", str(d), "-", stdin="I use Linux\n")
    assert "crfsuite" in one_line_error(proc)


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("torch", folder.SAFETENSORS),
        ("torch", folder.TOKENIZER),
        ("onnx", folder.ONNX_FP32),
        ("onnx", folder.TOKENIZER),
        ("crf", folder.LEXICON),
    ],
)
@pytest.mark.parametrize(
    ("unlisted", "match"),
    [(False, "damaged or changed"), (True, "a weight file that .* does not list")],
)
def test_every_weight_file_is_checked_against_the_card(
    tmp_path, tiny_dirs, crf_dir, kind, name, unlisted, match
):
    """A changed weight file is refused; so is one whose entry was dropped from the card's
    ``files`` (it was loaded unchecked)."""
    src = crf_dir if kind == "crf" else tiny_dirs[kind]
    d = copy_of(src, tmp_path / "m")
    if unlisted:
        card = json.loads((d / folder.CARD_NAME).read_text(encoding="utf-8"))
        del card["files"][name]
        (d / folder.CARD_NAME).write_text(json.dumps(card), encoding="utf-8")
    flip(d / name)
    with pytest.raises(ModelLoadError, match=f"{name}: {match}"):
        load_tagger(d, prefer="torch" if kind == "torch" else "auto", threads=1)


def test_export_does_not_bless_a_damaged_file_with_a_fresh_checksum(tmp_path, tiny):
    d = copy_of(tiny, tmp_path / "m")
    flip(d / folder.TOKENIZER)
    with pytest.raises(ModelLoadError, match="damaged or changed"):
        _export(d)


# -- 12. unbounded reads and tracebacks --------------------------------------------------------
def test_a_tokenizer_linked_to_dev_zero_is_refused_not_read(tmp_path, tiny_dirs):
    d = copy_of(tiny_dirs["onnx"], tmp_path / "m")
    (d / folder.TOKENIZER).unlink()
    (d / folder.TOKENIZER).symlink_to("/dev/zero")
    with pytest.raises(ModelLoadError, match="not a regular file"):
        load_tagger(d)


def test_a_huge_tokenizer_is_refused_before_reading(tmp_path, tiny_dirs, monkeypatch):
    d = copy_of(tiny_dirs["onnx"], tmp_path / "m")
    with open(d / folder.TOKENIZER, "r+b") as f:  # sparse: no disk used
        f.truncate(folder.MAX_TOKENIZER_BYTES + 1)
    with pytest.raises(ModelLoadError, match="over the limit"):
        load_tagger(d)


def test_a_lexicon_linked_to_dev_zero_is_refused(tmp_path):
    from serkit.lexicon import Lexicon

    (tmp_path / "lex.tsv").symlink_to("/dev/zero")
    with pytest.raises(SerkitError, match="not a regular file"):
        Lexicon.load(tmp_path / "lex.tsv")


def test_a_deeply_nested_card_is_one_line(tmp_path, tiny_dirs):
    d = copy_of(tiny_dirs["onnx"], tmp_path / "m")
    (d / folder.CARD_NAME).write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ModelLoadError, match="nested too deeply"):
        load_tagger(d)
    proc = serkit_cli("tag", "--model", str(d), "-", stdin="x\n")
    assert "nested too deeply" in one_line_error(proc)


# -- 7 (half). training checkpoints ---------------------------------------------------------
@pytest.fixture()
def ckpt(tmp_path):
    """A saved checkpoint of a tiny model, and fresh objects to resume it into."""
    import torch

    from serkit.training.checkpoint import save_checkpoint

    def parts():
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 3)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
        return model, opt, sched

    model, opt, sched = parts()
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    sched.step()
    d = tmp_path / "checkpoint"
    save_checkpoint(d, model, opt, sched, {"step": 7, "best_f1": 0.5, "config": {"x": 1}})
    return d, parts


def test_a_checkpoint_resumes(ckpt):
    from serkit.training.checkpoint import load_checkpoint

    d, parts = ckpt
    assert load_checkpoint(d, *parts())["step"] == 7


@pytest.mark.parametrize("name", ["model.safetensors", "optimizer.safetensors"])
def test_a_bit_flipped_checkpoint_is_refused(ckpt, name):
    from serkit.training.checkpoint import load_checkpoint

    d, parts = ckpt
    data = bytearray((d / name).read_bytes())
    data[-3] ^= 0x01  # in the tensor data: safetensors itself would not notice
    (d / name).write_bytes(bytes(data))
    with pytest.raises(SerkitError, match=f"{name} changed since it was saved"):
        load_checkpoint(d, *parts())


def test_a_checkpoint_with_nan_weights_is_refused(tmp_path):
    """Saved by a run whose loss went NaN: checksums match, the weights are not finite."""
    import torch

    from serkit.training.checkpoint import load_checkpoint, save_checkpoint

    model = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters())
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    with torch.no_grad():
        model.weight[0, 0] = float("nan")
    save_checkpoint(tmp_path / "c", model, opt, sched, {"step": 3, "config": {}})
    with pytest.raises(SerkitError, match="weight holds NaN or infinite values"):
        load_checkpoint(tmp_path / "c", model, opt, sched)


@pytest.mark.parametrize("step", [-50, "abc", 1.5, True, None])
def test_a_checkpoint_step_that_is_not_a_count_is_one_line(ckpt, step):
    from serkit.training.checkpoint import load_checkpoint, read_state

    d, parts = ckpt
    edit_json(d / "state.json", step=step)
    for read in (lambda: read_state(d), lambda: load_checkpoint(d, *parts())):
        with pytest.raises(SerkitError, match="is not a count of steps") as err:
            read()
        assert "\n" not in str(err.value)


def test_a_deeply_nested_checkpoint_state_is_one_line(ckpt):
    from serkit.training.checkpoint import read_state

    d, _ = ckpt
    (d / "state.json").write_text("{" + '"a":{' * 100_000 + "}" * 100_001)
    with pytest.raises(SerkitError, match="nested too deeply"):
        read_state(d)


def test_a_checkpoint_without_checksums_still_resumes(ckpt):
    """Checkpoints written before checksums were recorded."""
    from serkit.training.checkpoint import load_checkpoint

    d, parts = ckpt
    state = json.loads((d / "state.json").read_text())
    del state["files"]
    (d / "state.json").write_text(json.dumps(state))
    assert load_checkpoint(d, *parts())["step"] == 7


def test_rewriting_a_card_never_blesses_an_unlisted_weight_file(tmp_path, tiny_dirs):
    """`serkit eval --record` rewrote the card with a checksum for every weight file in the
    folder, so a graph added by hand (refused at load) loaded after one recorded result."""
    from serkit.models.folder import record_result
    from serkit.packaging import model_files

    d = copy_of(tiny_dirs["int8"], tmp_path / "m")
    shutil.copyfile(tiny_dirs["onnx"] / folder.ONNX_FP32, d / folder.ONNX_FP32)
    before = (d / folder.CARD_NAME).read_bytes()
    with pytest.raises(ModelLoadError, match=f"{folder.ONNX_FP32}: a weight file that"):
        record_result(d, "W1", {"f1": 0.5})
    assert (d / folder.CARD_NAME).read_bytes() == before
    with pytest.raises(ModelLoadError, match="does not list"):
        model_files(d)
    with pytest.raises(ModelLoadError, match="does not list"):
        load_tagger(d, prefer="onnx-fp32", threads=1)
