"""Trainer: loss falls, exact resume after a kill, config, batching, the W1 split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from _corpus import TOY, write_tagged
from serkit.errors import SerkitError
from serkit.tokens import Sentence
from serkit.training.batching import make_batches
from serkit.training.config import TrainConfig, load_config
from serkit.training.data import label_set, read_labelled, split_train_dev, val_slice, val_tail
from serkit.training.trainer import Trainer, train


@pytest.fixture(scope="module")
def toy_file(tmp_path_factory) -> Path:
    return write_tagged(tmp_path_factory.mktemp("data") / "toy.txt", TOY * 4)


def config(backbone: Path, toy_file: Path, out: Path, **kw) -> TrainConfig:
    base = dict(
        train=str(toy_file), val_slice=True, backbone=str(backbone), features=["case", "lexicon"],
        lexicon_folds=2, epochs=3, lr=5e-3, head_lr=1e-2, warmup=0.0, batch_tokens=64,
        max_length=16, stride=4, k=2, alpha=1.0, alpha_warmup=0.2, dropout=0.1, seed=3,
        output=str(out), eval_every=5, checkpoint_every=4, log_every=1, threads=1,
    )  # fmt: skip
    base.update(kw)
    return TrainConfig.from_dict(base)


def losses(out: Path) -> list[float]:
    recs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in recs if "loss" in r]


def test_loss_falls_and_model_dir_is_complete(backbone, toy_file, tmp_path):
    from transformers import AutoModelForTokenClassification

    out = tmp_path / "m"
    train(config(backbone, toy_file, out, epochs=8, k=1, alpha=0.0), progress=False)
    ls = losses(out)
    assert len(ls) >= 10
    assert sum(ls[-3:]) / 3 < 0.5 * sum(ls[:3]) / 3
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "lexicon.tsv",
        "serkit.json",
    ):
        assert (out / name).is_file(), name
    card = json.loads((out / "serkit.json").read_text())
    assert card["arch"] == "transformer"
    assert card["labels"][0] == "O" and "B-Language" in card["labels"]
    assert card["features"]["features"] == ["case", "lexicon"]
    assert len(card["train_data_sha256"]) == 64
    assert "f1" in card["dev"]
    model = AutoModelForTokenClassification.from_pretrained(out)
    assert model.config.id2label[0] == "O"
    from serkit.models.transformer import TransformerTagger

    tags, scores = TransformerTagger.load(out).predict_words([["i", "use", "java"]])[0]
    assert len(tags) == 3 and len(scores) == 3


def test_killed_run_resumes_at_saved_step_and_matches(backbone, toy_file, tmp_path):
    full = tmp_path / "full"
    cut = tmp_path / "cut"
    train(config(backbone, toy_file, full, max_steps=10), progress=False)
    # "Kill" after step 6: the last checkpoint is at step 4.
    Trainer(config(backbone, toy_file, cut, max_steps=10), progress=False).run(stop_at=6)
    state = json.loads((cut / "checkpoint" / "state.json").read_text())
    assert state["step"] == 4
    train(config(backbone, toy_file, cut, max_steps=10), resume=True, progress=False)
    recs = [json.loads(x) for x in (cut / "metrics.jsonl").read_text().splitlines()]
    assert {"event": "resume", "step": 4} in recs
    resumed_steps = [r["step"] for r in recs if "loss" in r]
    # Steps 5 and 6 were redone after the kill, nothing before the checkpoint was.
    assert resumed_steps == [1, 2, 3, 4, 5, 6, 5, 6, 7, 8, 9, 10]
    a = load_file(str(full / "checkpoint" / "model.safetensors"))
    b = load_file(str(cut / "checkpoint" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resume_may_change_the_run_length_but_nothing_else(backbone, toy_file, tmp_path):
    out = tmp_path / "m"
    Trainer(config(backbone, toy_file, out, max_steps=10), progress=False).run(stop_at=5)
    # Shortened to 6 steps; a changed lr on the command line is ignored (the run's own wins).
    train(config(backbone, toy_file, out, max_steps=6, lr=1.0), resume=True, progress=False)
    recs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs if "loss" in r][-2:] == [5, 6]
    card = json.loads((out / "serkit.json").read_text())
    assert card["config"]["max_steps"] == 6 and card["config"]["lr"] == 5e-3


def test_resume_to_a_length_before_the_checkpoint_is_an_error(backbone, toy_file, tmp_path):
    out = tmp_path / "m"
    Trainer(config(backbone, toy_file, out, max_steps=10), progress=False).run(stop_at=5)
    with pytest.raises(SerkitError, match="at step 4, past the 3 steps"):
        train(config(backbone, toy_file, out, max_steps=3), resume=True, progress=False)
    recs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert not any(r.get("event") == "done" for r in recs)  # never claimed as finished
    train(config(backbone, toy_file, out, max_steps=4), resume=True, progress=False)  # = step


def test_config_file_and_overrides(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[train]\ntrain = "x.txt"\nk = 2\nalpha = 5.0\nfeatures = []\n')
    cfg = load_config(p, {"alpha": 1.0, "lr": None})
    assert (cfg.k, cfg.alpha, cfg.features, cfg.lr) == (2, 1.0, [], TrainConfig().lr)
    with pytest.raises(SerkitError, match="unknown training option"):
        load_config(p, {"nonsense": 1})
    with pytest.raises(SerkitError):
        load_config(p, {"features": ["colour"]})
    with pytest.raises(SerkitError, match="cannot read"):
        load_config(tmp_path / "missing.toml")


def test_val_slice_takes_every_tenth():
    sents = [Sentence([str(i)], ["O"]) for i in range(25)]
    train_s, dev_s = val_slice(sents)
    assert [s.tokens[0] for s in dev_s] == ["9", "19"]
    assert len(train_s) == 23


def test_label_set_prefers_smallest_known_scheme():
    labs = label_set([Sentence(["a"], ["B-Library"])])
    assert labs[0] == "O" and len(labs) == 1 + 2 * 9  # SoftNER-9, not WikiSER-12
    assert "B-Library" in labs
    assert label_set([Sentence(["a"], ["B-Fancy"])]) == ["O", "B-Fancy", "I-Fancy"]


@given(st.lists(st.integers(3, 120), min_size=1, max_size=300), st.integers(128, 2048),
       st.integers(0, 5))  # fmt: skip
@settings(max_examples=100, deadline=None)
def test_batches_respect_budget_and_cover_all(lengths, budget, epoch):
    batches = make_batches(lengths, budget, seed=1, epoch=epoch)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lengths)))
    for b in batches:
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= budget
    assert batches == make_batches(lengths, budget, seed=1, epoch=epoch)


def test_val_tail_takes_the_last_fraction_in_order():
    sents = [Sentence([], tags=None, index=i) for i in range(30)]
    train_s, dev = split_train_dev(sents, tail=0.1)
    assert [s.index for s in dev] == [27, 28, 29]
    assert [s.index for s in train_s] == list(range(27))
    assert split_train_dev(sents) == (sents, [])
    with pytest.raises(SerkitError):
        split_train_dev(sents, slice_=True, tail=0.1)
    with pytest.raises(SerkitError):
        val_tail(sents, 1.0)


def test_config_rejects_two_dev_sources():
    with pytest.raises(SerkitError, match="one of dev"):
        TrainConfig(train="x", dev="y", val_tail=0.1)
    with pytest.raises(SerkitError, match="val_tail"):
        TrainConfig(train="x", val_tail=1.5)


def test_read_labelled_maps_types_after_repair(tmp_path):
    path = tmp_path / "so.txt"
    rows = "Foo\tI-Library\nbar\tB-Class_Name\nC#\tB-Language\nnginx\tB-Website\n\n"
    path.write_text(rows, encoding="utf-8")
    (s,) = read_labelled(str(path), "conll", "stackoverflow-ner:softner-9")
    assert s.tags == ["B-Library", "O", "B-Language", "B-Application"]


def test_num_layers_trains_a_shallower_model_that_loads_and_tags(backbone, toy_file, tmp_path):
    from transformers import AutoModelForTokenClassification

    import serkit

    out = tmp_path / "l1"
    train(config(backbone, toy_file, out, epochs=1, num_layers=1), progress=False)
    model = AutoModelForTokenClassification.from_pretrained(out)
    assert model.config.num_hidden_layers == 1
    assert len(model.base_model.encoder.layer) == 1
    assert json.loads((out / "serkit.json").read_text())["config"]["num_layers"] == 1
    tags, _ = serkit.load(out).predict_words([["i", "use", "python"]])[0]
    assert len(tags) == 3
    with pytest.raises(SerkitError, match="num_layers=5"):
        train(config(backbone, toy_file, tmp_path / "l5", num_layers=5), progress=False)
    with pytest.raises(SerkitError, match="num_layers must be"):
        TrainConfig(train="x", num_layers=0)


def test_distill_loss_is_zero_on_agreement_and_ignores_unlabelled_positions():
    from serkit.training.distill import distill_loss

    torch.manual_seed(0)
    teacher = torch.randn(2, 5, 4)
    labels = torch.tensor([[0, 1, -100, 2, -100], [3, -100, -100, -100, -100]])
    same = teacher.repeat(2, 1, 1)  # k = 2 passes equal to the teacher
    assert float(distill_loss(same, teacher, labels, 2, 2.0)) == pytest.approx(0.0, abs=1e-6)
    other = same.clone()
    other[:, :, 0] += 3.0
    assert float(distill_loss(other, teacher, labels, 2, 2.0)) > 0.1
    # positions with label -100 do not count
    masked = same.clone()
    masked[:, 2, :] += torch.randn(4) * 10
    assert float(distill_loss(masked, teacher, labels, 2, 2.0)) == pytest.approx(0.0, abs=1e-6)
    none = torch.full_like(labels, -100)
    assert float(distill_loss(other, teacher, none, 2, 2.0)) == 0.0


def test_distill_loss_of_a_multi_head_model_runs_over_each_rows_head():
    from serkit.training.distill import distill_loss

    torch.manual_seed(0)
    teacher = torch.randn(2, 3, 6)  # outputs 0-2: head A, 3-5: head B
    labels = torch.tensor([[0, 1, -100], [4, -100, 5]])
    heads = torch.tensor([[True] * 3 + [False] * 3, [False] * 3 + [True] * 3])
    student = teacher.clone()
    student[0, :, 3:] += torch.randn(3, 3) * 5  # other head's outputs of row 0 (head A)...
    student[1, :, :3] -= 7.0  # ...and of row 1 (head B)
    assert float(distill_loss(student, teacher, labels, 1, 2.0, heads)) == pytest.approx(
        0.0, abs=1e-6
    )
    assert float(distill_loss(student, teacher, labels, 1, 2.0)) > 0.1  # over all outputs
    within = teacher.clone()
    within[0, 0, 0] += 3.0  # row 0's own head differs: that still counts
    assert float(distill_loss(within, teacher, labels, 1, 2.0, heads)) > 0.01


def test_student_distils_from_a_trained_teacher(backbone, toy_file, tmp_path):
    teacher = tmp_path / "teacher"
    train(config(backbone, toy_file, teacher, epochs=6, k=1, alpha=0.0), progress=False)
    student = tmp_path / "student"
    cfg = config(backbone, toy_file, student, epochs=2, num_layers=1, teacher=str(teacher))
    train(cfg, progress=False)
    recs = [json.loads(x) for x in (student / "metrics.jsonl").read_text().splitlines()]
    kd = [r["kd"] for r in recs if "kd" in r]
    assert kd and all(v >= 0 for v in kd)
    assert sum(kd[-2:]) / 2 < sum(kd[:2]) / 2  # the student moves towards the teacher
    card = json.loads((student / "serkit.json").read_text())
    assert card["config"]["teacher"] == str(teacher)
    # a teacher must speak the student's language: other features -> a clear error
    with pytest.raises(SerkitError, match="features"):
        train(
            config(backbone, toy_file, tmp_path / "bad", features=["case"], teacher=str(teacher)),
            progress=False,
        )
    with pytest.raises(SerkitError, match="distill"):
        TrainConfig(train="x", distill=-1.0)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("k", "3", "k must be int"),
        ("train", ["a", "b"], "train must be str"),
        ("features", "case", "features must be list"),
        ("features", [1], "features must be list"),
        ("epochs", "many", "epochs must be float"),
        ("keep_best", "yes", "keep_best must be bool"),
        ("seed", True, "seed must be int"),
        ("epochs", -1, "epochs must be > 0"),
        ("lr", 0, "lr must be > 0"),
        ("max_steps", 0, "max_steps must be > 0"),
        ("batch_tokens", 0, "batch_tokens must be > 0"),
        ("stride", 128, "stride must be"),
        ("dropout", 1.0, "dropout must be"),
    ],
)
def test_config_values_are_checked_against_their_types_and_ranges(key, value, message):
    with pytest.raises(SerkitError, match=message):
        TrainConfig.from_dict({"train": "x", key: value})


def test_config_file_with_a_bom_and_ints_for_floats(tmp_path):
    p = tmp_path / "bom.toml"
    p.write_text("\ufeff[train]\ntrain = 'x'\nlr = 1\nepochs = 2\n", encoding="utf-8")
    cfg = load_config(p)
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float) and cfg.epochs == 2.0
