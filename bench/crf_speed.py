"""CRF tagging speed from raw text, end to end, one thread (issue 5: >= 100k words/CPU-s).

    .venv/bin/python bench/crf_speed.py [--model runs/bench/crf-W1] [--reps 3] [--dump F]

The WikiSER test split, each sentence detokenised (``serkit.tokenize.detokenize``) and
50 sentences joined into one document (as ``bench/lexicon_crf.py``), through
``Tagger.pipe(batch_size=256)``: sentence split, tokenise, features, Viterbi, per-word
marginals, character-offset entities. Each repetition runs in a fresh process (so
*cold*, the first pass after loading, pays for filling the per-word caches; *warm* is
the same text again), and the figures are medians over the repetitions. Also timed,
warm: *tokens* (the corpus tokens through ``predict_words`` in pooled length-sorted
batches of 32, as ``bench/speed.py`` does) and *split* (sentence split + tokenise only).

Words count the corpus tokens. Words per CPU-second (``time.process_time``) is what one
core delivers; wall time also counts other jobs on the machine. ``--dump`` writes every
entity (start, end, label, score) as JSON, to check that a change keeps the output.
Prints a table; writes nothing else (no RESULTS.md section).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from statistics import median

from _results import ROOT, documents, run_worker, wikiser_test, worker_env

MODEL = ROOT / "runs" / "bench" / "crf-W1"
SENTS_PER_DOC = 50
MODES = ("text cold", "text warm", "tokens warm", "split warm")


def worker(model: Path, batch_size: int, dump: str | None) -> dict:
    """One repetition in this (fresh) process: seconds and CPU seconds per mode."""
    from serkit.models.crf import CrfTagger
    from serkit.tokenize import sentences

    corpus = [list(s.tokens) for s in wikiser_test()]
    words = sum(map(len, corpus))
    docs = documents(corpus, SENTS_PER_DOC)
    tagger = CrfTagger.load(model)
    out: dict = {"words": words, "docs": len(docs)}

    def timed(mode: str, fn) -> object:
        w, c = time.perf_counter(), time.process_time()
        res = fn()
        out[mode] = (time.perf_counter() - w, time.process_time() - c)
        return res

    def run_text() -> list:
        return list(tagger.pipe(docs, batch_size=batch_size))

    def run_tokens() -> int:
        pool = 4 * 32
        n = 0
        for lo in range(0, len(corpus), pool):
            part = sorted(corpus[lo : lo + pool], key=len)
            for b in range(0, len(part), 32):
                n += len(tagger.predict_words(part[b : b + 32]))
        return n

    ents = timed("text cold", run_text)
    again = timed("text warm", run_text)
    if again != ents:
        raise SystemExit("warm and cold runs disagree")
    timed("tokens warm", run_tokens)
    timed("split warm", lambda: sum(len(sentences(d)) for d in docs))
    out["entities"] = sum(map(len, ents))
    if dump:
        rows = [[[e.start, e.end, e.label, e.score] for e in doc] for doc in ents]
        Path(dump).write_text(json.dumps(rows))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--reps", type=int, default=3, help="fresh processes (median)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--dump", help="write the entities of the first repetition here (JSON)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.model, args.batch_size, args.dump)))
        return
    env = worker_env(1)
    runs = []
    for rep in range(args.reps):
        cmd = [sys.executable, __file__, "--worker", "--model", str(args.model),
               "--batch-size", str(args.batch_size)]  # fmt: skip
        if args.dump and rep == 0:
            cmd += ["--dump", args.dump]
        runs.append(run_worker(cmd, env=env))
    words = runs[0]["words"]
    print(f"{args.model}: {words:,} words, {runs[0]['docs']} documents, "
          f"{runs[0]['entities']:,} entities, {args.reps} fresh processes (median)")  # fmt: skip
    print("| mode | words/CPU-s | words/s (wall) | CPU-s runs |")
    print("|---|---:|---:|---|")
    for mode in MODES:
        wall = median(r[mode][0] for r in runs)
        cpu = median(r[mode][1] for r in runs)
        each = ", ".join(f"{words / r[mode][1]:,.0f}" for r in runs)
        print(f"| {mode} | {words / cpu:,.0f} | {words / wall:,.0f} | {each} |")


if __name__ == "__main__":
    from _results import main_guard

    main_guard(main)
