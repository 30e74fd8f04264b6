"""`serkit average`: the mean of checkpoints of one run, as an ordinary model folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from _cli import run_cli
from _corpus import TOY, write_tagged
from _runtime_model import build_tiny_model
from serkit.errors import SerkitError
from serkit.models.folder import SAFETENSORS, read_card, write_card
from serkit.training.average import average_models
from serkit.training.config import TrainConfig
from serkit.training.trainer import Trainer


def _shifted_copy(src: Path, dst: Path, shift: float) -> Path:
    """A copy of model folder ``src`` with every float weight moved by ``shift``."""
    shutil.copytree(src, dst)
    w = load_file(str(dst / SAFETENSORS))
    save_file(
        {k: v + np.asarray(shift, v.dtype) if v.dtype.kind == "f" else v for k, v in w.items()},
        str(dst / SAFETENSORS),
        metadata={"format": "pt"},
    )
    write_card(dst, read_card(dst))  # new checksums, as a trainer would write them
    return dst


@pytest.fixture(scope="module")
def three(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("avg")
    base = build_tiny_model(root / "a")
    return [base, _shifted_copy(base, root / "b", 1.0), _shifted_copy(base, root / "c", -4.0)]


def test_average_is_the_elementwise_mean_and_loads(three, tmp_path):
    import serkit

    out = average_models(three, tmp_path / "avg")
    got = load_file(str(out / SAFETENSORS))
    ws = [load_file(str(d / SAFETENSORS)) for d in three]
    for k, v in got.items():
        if v.dtype.kind == "f":
            want = (ws[0][k].astype(np.float64) + ws[1][k] + ws[2][k]) / 3
            np.testing.assert_allclose(v, want.astype(v.dtype), rtol=0, atol=1e-6)
            assert v.dtype == ws[0][k].dtype
        else:
            assert np.array_equal(v, ws[0][k])
    card = json.loads((out / "serkit.json").read_text())
    assert [s["path"] for s in card["averaged_from"]] == [str(d) for d in three]
    assert "dev" not in card and card["files"][SAFETENSORS]  # checksummed, stale score gone
    tagger = serkit.load(str(out), prefer="torch")
    assert len(tagger.predict_words([["i", "use", "java"]])[0][0]) == 3


def test_cli_and_refusals(three, tmp_path, capsys):
    out = tmp_path / "cli"
    code, text = run_cli(capsys, "average", str(three[0]), str(three[1]), "-o", str(out))
    assert code == 0, text
    assert (out / SAFETENSORS).is_file()
    code, text = run_cli(capsys, "average", str(three[0]), str(three[1]), "-o", str(out))
    assert code == 2 and "not empty" in text and "Traceback" not in text
    code, text = run_cli(capsys, "average", str(three[0]), "-o", str(tmp_path / "x"))
    assert code == 2 and "at least two" in text

    other = tmp_path / "other-labels"
    shutil.copytree(three[1], other)
    card = read_card(other)
    card["labels"] = list(reversed(card["labels"]))
    write_card(other, card)
    with pytest.raises(SerkitError, match="other-labels: other labels"):
        average_models([three[0], other], tmp_path / "y")

    wide = tmp_path / "wide"
    shutil.copytree(three[1], wide)
    w = load_file(str(wide / SAFETENSORS))
    name = next(k for k, v in w.items() if v.ndim == 2)
    w[name] = np.concatenate([w[name], w[name][:1]])
    save_file(w, str(wide / SAFETENSORS), metadata={"format": "pt"})
    write_card(wide, read_card(wide))
    with pytest.raises(SerkitError, match=f"wide/model.safetensors: tensor {name} is"):
        average_models([three[0], wide], tmp_path / "z")

    changed = tmp_path / "changed"
    shutil.copytree(three[1], changed)
    save_file(load_file(str(three[2] / SAFETENSORS)), str(changed / SAFETENSORS))
    with pytest.raises(SerkitError, match="damaged or changed"):
        average_models([three[0], changed], tmp_path / "w")
    assert not (tmp_path / "w").exists()


def test_lexicons_come_from_the_first_input_and_none_is_dropped(tmp_path):
    """A soup takes its lexicons from the first folder: a head lexicon only a later folder
    has (the 9-epoch stage wrote them, the 7-epoch one did not) would silently change the
    lexicon feature, so it is refused; with that folder first it is kept."""
    plain = build_tiny_model(tmp_path / "plain", lexicon=True)
    heads = _shifted_copy(plain, tmp_path / "heads", 0.5)
    shutil.copy2(heads / "lexicon.tsv", heads / "lexicon.wikiser.tsv")
    write_card(heads, read_card(heads))
    with pytest.raises(SerkitError, match=r"heads/lexicon\.wikiser\.tsv: is missing from"):
        average_models([plain, heads], tmp_path / "no")
    assert not (tmp_path / "no").exists()
    out = average_models([heads, plain], tmp_path / "yes")
    assert (out / "lexicon.wikiser.tsv").read_bytes() == (heads / "lexicon.tsv").read_bytes()

    other = _shifted_copy(plain, tmp_path / "other", 0.25)
    (other / "lexicon.tsv").write_text(
        (other / "lexicon.tsv").read_text() + "zig\tLibrary:1\t1\t0\t1.0\t1\n"
    )
    write_card(other, read_card(other))
    with pytest.raises(SerkitError, match=r"other/lexicon\.tsv: differs from"):
        average_models([plain, other], tmp_path / "no2")


def test_a_run_and_its_checkpoint(backbone, tmp_path):
    """The best model of a run and its last checkpoint (``<run>/checkpoint``) average."""
    data = write_tagged(tmp_path / "toy.txt", TOY * 4)
    run = tmp_path / "run"
    cfg = TrainConfig.from_dict(dict(
        train=str(data), val_slice=True, backbone=str(backbone), features=["case"], epochs=2,
        lr=5e-3, warmup=0.0, batch_tokens=64, max_length=16, stride=4, k=1, alpha=0.0,
        seed=3, output=str(run), eval_every=3, checkpoint_every=2, log_every=1, threads=1,
    ))  # fmt: skip
    Trainer(cfg, progress=False).run()
    out = average_models([run, run / "checkpoint"], tmp_path / "avg")
    kinds = [s["kind"] for s in json.loads((out / "serkit.json").read_text())["averaged_from"]]
    assert kinds == ["model", "checkpoint"]
    with pytest.raises(SerkitError, match="first input must be a model folder"):
        average_models([run / "checkpoint", run], tmp_path / "avg2")
    w = load_file(str(run / "checkpoint" / SAFETENSORS))
    save_file({k: v * 2 for k, v in w.items()}, str(run / "checkpoint" / SAFETENSORS))
    with pytest.raises(SerkitError, match="changed since the checkpoint was saved"):
        average_models([run, run / "checkpoint"], tmp_path / "avg3")
