"""Training done wrong on purpose: damaged or foreign checkpoints, data changed under a
run, a kill while saving, output folders that are files, data or other models."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from _corpus import TOY as TRAINING_TOY
from _corpus import write_tagged
from serkit.errors import SerkitError
from serkit.training.config import TrainConfig
from serkit.training.crf import train_from_config
from serkit.training.trainer import Trainer, train
from test_training import config as training_config

TOY = TRAINING_TOY[:4]
#: test_training's config, made short and plain: no validation slice, k = 1, six steps.
PLAIN = dict(val_slice=False, head_lr=None, k=1, alpha=0.0, alpha_warmup=0.1, max_steps=6)


def config(backbone: Path, data: Path, out: Path, **kw) -> TrainConfig:
    return training_config(backbone, data, out, **{**PLAIN, **kw})


@pytest.fixture(scope="module")
def killed(backbone, tmp_path_factory) -> tuple[Path, Path]:
    """(data file, output dir) of a run killed at step 5; its checkpoint is at step 4."""
    root = tmp_path_factory.mktemp("killed")
    data = write_tagged(root / "toy.txt", TOY * 3)
    out = root / "m"
    Trainer(config(backbone, data, out), progress=False).run(stop_at=5)
    return data, out


def copy_run(killed, tmp_path: Path) -> tuple[Path, Path]:
    data, out = killed
    new_data = tmp_path / "toy.txt"
    shutil.copyfile(data, new_data)
    new_out = tmp_path / "m"
    shutil.copytree(out, new_out)
    state = json.loads((new_out / "checkpoint" / "state.json").read_text())
    state["config"]["train"] = str(new_data)
    state["config"]["output"] = str(new_out)
    (new_out / "checkpoint" / "state.json").write_text(json.dumps(state))
    return new_data, new_out


def model_files(out: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != "metrics.jsonl"
    }


def events(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[:1000])


def _edit_state(ckpt: Path, **changes) -> None:
    state = json.loads((ckpt / "state.json").read_text())
    state.update(changes)
    (ckpt / "state.json").write_text(json.dumps(state))


@pytest.mark.parametrize(
    "damage",
    [
        lambda c: (c / "state.json").write_text('{"step": 4,'),
        lambda c: (c / "state.json").write_text("[1, 2]"),
        lambda c: _truncate(c / "model.safetensors"),
        lambda c: (c / "optimizer.safetensors").unlink(),
        lambda c: _edit_state(c, optimizer_scalars=None),
    ],
    ids=["half-json", "json-list", "truncated-weights", "no-optimizer", "bad-field"],
)
def test_resume_from_a_damaged_checkpoint_is_a_clear_error(backbone, killed, tmp_path, damage):
    data, out = copy_run(killed, tmp_path)
    damage(out / "checkpoint")
    with pytest.raises(SerkitError, match="cannot resume"):
        train(config(backbone, data, out), resume=True, progress=False)


def test_resume_refuses_a_changed_label_set(backbone, killed, tmp_path):
    data, out = copy_run(killed, tmp_path)
    _edit_state(out / "checkpoint", labels=["O", "B-X", "I-X"])
    with pytest.raises(SerkitError, match="label set changed"):
        train(config(backbone, data, out), resume=True, progress=False)


def test_resume_refuses_training_data_changed_since_the_start(backbone, killed, tmp_path):
    data, out = copy_run(killed, tmp_path)
    write_tagged(data, list(reversed(TOY)) * 3)  # same labels, other sentences
    card = (out / "serkit.json").read_bytes()
    with pytest.raises(SerkitError, match="training data changed"):
        train(config(backbone, data, out), resume=True, progress=False)
    assert (out / "serkit.json").read_bytes() == card


def test_resume_after_a_kill_between_the_checkpoint_renames(backbone, killed, tmp_path):
    """save_checkpoint renames checkpoint -> checkpoint.old, then .tmp -> checkpoint; a
    kill in between must not make --resume start over from step 0."""
    data, out = copy_run(killed, tmp_path)
    os.replace(out / "checkpoint", out / "checkpoint.old")
    train(config(backbone, data, out), resume=True, progress=False)
    assert {"event": "resume", "step": 4} in events(out)


def test_resume_without_a_checkpoint_is_an_error(backbone, killed, tmp_path):
    data, out = copy_run(killed, tmp_path)
    shutil.rmtree(out / "checkpoint")
    with pytest.raises(SerkitError, match="no checkpoint"):
        train(config(backbone, data, out), resume=True, progress=False)


def test_a_kill_while_saving_the_model_leaves_the_previous_one_whole(
    backbone, tmp_path, monkeypatch
):
    data = write_tagged(tmp_path / "toy.txt", TOY * 3)
    out = tmp_path / "m"
    trainer = Trainer(config(backbone, data, out), progress=False)
    trainer.run(stop_at=5)  # the model was saved at step 5 (eval_every)
    before = model_files(out)
    with torch.no_grad():
        trainer.model.classifier.weight.add_(1.0)

    def die(*args, **kwargs):
        raise OSError(28, "No space left on device")

    # The weights are written, then the disk fills up before the tokenizer and card.
    monkeypatch.setattr("serkit.training.trainer.save_tokenizer", die)
    with pytest.raises(OSError):
        trainer.save_model(None, 6, {})
    assert model_files(out) == before


def test_a_new_run_replaces_an_old_model_entirely(backbone, tmp_path, capsys):
    """Old ONNX graphs (preferred by the loader) and an old checkpoint (which --resume
    would continue under the new run's name) must not outlive a fresh run."""
    data = write_tagged(tmp_path / "toy.txt", TOY * 3)
    out = tmp_path / "m"
    (out / "checkpoint").mkdir(parents=True)
    (out / "checkpoint" / "state.json").write_text('{"step": 999, "config": {}}')
    (out / "model.int8.onnx").write_bytes(b"old graph")
    (out / "lexicon.tsv").write_text("old lexicon\n")
    (out / "serkit.json").write_text('{"arch": "transformer"}')
    cfg = config(backbone, data, out, features=["case"], eval_every=1, checkpoint_every=4)
    with pytest.raises(SerkitError, match="--resume continues it, --overwrite discards it"):
        Trainer(cfg, progress=False).run()  # a checkpoint is never deleted unasked
    assert (out / "checkpoint" / "state.json").is_file()
    cfg = config(backbone, data, out, features=["case"], eval_every=1, checkpoint_every=4,
                 overwrite=True)  # fmt: skip
    Trainer(cfg, progress=False).run(stop_at=1)  # killed before its first checkpoint
    assert "holds a model" in capsys.readouterr().err
    assert not (out / "model.int8.onnx").exists() and not (out / "lexicon.tsv").exists()
    assert json.loads((out / "serkit.json").read_text())["dev"]["step"] == 1
    assert not (out / "checkpoint").exists()
    with pytest.raises(SerkitError, match="no checkpoint"):
        train(cfg, resume=True, progress=False)


@pytest.mark.parametrize("arch", ["transformer", "crf"])
@pytest.mark.parametrize("where", ["data-folder", "inside-data", "data-file", "a-file"])
def test_output_that_is_a_file_or_the_data_is_refused_first(backbone, tmp_path, arch, where):
    folder = tmp_path / "wikiser"
    folder.mkdir()
    data = write_tagged(folder / "a.txt", TOY * 3)
    output = {
        "data-folder": folder,
        "inside-data": folder / "model",
        "data-file": data,
        "a-file": tmp_path / "notes.txt",
    }[where]
    (tmp_path / "notes.txt").write_text("keep me\n")
    train_path = data if where in ("data-file", "a-file") else folder
    cfg = config(backbone, train_path, output, arch=arch, max_iterations=5)
    run = train_from_config if arch == "crf" else lambda c: train(c, progress=False)
    with pytest.raises(SerkitError, match="output"):
        run(cfg)
    assert sorted(p.name for p in folder.iterdir()) == ["a.txt"]
    assert (tmp_path / "notes.txt").read_text() == "keep me\n"


def test_crf_trains_from_a_data_folder(tmp_path):
    folder = tmp_path / "wikiser"
    folder.mkdir()
    write_tagged(folder / "a.txt", TOY * 2)
    write_tagged(folder / "b.txt", TOY)
    cfg = TrainConfig.from_dict(
        {"train": str(folder), "arch": "crf", "max_iterations": 5, "output": str(tmp_path / "m")}
    )
    out = train_from_config(cfg)
    card = json.loads((out / "serkit.json").read_text())
    assert card["arch"] == "crf" and len(card["train_data"]["sha256"]) == 64


def test_cli_resume_errors_are_one_line_and_exit_2(backbone, killed, tmp_path, capsys):
    from serkit.cli.main import main

    data, out = copy_run(killed, tmp_path)
    (out / "checkpoint" / "state.json").write_text("{")
    base = ["train", "--train", str(data), "--backbone", str(backbone), "-o", str(out)]
    for extra in (["--resume"], ["--resume", "--arch", "crf"]):
        with pytest.raises(SystemExit) as e:
            main([*base, *extra, "--no-progress", "--threads", "1"])
        assert e.value.code == 2
        err = capsys.readouterr().err.strip()
        assert "Traceback" not in err and len(err.splitlines()) == 1


def test_a_kill_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    from serkit.training import checkpoint as ck

    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    ck.save_checkpoint(tmp_path / "ckpt", model, opt, sched, {"step": 1, "config": {}})
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.weight.add_(1.0)
    calls = []
    real = ck.save_file

    def save_file(tensors, path):  # the weights get written, the optimizer file does not
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(tensors, path)

    monkeypatch.setattr(ck, "save_file", save_file)
    with pytest.raises(KeyboardInterrupt):
        ck.save_checkpoint(tmp_path / "ckpt", model, opt, sched, {"step": 2, "config": {}})
    monkeypatch.undo()
    assert ck.has_checkpoint(tmp_path / "ckpt")
    state = ck.load_checkpoint(tmp_path / "ckpt", model, opt, sched)
    assert state["step"] == 1
    for k, v in model.state_dict().items():
        assert torch.equal(v, saved[k]), k


def test_output_equal_to_or_inside_the_backbone_is_refused(backbone, tmp_path):
    """Saving would overwrite the backbone's own weights (issue 14, item 6)."""
    data = write_tagged(tmp_path / "toy.txt", TOY * 3)
    for out in (backbone, backbone / "sub"):
        cfg = config(backbone, data, out, features=["case"])
        with pytest.raises(SerkitError, match="would mix the model with its input"):
            Trainer(cfg, progress=False).run()


def test_a_finished_run_says_so_in_its_card(backbone, tmp_path):
    data = write_tagged(tmp_path / "toy.txt", TOY * 3)
    out = tmp_path / "m"
    cfg = config(backbone, data, out, features=["case"], eval_every=1, checkpoint_every=2,
                 max_steps=3)  # fmt: skip
    Trainer(cfg, progress=False).run(stop_at=2)  # killed: the best model so far
    assert json.loads((out / "serkit.json").read_text())["training"]["finished"] is False
    train(cfg, resume=True, progress=False)
    assert json.loads((out / "serkit.json").read_text())["training"]["finished"] is True
