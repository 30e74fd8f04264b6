"""Tagging in worker processes (issue 18 item 1): output identical to one process, in
input order; no process for small inputs; ``serkit tag --workers``."""

from __future__ import annotations

import contextlib
import json
import os
import random

import pytest
from typer.testing import CliRunner

import serkit.workers as workers_mod
from _runtime_model import WORDS
from serkit.cli.main import app  # every command registered
from serkit.errors import SerkitError
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


def _sigint_of_a_fresh_process(queue) -> None:
    import signal

    queue.put(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)


def test_workers_are_spawned_with_ctrl_c_ignored():
    """Ctrl-C reaches the whole process group: a worker still importing (before its
    initializer) must not print a KeyboardInterrupt traceback; the parent stops it."""
    import multiprocessing
    import signal

    ctx = multiprocessing.get_context(workers_mod.START_METHOD)
    before = signal.getsignal(signal.SIGINT)
    seen = []
    for ignored in (True, False):
        queue = ctx.Queue()
        with workers_mod._sigint_ignored() if ignored else contextlib.nullcontext():
            proc = ctx.Process(target=_sigint_of_a_fresh_process, args=(queue,))
            proc.start()
        seen.append(queue.get(timeout=60))
        proc.join(60)
    assert seen == [True, False]  # inherited from its first instruction on, only then
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.skipif(not os.path.exists("/proc"), reason="needs Linux /proc")
def test_workers_exit_when_their_parent_is_killed(tiny_dirs, tmp_path):
    """SIGKILL (or SIGTERM, which removes the temp output and dies) gives the parent no
    chance to stop its workers: they notice and exit instead of waiting for ever."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(
        "import sys, time\n"
        "from serkit.workers import WorkerTagger\n"
        "if __name__ == '__main__':\n"
        f"    t = WorkerTagger({str(tiny_dirs['onnx'])!r}, workers=2, threads=1)\n"
        "    t.start()\n"
        "    print(*t.pids, flush=True)\n"
        "    time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(os.path.exists(f"/proc/{p}") for p in pids)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait(30)
    deadline = time.monotonic() + 20
    while any(_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [p for p in pids if _running(p)]
    for p in alive:  # do not leave them behind even when the test fails
        os.kill(p, signal.SIGKILL)
    assert not alive


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan is reaped by init, or by no one in a container)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_worker_that_cannot_load_the_model_is_one_error(tiny_dirs, tmp_path, capfd):
    """The model folder removed after this process loaded it (workers start once 10,000
    words are tagged, maybe minutes later): the workers' reason in one error, not their
    initializer's tracebacks and "stopped unexpectedly (out of memory?)"."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_dirs["onnx"], model)
    with WorkerTagger(model, workers=2, threads=1, min_words=0) as tagger:
        shutil.rmtree(model)
        with pytest.raises(SerkitError, match="a worker process could not load the model: .*model"):
            tagger.start()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "initializer" not in err
