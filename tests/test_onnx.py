"""`serkit export onnx`: graph, side files, card, int8 quantisation, parity with torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import pytest

from serkit.card import write_card
from serkit.errors import ModelLoadError, SerkitError
from serkit.models.export_onnx import export_onnx
from serkit.models.registry import load_tagger

SENTS = [
    ["I", "installed", "TensorFlow", "on", "Ubuntu", "22.04", "with", "pip", "."],
    ["Python", "and", "Java", "run", "on", "Linux", "and", "Windows"],
    ["ran", "it", "on", "an", "NVIDIA", "A100", "!"] * 12,  # several windows
    ["x"],
    ["中", "文", "🐍", "עברית"],
]


def test_export_writes_a_self_contained_model_dir(tiny_dirs):
    d = tiny_dirs["onnx"]
    names = {p.name for p in d.iterdir()}
    assert {"model.onnx", "serkit.json", "config.json", "tokenizer.json"} <= names
    assert not any(n.endswith(".safetensors") for n in names)
    assert not any(n.startswith(".") for n in names)  # no temp leftovers
    card = json.loads((d / "serkit.json").read_text())
    assert card["arch"] == "transformer" and card["runtime"] == "onnx"
    assert card["onnx"]["file"] == "model.onnx"
    assert card["onnx"]["max_abs_logit_diff_fp32"] < 1e-3
    assert len(card["onnx"]["source_weights_sha256"]) == 64
    graph = onnx.load(str(d / "model.onnx")).graph
    assert [i.name for i in graph.input] == ["input_ids", "attention_mask", "token_type_ids"]
    assert [o.name for o in graph.output] == ["logits"]
    dims = graph.input[0].type.tensor_type.shape.dim
    assert [x.dim_param for x in dims] == ["batch", "seq"]  # dynamic batch and length


def test_int8_quantises_matmul_and_embeddings(tiny_dirs):
    d = tiny_dirs["int8"]
    assert (d / "model.int8.onnx").is_file() and not (d / "model.onnx").exists()
    card = json.loads((d / "serkit.json").read_text())
    assert card["runtime"] == "onnx-int8"
    assert set(card["onnx"]["quantization"]["op_types"]) == {"MatMul", "Gather"}
    model = onnx.load(str(d / "model.int8.onnx"))
    ops = {n.op_type for n in model.graph.node}
    assert "MatMulInteger" in ops or "DynamicQuantizeMatMul" in ops
    # The word embedding is stored as int8 (dequantised at gather time), not as float.
    vocab = json.loads((d / "config.json").read_text())["vocab_size"]
    big_float = [
        i.name
        for i in model.graph.initializer
        if i.data_type == onnx.TensorProto.FLOAT and len(i.dims) == 2 and i.dims[0] == vocab
    ]
    assert big_float == []
    eight_bit = (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)
    int8_inits = [i for i in model.graph.initializer if i.data_type in eight_bit]
    assert any(len(i.dims) == 2 and i.dims[0] == vocab for i in int8_inits)


def test_keep_fp32_keeps_both_and_int8_is_preferred(tmp_path, tiny_dirs):
    out = tmp_path / "both"
    path = export_onnx(tiny_dirs["torch"], out, quantize="int8", keep_fp32=True)
    assert path.name == "model.int8.onnx" and (out / "model.onnx").is_file()
    assert load_tagger(out).runtime == "onnx-int8"
    assert load_tagger(out, prefer="onnx-fp32").runtime == "onnx"
    # Re-exporting fp32 into the same folder removes the stale int8 graph.
    export_onnx(tiny_dirs["torch"], out)
    assert not (out / "model.int8.onnx").exists()
    assert load_tagger(out).runtime == "onnx"
    # An older model of any kind goes whole (serkit.models.folder.publish); other files stay.
    for name in ("model.safetensors", "crf.crfsuite", "lexicon.wikiser.tsv", "notes.txt"):
        (out / name).write_text("old\n")
    export_onnx(tiny_dirs["torch"], out)
    assert not any((out / n).exists() for n in ("model.safetensors", "crf.crfsuite"))
    assert not (out / "lexicon.wikiser.tsv").exists() and (out / "notes.txt").is_file()


def test_onnx_fp32_matches_torch_words_and_logits(onnx_tagger, torch_tagger):
    a = onnx_tagger.predict_words(SENTS)
    b = torch_tagger.predict_words(SENTS)
    for (ta, sa), (tb, sb), words in zip(a, b, SENTS, strict=True):
        assert len(ta) == len(words)
        assert ta == tb
        np.testing.assert_allclose(sa, sb, atol=1e-4)
    feed = onnx_tagger.encoder.pad(onnx_tagger.encoder.encode(SENTS))
    np.testing.assert_allclose(onnx_tagger.logits(feed), torch_tagger.logits(feed), atol=1e-4)


def test_lexicon_features_travel_with_the_onnx_model(tmp_path):
    """A model with lexicon-match features: the export carries lexicon.tsv and the ONNX
    runtime computes the same feature ids (hence the same tags) as torch."""
    from _runtime_model import build_tiny_model

    src = build_tiny_model(tmp_path / "lex", lexicon=True, seed=3)
    export_onnx(src, tmp_path / "lex-onnx")
    assert (tmp_path / "lex-onnx" / "lexicon.tsv").read_text() == (src / "lexicon.tsv").read_text()
    torch_t = load_tagger(src, prefer="torch")
    onnx_t = load_tagger(tmp_path / "lex-onnx")
    words = ["I", "run", "TensorFlow", "on", "Ubuntu", "with", "an", "NVIDIA", "A100"]
    ids = onnx_t.encoder.type_ids(words)
    assert ids == torch_t.encoder.type_ids(words)
    assert len(set(ids)) > 2  # case and lexicon matches both show up
    assert [t for t, _ in onnx_t.predict_words(SENTS)] == [
        t for t, _ in torch_t.predict_words(SENTS)
    ]
    (tmp_path / "lex-onnx" / "lexicon.tsv").unlink()
    with pytest.raises(ModelLoadError, match="lexicon"):
        load_tagger(tmp_path / "lex-onnx")


def test_int8_mostly_agrees_with_fp32(tiny_dirs, onnx_tagger):
    int8 = load_tagger(tiny_dirs["int8"], threads=1)
    words = [w for s in SENTS for w in s]
    a = [t for s in onnx_tagger.predict_words(SENTS) for t in s[0]]
    b = [t for s in int8.predict_words(SENTS) for t in s[0]]
    assert len(a) == len(b) == len(words)
    agree = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
    assert agree >= 0.8, agree


def test_export_refuses_bad_requests(tmp_path, tiny_dirs):
    with pytest.raises(SerkitError, match="int8"):
        export_onnx(tiny_dirs["torch"], tmp_path / "x", quantize="int4")
    with pytest.raises(SerkitError, match="differ"):
        export_onnx(tiny_dirs["torch"], tiny_dirs["torch"])
    crf = tmp_path / "crf"
    crf.mkdir()
    write_card(crf, {"arch": "crf"})
    with pytest.raises(ModelLoadError, match="only transformer"):
        export_onnx(crf, tmp_path / "y")
    with pytest.raises(ModelLoadError, match="serkit.json"):
        export_onnx(tmp_path / "nothing", tmp_path / "z")
    empty = tmp_path / "noweights"
    empty.mkdir()
    write_card(empty, {"arch": "transformer"})
    with pytest.raises(ModelLoadError, match="no model weights"):
        export_onnx(empty, tmp_path / "w")
    assert not (tmp_path / "w" / "model.onnx").exists()


def test_onnx_model_runs_without_torch(tiny_dirs):
    """The ONNX runtime path never imports torch (smaller, faster start)."""
    code = textwrap.dedent(
        f"""
        import sys
        import serkit
        t = serkit.load({str(tiny_dirs["int8"])!r})
        t.tag_tokens(["I", "use", "Linux"])
        t("I use Linux and Python.")
        assert "torch" not in sys.modules, "torch was imported"
        assert "transformers" not in sys.modules, "transformers was imported"
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


