"""Hostile input to the Python API and the model loader: every failure is a clear error
(``ModelLoadError``, ``InvalidText``, ``TypeError``/``ValueError`` naming the argument),
never a traceback from deep inside the tokenizer, and no pickle is ever loaded."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import serkit
from serkit.errors import InvalidText, ModelLoadError, SerkitError


def copy_model(tiny_dirs, kind: str, dest: Path) -> Path:
    shutil.copytree(tiny_dirs[kind], dest)
    return dest


def edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize("card", ["[1, 2]", "null", '"transformer"', "3"])
def test_a_card_that_is_not_a_json_object_is_a_load_error(tmp_path, tiny_dirs, card):
    d = copy_model(tiny_dirs, "onnx", tmp_path / "m")
    (d / "serkit.json").write_text(card)
    with pytest.raises(ModelLoadError, match="a model card is a JSON object"):
        serkit.load(d)


@pytest.mark.parametrize("kind", ["onnx", "torch"])
@pytest.mark.parametrize("labels", [["O", "B-X", "I-X"], "bogus"])
def test_card_labels_that_disagree_with_the_model_are_refused(tmp_path, tiny_dirs, kind, labels):
    d = copy_model(tiny_dirs, kind, tmp_path / "m")
    edit_json(d / "serkit.json", labels=labels)
    with pytest.raises(ModelLoadError, match="different models"):
        serkit.load(d, threads=1)


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ([], "bad or missing config.json"),
        ({"id2label": ["O", "B-X"]}, "bad or missing config.json"),
        ({"id2label": {"0": "O", "1": "B-Library", "2": "I-Library"}}, "graph scores 9 labels"),
    ],
)
def test_onnx_config_that_does_not_fit_the_graph_fails_at_load(tmp_path, tiny_dirs, config, match):
    d = copy_model(tiny_dirs, "onnx", tmp_path / "m")
    if isinstance(config, dict):
        edit_json(d / "config.json", **config)
    else:
        (d / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=match):
        serkit.load(d)


def test_labels_that_are_not_iob2_are_refused(tmp_path, tiny_dirs):
    d = copy_model(tiny_dirs, "onnx", tmp_path / "m")
    labels = ["O", *(f"B-T{i}" for i in range(7)), "weird"]
    edit_json(d / "config.json", id2label=dict(enumerate(labels)))
    edit_json(d / "serkit.json", labels=labels)
    with pytest.raises(ModelLoadError, match="not IOB2 tags"):
        serkit.load(d)


@pytest.mark.parametrize("kind", ["onnx", "torch"])
@pytest.mark.parametrize(
    "change",
    [{"serkit_max_length": "abc"}, {"serkit_max_length": 2}, {"serkit_features": "case"}],
)
def test_bad_config_values_are_load_errors(tmp_path, tiny_dirs, kind, change):
    d = copy_model(tiny_dirs, kind, tmp_path / "m")
    edit_json(d / "config.json", **change)
    with pytest.raises(ModelLoadError, match="cannot load the model"):
        serkit.load(d, threads=1)


@pytest.mark.parametrize("kind", ["onnx", "torch"])
def test_windows_longer_than_the_encoder_positions_fail_at_load(tmp_path, tiny_dirs, kind):
    """The tiny model has 64 positions: 1000-sub-token windows used to load, then fail on
    the first sentence longer than 64 sub-tokens."""
    d = copy_model(tiny_dirs, kind, tmp_path / "m")
    edit_json(d / "config.json", serkit_max_length=1000)
    with pytest.raises(ModelLoadError, match="do not fit the encoder's 64 positions"):
        serkit.load(d, threads=1)


def test_pickle_weights_are_never_loaded(tmp_path, tiny_dirs):
    """``transformers`` falls back to ``pytorch_model.bin`` when no ``model.safetensors``
    is there; any other ``*.safetensors`` file must not let that happen."""
    import torch
    from safetensors.torch import load_file

    d = copy_model(tiny_dirs, "torch", tmp_path / "m")
    weights = load_file(str(d / "model.safetensors"))
    (d / "model.safetensors").rename(d / "other.safetensors")
    torch.save(weights, d / "pytorch_model.bin")  # a loadable pickle of the same weights
    with pytest.raises(ModelLoadError, match=r"pickle files \(pytorch_model.bin\)"):
        serkit.load(d, prefer="torch")
    (d / "other.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="never loads"):
        serkit.load(d)


@pytest.mark.parametrize("damage", ["drop", "reshape"])
def test_weights_with_missing_or_misshapen_tensors_are_refused(tmp_path, tiny_dirs, damage):
    """transformers would fill them with random values and only print a report."""
    from safetensors.torch import load_file, save_file

    d = copy_model(tiny_dirs, "torch", tmp_path / "m")
    weights = load_file(str(d / "model.safetensors"))
    name = next(k for k in weights if k.startswith("classifier.weight"))
    if damage == "drop":
        del weights[name]
    else:
        weights[name] = weights[name][:, :-1].contiguous()
    save_file(weights, str(d / "model.safetensors"), metadata={"format": "pt"})
    edit_json(d / "serkit.json", files={})  # no checksum to catch it: the loader's own check
    with pytest.raises(ModelLoadError, match="classifier.weight|ignore_mismatched_sizes"):
        serkit.load(d, prefer="torch")


def test_model_paths_of_the_wrong_kind(tmp_path, monkeypatch):
    with pytest.raises(TypeError, match="not int"):
        serkit.load(5)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError, match="empty model path"):
        serkit.load("")


@pytest.mark.parametrize("bad", [None, b"TensorFlow on Ubuntu", 5, ["Linux"]])
def test_a_text_that_is_not_a_str_is_a_clear_type_error(onnx_tagger, bad):
    name = type(bad).__name__
    with pytest.raises(TypeError, match=f"text must be a str, not {name}"):
        onnx_tagger(bad)
    with pytest.raises(TypeError, match=f"text 1 must be a str, not {name}"):
        list(onnx_tagger.pipe(["Linux", bad]))
    with pytest.raises(TypeError, match=f"token 0 must be a str, not {name}"):
        onnx_tagger.tag_tokens([bad])


def test_pipe_and_tag_tokens_refuse_a_bare_string_or_none(onnx_tagger):
    with pytest.raises(TypeError, match="iterable of texts"):
        list(onnx_tagger.pipe(b"Linux"))
    for bad in ("TensorFlow on Ubuntu", None):  # a str would be tagged letter by letter
        with pytest.raises(TypeError, match="sequence of token strings"):
            onnx_tagger.tag_tokens(bad)
    assert len(onnx_tagger.tag_tokens(("TensorFlow", "on", "Ubuntu"))) == 3
    assert len(onnx_tagger.tag_tokens(w for w in ["TensorFlow", "on"])) == 2


def test_pipe_of_a_non_iterable_and_tag_tokens_of_bytes_are_named(onnx_tagger):
    for bad in (None, 3):  # was: "'NoneType' object is not iterable"
        with pytest.raises(TypeError, match=f"iterable of texts, not {type(bad).__name__}"):
            list(onnx_tagger.pipe(bad))
    with pytest.raises(TypeError, match="iterable of texts"):
        list(onnx_tagger.pipe(bytearray(b"Linux")))
    for bad in (b"Linux", bytearray(b"Linux")):  # was: "token 0 must be a str, not int"
        with pytest.raises(TypeError, match="sequence of token strings"):
            onnx_tagger.tag_tokens(bad)


@pytest.mark.parametrize(
    ("size", "error"), [("2", TypeError), (None, TypeError), (1.5, TypeError), (True, TypeError)]
)
def test_pipe_batch_size_of_the_wrong_type(onnx_tagger, size, error):
    with pytest.raises(error, match="batch_size must be an int"):
        list(onnx_tagger.pipe(["Linux"], batch_size=size))
    with pytest.raises(ValueError, match="got -3"):
        list(onnx_tagger.pipe(["Linux"], batch_size=-3))


@pytest.mark.parametrize("text", ["\ud800", "TensorFlow \udc80 on Ubuntu", "🐍\udfff"])
def test_lone_surrogates_are_invalid_text(onnx_tagger, torch_tagger, text):
    for tagger in (onnx_tagger, torch_tagger):
        with pytest.raises(InvalidText, match="lone surrogate"):
            tagger(text)
        with pytest.raises(InvalidText, match="text 1 is not valid Unicode"):
            list(tagger.pipe(["Linux", text]))
        with pytest.raises(InvalidText, match="token 0"):
            tagger.tag_tokens([text])
    assert issubclass(InvalidText, SerkitError) and issubclass(InvalidText, ValueError)


def test_cli_text_from_undecodable_argv_bytes_is_one_error_line(tiny_dirs):
    """Python decodes argv bytes that are not UTF-8 into lone surrogates."""
    exe = Path(sys.executable).with_name("serkit")
    arg = b"TensorFlow \xff on Ubuntu"
    out = subprocess.run(
        [str(exe), "tag", "-m", str(tiny_dirs["onnx"]), arg],
        capture_output=True,
        timeout=120,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
    )
    err = out.stderr.decode("utf-8", "replace")
    assert out.returncode == 2, err
    assert "Traceback" not in err and "not valid Unicode" in err


ODD = [
    "\x01\x02\x1b[31m\x7f",
    "TensorFlow\x00Ubuntu \x00 python",
    "e\u0301\u0301\u0301 python \u0301\u0301 linux",
    "\u0301\u0302\u0303",
    "\u200d\u200d python\u200dlinux \u200c",
    "👩\u200d💻 uses python 🏳️\u200d🌈",
    "python\r\nlinux\rwindows\n\u2028java\u2029code\x85ubuntu\x0b\x0c end",
    "\U0001d54f\U0001d550 python \U000e0001 \uffff \ue000",
    "tensorflow" * 3000 + " on ubuntu",
]


@pytest.mark.parametrize("text", ODD)
def test_odd_unicode_gives_exact_slices(onnx_tagger, torch_tagger, text):
    for tagger in (onnx_tagger, torch_tagger):
        ents = tagger(text)
        assert all(text[e.start : e.end] == e.text and e.text for e in ents)
        spans = [(e.start, e.end, e.label) for e in ents]
        for again in tagger.pipe([text, text], batch_size=1):
            assert [(e.start, e.end, e.label) for e in again] == spans


@pytest.mark.parametrize("kind", ["onnx_tagger", "torch_tagger"])
@pytest.mark.parametrize(
    "batch",
    ["Linux", ["TensorFlow", "on", "Ubuntu"], [["on", 3]], b"abc", None],
)
def test_word_level_calls_refuse_a_string_where_a_sentence_belongs(request, kind, batch):
    """A string where a sentence (or the batch) belongs was tagged letter by letter."""
    tagger = request.getfixturevalue(kind)
    with pytest.raises(TypeError, match="sentence|batch|token"):
        tagger.word_logits(batch)
    with pytest.raises(TypeError, match="sentence|batch|token"):
        tagger.predict_words(batch)


@pytest.mark.parametrize("scheme", ["nonsense", ["wikiser"], 3])
def test_a_bad_scheme_is_an_invalid_scheme_value_error(onnx_tagger, scheme):
    """Transformer and ONNX models raised a plain SerkitError here (the CRF InvalidScheme),
    so ``except ValueError`` worked for one architecture only; a list gave a raw TypeError."""
    from serkit.errors import InvalidScheme

    with pytest.raises(InvalidScheme, match="scheme"):
        onnx_tagger.with_scheme(scheme)
