"""Tagging in worker processes (issue 18 item 1): output identical to one process, in
input order; no process for small inputs; ``serkit tag --workers``."""

from __future__ import annotations

import json
import os
import random

import pytest
from typer.testing import CliRunner

import serkit.workers as workers_mod
from _runtime_model import WORDS
from serkit.cli.main import app  # every command registered
from serkit.workers import WorkerTagger, pipe, usable_cores


def random_texts(n: int, seed: int = 0) -> list[str]:
    """Texts of 0 to 6 sentences of 1 to 40 words (some longer than a window), a few empty."""
    rng = random.Random(seed)
    vocab = [*WORDS, "TensorFlow", "Ubuntu", "NVIDIA", "A100", "Python3.11", "C++", "(", ")"]
    texts = []
    for _ in range(n):
        sents = []
        for _ in range(rng.randint(0, 6)):
            words = [rng.choice(vocab) for _ in range(rng.randint(1, 40))]
            sents.append(" ".join(words).capitalize() + rng.choice([".", "!", "?"]))
        texts.append(" ".join(sents))
    return texts


def as_dicts(results) -> list[list[dict]]:
    return [[e.to_dict() for e in ents] for ents in results]


def test_two_workers_give_what_one_process_gives(tiny_dirs, onnx_tagger):
    texts = random_texts(150)
    expected = as_dicts(onnx_tagger.pipe(texts, 4))
    assert sum(map(len, expected)) > 50  # the random model tags plenty
    with WorkerTagger(tiny_dirs["onnx"], workers=2, threads=1, min_words=0) as tagger:
        got = as_dicts(tagger.pipe(texts, 4))
        assert tagger.started  # the texts really went to worker processes
        # and the sentences too (CoNLL/WikiSER output), for a long text in pools
        long_text = " ".join(texts)
        (doc,) = tagger.pipe_tagged([long_text], 4)
    assert got == expected
    (want,) = onnx_tagger.pipe_tagged([long_text], 4)
    assert doc == want  # words, offsets, tags, scores and entities
    assert doc.text == long_text


def test_pipe_function_and_small_inputs_start_no_process(tiny_dirs, onnx_tagger):
    texts = random_texts(5, seed=1)
    got = as_dicts(pipe(tiny_dirs["onnx"], texts, workers=2, threads=1))
    assert got == as_dicts(onnx_tagger.pipe(texts))
    with WorkerTagger(tiny_dirs["onnx"], workers=2) as tagger:
        assert tagger("I installed TensorFlow on Ubuntu.") == onnx_tagger(
            "I installed TensorFlow on Ubuntu."
        )
        assert not tagger.started  # one short text: tagged in this process


def test_workers_must_be_positive(tiny_dirs):
    with pytest.raises(ValueError, match="workers"):
        WorkerTagger(tiny_dirs["onnx"], workers=0)
    assert usable_cores() >= 1


def test_cli_workers_output_identical_to_one_worker(tmp_path, tiny_dirs, monkeypatch):
    monkeypatch.setattr(workers_mod, "MIN_WORDS", 0)
    started = []
    real_start = WorkerTagger._start

    def start(self):
        started.append(self.workers)
        real_start(self)

    monkeypatch.setattr(WorkerTagger, "_start", start)
    path = tmp_path / "posts.jsonl"
    path.write_text(
        "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(random_texts(80))),
        encoding="utf-8",
    )
    outs = {}
    for n in ("1", "2"):
        res = CliRunner().invoke(
            app,
            ["tag", str(path), "--workers", n, "-b", "4", "-m", str(tiny_dirs["onnx"])],
            catch_exceptions=False,
        )
        assert res.exit_code == 0, res.output
        outs[n] = res.stdout
    assert started == [2]  # one worker never starts a process
    assert outs["1"] == outs["2"]
    assert [json.loads(line)["id"] for line in outs["2"].splitlines()] == list(range(80))


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps_rollup"), reason="needs Linux /proc")
def test_process_memory_counts_private_pages():
    """USS grows by what the process itself writes; shared pages make RSS >= PSS >= USS."""
    from serkit.workers import process_memory

    before = process_memory()
    assert 0 < before["uss"] <= before["pss"] <= before["rss"] <= before["peak"]
    block = bytearray(os.urandom(1)) * (64 << 20)  # 64 MB written by this process
    after = process_memory()
    assert after["uss"] - before["uss"] > 50
    assert after["peak"] >= after["rss"] >= 64
    del block
