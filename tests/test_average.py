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


def test_an_input_counts_once_and_the_output_lies_outside_every_input(three, tmp_path, capsys):
    """The same folder twice, or the same weights under two names, would count double; an
    output inside an input (a run's folder or its checkpoint) would be replaced by that
    run's next save."""
    a, b, _ = three
    with pytest.raises(SerkitError, match="given twice"):
        average_models([a, Path(f"{a}/"), b], tmp_path / "x")
    twin = tmp_path / "twin"
    shutil.copytree(b, twin)  # a run's best model that is also its last checkpoint
    once = average_models([a, b, twin], tmp_path / "once")
    assert "twin: the same weights as" in capsys.readouterr().err
    plain = average_models([a, b], tmp_path / "plain")
    assert (once / "model.safetensors").read_bytes() == (plain / "model.safetensors").read_bytes()
    with pytest.raises(SerkitError, match="one weight set"):
        average_models([b, twin], tmp_path / "x")
    for out in (a / "avg", b / "sub" / "avg", b):
        with pytest.raises(SerkitError, match="would mix the model with its input"):
            average_models([a, b], out)
    assert not (a / "avg").exists() and not (b / "sub").exists()


def test_other_tokenizer_or_features_are_not_one_model(three, tmp_path):
    a, b, _ = three
    tok = tmp_path / "tok"
    shutil.copytree(b, tok)
    doc = json.loads((tok / "tokenizer.json").read_text())
    vocab = doc["model"]["vocab"]
    x, y = list(vocab)[10:12]
    vocab[x], vocab[y] = vocab[y], vocab[x]  # same size, other ids: the embeddings mean else
    (tok / "tokenizer.json").write_text(json.dumps(doc))
    write_card(tok, read_card(tok))
    with pytest.raises(SerkitError, match=r"tok/tokenizer\.json: other tokenizer"):
        average_models([a, tok], tmp_path / "x")
    feats = tmp_path / "feats"
    shutil.copytree(b, feats)
    config = json.loads((feats / "config.json").read_text())
    config["serkit_features"]["lexicon_case"] = "exact"
    (feats / "config.json").write_text(json.dumps(config))
    with pytest.raises(SerkitError, match=r"feats/config\.json: other features"):
        average_models([a, feats], tmp_path / "x")
    cfg = tmp_path / "cfg"
    shutil.copytree(b, cfg)
    card = read_card(cfg)
    card["config"] = {"backbone": "other-bert", "epochs": 7}
    write_card(cfg, card)
    base = tmp_path / "base"
    shutil.copytree(a, base)
    card = read_card(base)
    card["config"] = {"backbone": "tiny-bert", "epochs": 9}  # epochs may differ
    write_card(base, card)
    with pytest.raises(SerkitError, match="cfg: trained with backbone 'other-bert'"):
        average_models([base, cfg], tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_the_average_is_its_own_model_and_blesses_no_damaged_file(three, tmp_path):
    """Only the first input's config, tokenizer and lexicons are copied, verified: a stale
    ONNX graph of the first input's weights would be what loads; a damaged tokenizer would
    get a fresh checksum. Its card drops what described the first input's weights."""
    import serkit
    from serkit.models.export_onnx import export_onnx

    a, b, _ = three
    both = tmp_path / "both"
    shutil.copytree(a, both)
    export_onnx(a, tmp_path / "onnx")
    shutil.copy2(tmp_path / "onnx" / "model.onnx", both)
    card = read_card(both)
    card["dev"] = {"f1": 0.9, "step": 3}
    card["results"] = {"T1": {"precision": 0.9, "recall": 0.9, "f1": 0.9}}
    card["runtime"], card["onnx"] = "onnx", {"file": "model.onnx"}
    write_card(both, card)
    out = average_models([both, b], tmp_path / "avg")
    names = sorted(p.name for p in out.iterdir())
    assert names == ["README.md", "config.json", "model.safetensors", "serkit.json",
                     "tokenizer.json"]  # fmt: skip
    assert serkit.load(str(out)).runtime == "torch"
    card = read_card(out)
    assert not {"dev", "results", "runtime", "onnx"} & set(card)
    readme = (out / "README.md").read_text()
    assert "model_name: avg\n" in readme and "0.9" not in readme and ".averaging" not in readme
    assert all((out / n).stat().st_mode & 0o044 == 0o044 for n in names)  # shared data

    damaged = tmp_path / "damaged"
    shutil.copytree(a, damaged)
    with open(damaged / "tokenizer.json", "a") as f:
        f.write(" ")
    twin = tmp_path / "twin-tok"
    shutil.copytree(b, twin)
    shutil.copy2(damaged / "tokenizer.json", twin / "tokenizer.json")
    write_card(twin, read_card(twin))
    with pytest.raises(SerkitError, match=r"damaged/tokenizer\.json: damaged or changed"):
        average_models([damaged, twin], tmp_path / "no")
    assert not (tmp_path / "no").exists()


def test_an_interrupted_average_leaves_no_model_and_runs_again(three, tmp_path, monkeypatch):
    import serkit
    import serkit.training.average as average

    out = tmp_path / "avg"

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(average, "save_file", killed)
    with pytest.raises(KeyboardInterrupt):
        average_models(three[:2], out)
    with pytest.raises(SerkitError, match="not a serkit model"):
        serkit.load(str(out))
    (out / ".model.tmp").mkdir()  # as a kill while moving in leaves it
    monkeypatch.undo()
    average_models(three[:2], out)
    assert serkit.load(str(out), prefer="torch").runtime == "torch"


def test_the_same_tensors_in_differently_written_files_are_one_weight_set(three, tmp_path):
    """A model (saved by transformers, with metadata) and its run's checkpoint (saved by
    safetensors, without) hold the same tensors in files whose sha256 differ: the twin
    check compared file bytes and counted best + last twice when best was last."""
    from serkit.training.average import tensor_digest

    a, b, _ = three
    plain = tmp_path / "plain.safetensors"
    save_file(load_file(str(b / "model.safetensors")), str(plain))  # no metadata
    assert plain.read_bytes() != (b / "model.safetensors").read_bytes()
    assert tensor_digest(plain) == tensor_digest(b / "model.safetensors")
    assert tensor_digest(plain) != tensor_digest(a / "model.safetensors")
    twin = tmp_path / "twin"
    shutil.copytree(b, twin)
    with pytest.raises(SerkitError, match="would mix the model with its input"):
        average_models([a, b, twin], twin / "x")  # a twin dropped later is still an input


def test_a_backbone_path_compares_as_a_card_records_it(monkeypatch, tmp_path):
    """A card records its backbone relative to the working directory, a checkpoint's state
    as given: the same backbone was 'another backbone' and a run's own checkpoint refused."""
    from serkit.training.average import _model_config

    monkeypatch.chdir(tmp_path)
    absolute = {"backbone": str(tmp_path / "bb" / "tiny")}
    assert _model_config(absolute) == _model_config({"backbone": "bb/tiny"})


def test_a_backbone_recorded_from_another_working_directory_is_the_same(monkeypatch, tmp_path):
    """Cards of one run written from different folders record the backbone relative to
    each; the comparison depended on where `serkit average` ran."""
    from serkit.training.average import _same_setting

    assert _same_setting("backbone", str(tmp_path / "proj" / "minilm"), "proj/minilm")
    assert _same_setting("backbone", "minilm", "proj/minilm")
    assert not _same_setting("backbone", "proj/minilm", "other/minilm2")
    assert not _same_setting("mode", "multihead", "partial")
