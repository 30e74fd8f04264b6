"""The shipped default model (src/serkit/models/default): offline, small, and it works.

It is built by ``make default-model MODEL=runs/<best W1 model>``; these tests fail until
it is there, on purpose: a clean clone must ship a working model.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from serkit.models.registry import default_model_dir

SENTENCE = "I installed TensorFlow on Ubuntu 22.04 with pip and ran it on an NVIDIA A100."


def test_default_model_is_complete_and_small():
    d = default_model_dir()
    names = {p.name for p in d.iterdir()}
    assert {"serkit.json", "config.json", "tokenizer.json", "model.int8.onnx"} <= names
    assert not any(n.endswith((".safetensors", ".bin")) or n == "model.onnx" for n in names)
    assert sum(p.stat().st_size for p in d.iterdir() if p.is_file()) <= 30 * 1024 * 1024
    card = json.loads((d / "serkit.json").read_text(encoding="utf-8"))
    assert card["arch"] == "transformer" and card["runtime"] == "onnx-int8"
    config = json.loads((d / "config.json").read_text(encoding="utf-8"))
    if "lexicon" in config.get("serkit_features", {}).get("features", []):
        assert "lexicon.tsv" in names


def test_default_model_loads_and_tags_with_no_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    import serkit

    tagger = serkit.load()
    ents = tagger(SENTENCE)
    for e in ents:
        assert SENTENCE[e.start : e.end] == e.text and 0 <= e.score <= 1
    assert ents, "the default model found nothing in the acceptance sentence"


def _tag_through_cli(text: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "serkit", "tag", "-"],
        input=text + "\n",
        capture_output=True,
        text=True,
        timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    (rec,) = [json.loads(line) for line in out.stdout.splitlines()]
    for e in rec["entities"]:
        assert rec["text"][e["start"] : e["end"]] == e["text"]
    return rec


@pytest.mark.integration
def test_acceptance_sentence_through_the_cli():
    """`echo ... | serkit tag -` prints JSONL with exact offsets and finds Ubuntu as an OS."""
    rec = _tag_through_cli(SENTENCE)
    found = {(e["text"], e["label"]) for e in rec["entities"]}
    assert ("Ubuntu", "Operating_System") in found, found
    # The default (developer) scheme reads the lexicon in Stack Overflow NER's convention
    # (lexicon.stackoverflow.tsv), where TensorFlow is a Library; WikiSER's says Language.
    assert ("TensorFlow", "Library") in found, found


@pytest.mark.integration
@pytest.mark.xfail(
    strict=True,
    reason="known model-quality gap of the M1 default (issue 20): none of the three training "
    "sets labels a GPU model a Device (WikiSER: V100/GTX/A100 are O; StackOverflow NER's "
    "Devices are mouse, disk, CPU...); the default tags NVIDIA an Application and misses A100",
)
def test_acceptance_sentence_device():
    rec = _tag_through_cli(SENTENCE)
    found = {(e["text"], e["label"]) for e in rec["entities"]}
    assert any(label == "Device" and "A100" in text for text, label in found), found


def test_torch_runtime_on_the_onnx_only_default_says_what_it_runs(capsys):
    """The shipped folder has an ONNX graph and no torch weights: asking it for torch names
    the missing safetensors and the runtimes it has, not 'a model without weights'."""
    from _cli import run_cli

    code, out = run_cli(capsys, "tag", "--runtime", "torch", "--text", "I use Java")
    assert code == 2 and "Traceback" not in out and len(out.strip().splitlines()) == 1
    assert "no torch weights (model.safetensors)" in out and "without weights" not in out
    assert "it runs on: auto, onnx, onnx-int8" in out
