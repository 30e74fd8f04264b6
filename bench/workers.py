"""Local worker processes: words per wall-second of 1 vs 2 workers, same run (issue 18).

    .venv/bin/python bench/workers.py [--limit 1000] [--doc-sentences 10] [--reps 3]

Texts: the first ``--limit`` sentences of the WikiSER test split, each detokenised, joined
``--doc-sentences`` at a time into documents (end to end from raw text: sentence split,
tokenise, encode, run, decode to character-offset entities). Model: the shipped default
(ONNX int8). Rows, each in its own process (clean peak RSS), run interleaved for ``--reps``
rounds (the order reversed every other round), median per row:

* ``1 process, 1 thread``: what one worker is (``--workers 1 --threads 1``);
* ``1 process, 2 threads``: ONNX Runtime's own threads (``--workers 1 --threads 2``);
* ``2 workers (warm)``: ``WorkerTagger(workers=2)`` started and loaded before timing:
  the steady rate of a long run;
* ``2 workers (as serkit tag)``: the CLI's path, timed from the first text, worker start
  and model loads included (the first ``MIN_WORDS`` words are tagged in-process).

Words/s counts the corpus tokens. Every row's entities are compared with the first row's.
Writes the ``workers`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "wikiser-small" / "test.txt"
ROWS = {
    "1 process, 1 thread": {"workers": 1, "threads": 1, "warm": False},
    "1 process, 2 threads": {"workers": 1, "threads": 2, "warm": False},
    "2 workers (warm)": {"workers": 2, "threads": None, "warm": True},
    "2 workers (as serkit tag)": {"workers": 2, "threads": None, "warm": False},
}
BASE = "1 process, 1 thread"


def load_texts(limit: int, per_doc: int) -> tuple[list[str], int]:
    from serkit.files import read
    from serkit.tokenize import detokenize

    sents = []
    for s in read(DATA, "wikiser"):
        sents.append(list(s.tokens))
        if len(sents) >= limit:
            break
    texts = [
        " ".join(detokenize(s) for s in sents[i : i + per_doc])
        for i in range(0, len(sents), per_doc)
    ]
    return texts, sum(map(len, sents))


def peak_rss_mb(pid: int | str = "self") -> float:
    """Peak resident set of a process, in MB."""
    from serkit.workers import process_memory

    return process_memory(pid).get("peak", float("nan"))


def child(args: argparse.Namespace) -> dict:
    from serkit.workers import WorkerTagger

    row = ROWS[args.child]
    texts, words = load_texts(args.limit, args.doc_sentences)
    t0 = time.perf_counter()
    tagger = WorkerTagger(None, workers=row["workers"], threads=row["threads"])
    load_s = time.perf_counter() - t0
    if row["warm"]:
        tagger.start()
        tagger.pipe(texts[:2]).__next__()  # one warm-up text, as for the one-process rows
    else:
        next(tagger.pipe(texts[:1]))
    t0, c0 = time.perf_counter(), time.process_time()
    results = [[e.to_dict() for e in ents] for ents in tagger.pipe(texts, args.batch_size)]
    wall = time.perf_counter() - t0
    cpu_main = time.process_time() - c0
    worker_rss = [peak_rss_mb(pid) for pid in tagger.pids]
    started = tagger.started
    tagger.close()
    digest = hashlib.sha256(json.dumps(results, sort_keys=True).encode()).hexdigest()[:16]
    return {
        "row": args.child,
        "words": words,
        "texts": len(texts),
        "entities": sum(map(len, results)),
        "wall_s": wall,
        "words_per_s": words / wall,
        "main_cpu_s": cpu_main,
        "load_s": load_s,
        "main_rss_mb": peak_rss_mb(),
        "worker_rss_mb": worker_rss,
        "workers_started": started,
        "digest": digest,
    }


def run_child(name: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", name, "--limit", str(args.limit)]
    cmd += ["--doc-sentences", str(args.doc_sentences), "--batch-size", str(args.batch_size)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=1000, help="sentences of the test split")
    ap.add_argument("--doc-sentences", type=int, default=10, help="sentences per document")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--child", choices=list(ROWS), help=argparse.SUPPRESS)
    ap.add_argument("--no-write", action="store_true", help="print, do not update RESULTS.md")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _results import machine, today, update_section

    started = today()
    load_start = os.getloadavg()
    t_all = time.perf_counter()
    runs: dict[str, list[dict]] = {name: [] for name in ROWS}
    for r in range(args.reps):
        order = list(ROWS) if r % 2 == 0 else list(reversed(ROWS))
        for name in order:
            res = run_child(name, args)
            runs[name].append(res)
            print(f"round {r + 1} {name}: {res['words_per_s']:,.0f} words/s", file=sys.stderr)
    wall_all = time.perf_counter() - t_all
    load_end = os.getloadavg()
    base = median(x["words_per_s"] for x in runs[BASE])
    digest0 = runs[BASE][0]["digest"]
    lines = [
        "| run | words/s (median) | x 1 process, 1 thread | rounds (words/s) | main CPU s "
        "| main peak RSS MB | per-worker peak RSS MB | entities identical |",
        "|---|---:|---:|---|---:|---:|---:|---|",
    ]
    for name, rs in runs.items():
        wps = median(x["words_per_s"] for x in rs)
        wrss = [m for x in rs for m in x["worker_rss_mb"]]
        rounds = ", ".join(f"{x['words_per_s']:,.0f}" for x in rs)
        same = "yes" if all(x["digest"] == digest0 for x in rs) else "NO"
        lines.append(
            f"| {name} | {wps:,.0f} | {wps / base:.2f} | {rounds} | "
            f"{median(x['main_cpu_s'] for x in rs):.1f} | "
            f"{median(x['main_rss_mb'] for x in rs):.0f} | "
            f"{f'{median(wrss):.0f}' if wrss else '-'} | {same} |"
        )
    first = runs[BASE][0]
    warm = median(x["words_per_s"] for x in runs["2 workers (warm)"]) / base
    cli = median(x["words_per_s"] for x in runs["2 workers (as serkit tag)"]) / base
    one_rss = median(x["main_rss_mb"] for x in runs[BASE])
    wrss_all = [m for x in runs["2 workers (warm)"] for m in x["worker_rss_mb"]]
    mem = max(wrss_all) / one_rss if wrss_all else float("nan")
    opts = ("limit", "doc_sentences", "batch_size", "reps")
    cmd = "python bench/workers.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k in opts
    )
    from serkit.workers import MIN_WORDS

    intro = (
        f"WikiSER test split, the first {args.limit:,} sentences ({first['words']:,} words), "
        f"detokenised and joined {args.doc_sentences} sentences a document "
        f"({first['texts']} documents), tagged end to end from raw text by the shipped "
        f"default (ONNX int8), batch size {args.batch_size}. Each row runs in its own "
        f"process; {args.reps} rounds interleaved (order reversed every other round), median "
        "per row. *warm*: the workers were started and had loaded the model before timing "
        "(the steady rate of a long run); *as serkit tag*: timed from the first text, worker "
        f"start-up and model loads included, the first {MIN_WORDS:,} words tagged in-process "
        "as the CLI does. Main CPU s: CPU time of the parent process (tokenising, pooling, "
        f"spans). {started}, {machine()}."
    )
    load = (
        f"1-minute load average at the start / end of the run: {load_start[0]:.2f} / "
        f"{load_end[0]:.2f} on {os.cpu_count()} cores (the 2-worker rows use both cores: a "
        "load above about 0 before the run means other jobs shared the CPU). Wall time of "
        f"the whole run: {wall_all / 60:.1f} min."
    )
    verdict = (
        "Issue 18 target, 2 workers >= 1.8x one worker (words per wall-second, same run, "
        f"idle machine): **{'met' if warm >= 1.8 else 'NOT met'}** warm ({warm:.2f}x); as "
        f"`serkit tag` on this input {cli:.2f}x. Memory per worker: {mem:.2f}x one process "
        "(target <= 1.2x)."
    )
    table = "\n".join(lines)
    md = (
        "## Local worker processes: 1 vs 2 workers (issue 18)\n\n"
        f"{intro}\n\n{load}\n\n{table}\n\n{verdict}\n\nCommand: `{cmd}`\n"
    )
    print(md)
    if not args.no_write:
        update_section("workers", md)


if __name__ == "__main__":
    from _results import main_guard

    main_guard(main)