def test_export_cli(tmp_path, tiny_dirs):
    from typer.testing import CliRunner

    import serkit.cli.main  # noqa: F401  (registers the commands)
    from serkit.cli._app import app

    res = CliRunner().invoke(
        app,
        [
            "export",
            "onnx",
            str(tiny_dirs["torch"]),
            "-o",
            str(tmp_path / "o"),
            "--quantize",
            "int8",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "model.int8.onnx" in res.output
    assert load_tagger(tmp_path / "o").runtime == "onnx-int8"


def test_word_logits_decode_to_predict_words_on_both_runtimes(tiny_dirs):
    """``word_logits`` is the undecoded half of ``predict_words``; torch and ONNX agree on
    it, and both decoders are selectable at load time."""
    import numpy as np

    from serkit.labels import repair_iob
    from serkit.models.encoding import decode

    logits = {}
    for name, prefer in (("torch", "torch"), ("onnx", "auto")):
        for decoding in ("viterbi", "argmax"):
            tagger = load_tagger(tiny_dirs[name], prefer=prefer, threads=1, decoding=decoding)
            lg = tagger.word_logits(SENTS)
            assert [len(x) for x in lg] == [len(s) for s in SENTS]
            assert all(x.shape[1] == len(tagger.labels) for x in lg)
            assert tagger.predict_words(SENTS) == decode(lg, tagger.labels, decoding)
            logits[name] = lg
            if decoding == "argmax":
                raw = [[tagger.labels[i] for i in x.argmax(1)] for x in lg]
                assert [t for t, _ in tagger.predict_words(SENTS)] == [
                    repair_iob(r)[0] for r in raw
                ]
    for a, b in zip(logits["torch"], logits["onnx"], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-3)
    with pytest.raises(SerkitError, match="unknown decoding"):
        load_tagger(tiny_dirs["torch"], prefer="torch", decoding="beam")


def test_reexport_keeps_a_hand_written_readme_and_names_no_home(tmp_path, tiny_dirs, monkeypatch):
    """The Hub README a user wrote in the export folder survives a re-export (as it does a
    card rewrite); the card records where the model came from without a home folder."""
    from serkit.models.folder import README, read_card

    home = tmp_path / "home" / "alice"
    src = home / "runs" / "m"
    shutil.copytree(tiny_dirs["torch"], src)
    monkeypatch.setenv("HOME", str(home))
    out = tmp_path / "pub"
    export_onnx(src, out)
    (out / README).write_text("# my model\n\nmy words\n", encoding="utf-8")
    export_onnx(src, out, quantize="int8")
    assert (out / README).read_text(encoding="utf-8") == "# my model\n\nmy words\n"
    assert not (out / "model.onnx").exists() and load_tagger(out).runtime == "onnx-int8"
    assert read_card(out)["onnx"]["exported_from"] == "~/runs/m"
    assert not any(p.name.startswith(".") for p in out.iterdir())
