"""The Python API: serkit.load, Tagger.__call__/pipe/tag_tokens, offsets, odd inputs."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import serkit
from serkit.errors import ModelLoadError
from serkit.models import registry
from serkit.models.onnx import OnnxTagger
from serkit.tokens import Entity

SAMPLES = [
    "I installed TensorFlow on Ubuntu 22.04 with pip and ran it on an NVIDIA A100.",
    "Python 🐍 runs on Linux 🐧 and Windows; 我们在 Ubuntu 上使用 TensorFlow 和 PyTorch。",
    "نصبت TensorFlow على Ubuntu وشغلته على NVIDIA A100 (עברית: לינוקס ו-Python).",
    "Line one uses Java.\n\nLine two\tuses   C++ and C# on   macOS!\r\nDone.",
    "e\u0301l\u00e8ve installs na\u00efve-bayes \u200bzero\u200bwidth and \ufeffBOM text.",
]


def check_entities(text: str, ents: list[Entity], labels: list[str]) -> None:
    types = {lab[2:] for lab in labels if lab != "O"}
    prev_end = 0
    for e in ents:
        assert isinstance(e, Entity)
        assert 0 <= e.start < e.end <= len(text)
        assert text[e.start : e.end] == e.text
        assert e.text == e.text.strip() and e.text
        assert e.label in types
        assert 0.0 <= e.score <= 1.0
        assert e.start >= prev_end  # sorted, non-overlapping
        prev_end = e.end


def test_load_picks_the_runtime(tiny_dirs):
    from serkit.models.transformer import TransformerTagger

    assert isinstance(serkit.load(tiny_dirs["torch"]), TransformerTagger)
    onnx = serkit.load(tiny_dirs["onnx"])
    assert isinstance(onnx, OnnxTagger) and onnx.runtime == "onnx"
    int8 = serkit.load(str(tiny_dirs["int8"]))
    assert isinstance(int8, OnnxTagger) and int8.runtime == "onnx-int8"
    assert onnx.labels == int8.labels == serkit.load(tiny_dirs["torch"]).labels
    assert onnx.card["runtime"] == "onnx" and int8.card["runtime"] == "onnx-int8"


def test_the_tagger_contract_says_where_and_how(tiny_dirs):
    """runtime, decoding and model_dir are part of Tagger, not looked up with getattr."""
    torch_tagger = serkit.load(tiny_dirs["torch"], prefer="torch")
    assert torch_tagger.runtime == "torch" and torch_tagger.decoding == "viterbi"
    assert torch_tagger.model_dir == tiny_dirs["torch"]
    int8 = serkit.load(tiny_dirs["int8"], decoding="argmax")
    assert int8.model_dir == tiny_dirs["int8"] and int8.decoding == "argmax"


def test_bad_model_dirs_raise_model_load_error(tmp_path, tiny_dirs):
    with pytest.raises(ModelLoadError, match="no such model directory"):
        serkit.load(tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ModelLoadError, match="directory"):
        serkit.load(tmp_path / "file.txt")
    with pytest.raises(ModelLoadError, match="serkit.json"):
        serkit.load(tmp_path)
    (tmp_path / "serkit.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="unreadable"):
        serkit.load(tmp_path)
    (tmp_path / "serkit.json").write_text(json.dumps({"arch": "lstm"}))
    with pytest.raises(ModelLoadError, match="unknown model arch"):
        serkit.load(tmp_path)
    (tmp_path / "serkit.json").write_text(json.dumps({"arch": "transformer"}))
    with pytest.raises(ModelLoadError, match="without weights"):
        serkit.load(tmp_path)
    with pytest.raises(ModelLoadError, match="no ONNX graph"):
        serkit.load(tiny_dirs["torch"], prefer="onnx")
    with pytest.raises(ModelLoadError, match=r"no torch weights .*runs on: auto, onnx, onnx-fp32$"):
        serkit.load(tiny_dirs["onnx"], prefer="torch")
    with pytest.raises(ModelLoadError, match="unknown runtime"):
        serkit.load(tiny_dirs["onnx"], prefer="gpu")


def test_corrupt_onnx_graph_is_a_model_load_error(tmp_path, tiny_dirs):
    import shutil

    d = tmp_path / "m"
    shutil.copytree(tiny_dirs["onnx"], d)
    (d / "model.onnx").write_bytes(b"not a graph")
    with pytest.raises(ModelLoadError, match="damaged or changed"):  # the card's sha256
        serkit.load(d)
    card = json.loads((d / "serkit.json").read_text())
    del card["files"]  # a card from before checksums: ONNX Runtime's own check answers
    (d / "serkit.json").write_text(json.dumps(card))
    with pytest.raises(ModelLoadError, match="cannot load the ONNX graph"):
        serkit.load(d)


def test_missing_default_model_says_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "DEFAULT_DIR", tmp_path / "default")
    with pytest.raises(ModelLoadError, match="make default-model"):
        serkit.load()


def test_demo_fails_cleanly_without_default_and_runs_with_a_model(
    tmp_path, monkeypatch, capsys, tiny_dirs
):
    from serkit import demo

    monkeypatch.setattr(registry, "DEFAULT_DIR", tmp_path / "default")
    assert demo.main([]) == 2
    err = capsys.readouterr().err
    assert "default model is not installed" in err and "Traceback" not in err
    assert demo.main([str(tiny_dirs["onnx"])]) == 0
    out = capsys.readouterr().out
    assert "Sample paragraph" in out and "sample.txt" in out


@pytest.mark.parametrize("text", ["", " ", "\n\n\t  \r\n", "\u200b\ufeff\u2028 \u00a0"])
def test_empty_and_whitespace_give_no_entities(onnx_tagger, torch_tagger, text):
    assert onnx_tagger(text) == []
    assert torch_tagger(text) == []
    assert list(onnx_tagger.pipe([text, text])) == [[], []]
    assert onnx_tagger.tag_tokens([]) == []


@pytest.mark.parametrize("text", SAMPLES)
def test_offsets_on_unicode_text(onnx_tagger, torch_tagger, text):
    for tagger in (onnx_tagger, torch_tagger):
        check_entities(text, tagger(text), tagger.labels)


def test_the_random_tiny_model_does_tag_things(onnx_tagger):
    # Guards the tests above against passing vacuously.
    ents = [e for t in SAMPLES for e in onnx_tagger(t)]
    assert len(ents) >= 10
    assert len({e.label for e in ents}) >= 3


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.sampled_from(
            [
                *"abcXYZ019 .,;:!?()-_/+#@'\"\n\t",
                "C++",
                "ü",
                "é",
                "🐍",
                "👩\u200d💻",
                "中",
                "文",
                "ש",
                "ل",
                "\u200b",
                "\u0301",
                "\u00a0",
                "Linux",
                "TensorFlow",
                " on ",
            ]
        ),
        max_size=80,
    ).map("".join)
)
def test_every_entity_is_an_exact_slice(onnx_tagger, text):
    check_entities(text, onnx_tagger(text), onnx_tagger.labels)


def test_a_10000_character_token(onnx_tagger, torch_tagger):
    word = "x" * 10_000
    for tagger in (onnx_tagger, torch_tagger):
        assert len(tagger.tag_tokens([word])) == 1
        assert len(tagger.tag_tokens(["run", word, "on", "Linux"])) == 4
        text = f"I use {word} on Linux."
        check_entities(text, tagger(text), tagger.labels)
        check_entities(word, tagger(word), tagger.labels)


def test_long_sentence_gets_one_tag_per_word(onnx_tagger, torch_tagger):
    words = ["TensorFlow", "runs", "on", "Ubuntu", "and", "Windows"] * 500  # many windows
    a = onnx_tagger.tag_tokens(words)
    assert len(a) == 3000
    assert a == torch_tagger.tag_tokens(words)


def same_entities(a: list[list[Entity]], b: list[list[Entity]]) -> None:
    """Same spans, labels and texts; scores equal up to float noise (batches pad differently)."""
    assert [[(e.start, e.end, e.label, e.text) for e in x] for x in a] == [
        [(e.start, e.end, e.label, e.text) for e in x] for x in b
    ]
    flat_a = [e.score for x in a for e in x]
    flat_b = [e.score for x in b for e in x]
    assert flat_a == pytest.approx(flat_b, abs=1e-5)


def test_call_and_pipe_agree(onnx_tagger, torch_tagger, tiny_dirs):
    texts = [*SAMPLES, "", "Short.", " ".join(SAMPLES * 5)] * 3
    int8 = serkit.load(tiny_dirs["int8"], threads=1)
    for tagger in (onnx_tagger, torch_tagger, int8):
        one_by_one = [tagger(t) for t in texts]
        for bs in (1, 3, 64):
            same_entities(list(tagger.pipe(texts, batch_size=bs)), one_by_one)
        same_entities(list(tagger.pipe(iter(texts))), one_by_one)


def test_torch_and_onnx_fp32_agree(onnx_tagger, torch_tagger):
    for text in SAMPLES:
        a, b = onnx_tagger(text), torch_tagger(text)
        assert [(e.start, e.end, e.label) for e in a] == [(e.start, e.end, e.label) for e in b]
        for x, y in zip(a, b, strict=True):
            assert x.score == pytest.approx(y.score, abs=1e-4)


def test_pipe_streams_an_endless_input(onnx_tagger):
    endless = itertools.cycle(SAMPLES)
    out = list(itertools.islice(onnx_tagger.pipe(endless, batch_size=4), 50))
    assert len(out) == 50
    same_entities(out[: len(SAMPLES)], [onnx_tagger(t) for t in SAMPLES])


def test_pipe_rejects_a_bad_batch_size(onnx_tagger):
    with pytest.raises(ValueError):
        list(onnx_tagger.pipe(["x"], batch_size=0))
    with pytest.raises(TypeError):
        list(onnx_tagger.pipe("one text, not a list"))


def test_a_million_characters_with_bounded_memory(tiny_dirs):
    """Tag 1,000,000 characters in a fresh process; peak RSS may grow only by a bounded
    amount (tokens, tags and entities of the text itself, not a quadratic blow-up)."""
    code = textwrap.dedent(
        f"""
        import time
        import serkit

        def peak_kb():  # VmHWM starts afresh at exec (ru_maxrss inherits pytest's peak)
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])

        tagger = serkit.load({str(tiny_dirs["onnx"])!r}, threads=1)
        base = "I installed TensorFlow 2.15 on Ubuntu with pip, then ran it on an NVIDIA A100! "
        uni = "中文 🐍 עברית و العربية; "
        tagger(base * 10)
        text = ((base + uni) * 20000)[:1_000_000]
        flat = ("word C++ " * 40000)[:300_000]  # no sentence end at all: one long sentence
        before = peak_kb()
        t = time.perf_counter()
        n = 0
        for t_ in (text, flat):
            ents = tagger(t_)
            assert all(t_[e.start:e.end] == e.text for e in ents)
            n += len(ents)
            del ents
        after = peak_kb()
        print(n, (after - before) / 1024, time.perf_counter() - t)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        env={"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    n, growth_mb, seconds = out.stdout.split()
    assert int(n) > 1000
    assert 0 < float(growth_mb) < 400, f"peak RSS grew by {growth_mb} MB"
