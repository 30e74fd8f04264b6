"""The training config tree: group tables, generic --option overrides, the arch registry."""

from __future__ import annotations

import pytest

from serkit.architectures import ARCHITECTURES
from serkit.cli.main import main
from serkit.errors import SerkitError
from serkit.training.config import TrainConfig, load_config, options_help, parse_overrides


def test_overrides_are_typed_from_the_config():
    got = parse_overrides(
        ["--epochs", "2", "--val-slice", "--no-keep-best", "--schedule.lr=3e-4",
         "--features", "case", "--head-lr", "none", "-o", "out", "--k=2"]
    )  # fmt: skip
    assert got == {
        "epochs": 2.0, "val_slice": True, "keep_best": False, "lr": 3e-4,
        "features": ["case"], "head_lr": None, "output": "out", "k": 2,
    }  # fmt: skip
    assert isinstance(got["epochs"], float) and isinstance(got["k"], int)


@pytest.mark.parametrize(
    "args,msg",
    [
        (["--epoch", "2"], "did you mean --epochs"),
        (["--k", "two"], "--k must be int"),
        (["--lr"], "needs a value"),
        (["--val-slice=maybe"], "true or false"),
        (["stray"], "unexpected argument"),
        (["--corpora", "x"], "unknown training option"),
    ],
)
def test_bad_overrides_are_one_line_errors(args, msg):
    with pytest.raises(SerkitError, match=msg):
        parse_overrides(args)


def test_group_tables_and_top_level_keys_mix(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[train]\ntrain = "x.txt"\n[train.schedule]\nepochs = 2\n[train.loss]\nk = 2\n')
    cfg = load_config(p)
    assert (cfg.train, cfg.epochs, cfg.k) == ("x.txt", 2.0, 2)
    p.write_text('[train]\ntrain = "x.txt"\n[train.loss]\nepochs = 2\n')
    with pytest.raises(SerkitError, match=r"belongs in \[schedule\]"):
        load_config(p)
    p.write_text('[train]\ntrain = "x.txt"\nk = 1\n[train.loss]\nk = 2\n')
    with pytest.raises(SerkitError, match="given twice"):
        load_config(p)


def test_every_option_has_help_and_a_group():
    import dataclasses

    text = options_help()
    for f in dataclasses.fields(TrainConfig):
        assert f.metadata["help"] and f.metadata["group"]
        if f.name != "corpora":
            assert f"--{f.name.replace('_', '-')}:" in text


def test_arch_is_checked_against_the_registry():
    assert {"transformer", "crf"} <= set(ARCHITECTURES)
    with pytest.raises(SerkitError, match="known: transformer, crf"):
        TrainConfig.from_dict({"train": "x", "arch": "lstm"})


def test_train_cli_reports_a_bad_override_in_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--train", "x.txt", "--epocs", "2"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--epocs" in err[0] and "did you mean --epochs" in err[0]


@pytest.mark.parametrize(
    "key, value, msg",
    [
        ("lr", float("inf"), "lr must be finite"),
        ("alpha", float("nan"), "alpha must be finite"),  # was a NaN loss after the work
        ("epochs", float("inf"), "epochs must be finite"),
        ("lexicon_folds", -1, "lexicon_folds must be >= 0"),  # was silently off
        ("lexicon_min_ratio", 2.0, "lexicon_min_ratio must be between 0.0 and 1.0"),
        ("alpha_warmup", -0.5, "alpha_warmup must be between"),
        ("c1", -1.0, "c1 must be >= 0.0"),  # was passed to crfsuite
        ("c2", float("nan"), "c2 must be finite"),
        ("max_iterations", 0, "max_iterations must be >= 1"),
        ("min_freq", -1, "min_freq must be >= 0"),
        ("window", -1, "window must be between 0 and 10"),  # was silently 0
        ("window", 10**6, "window must be between 0 and 10"),  # was a MemoryError traceback
    ],
)
def test_out_of_range_options_are_refused_before_any_work(key, value, msg):
    with pytest.raises(SerkitError, match=msg):
        TrainConfig.from_dict({"train": "x.txt", "arch": "crf", key: value})


def test_nan_in_a_toml_config_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[train]\narch = "crf"\ntrain = "x.txt"\nlr = nan\n', encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        main(["train", "--config", str(cfg)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["serkit: error: training option lr must be finite, got nan"]
