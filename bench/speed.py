"""Throughput and peak memory of every benchmarked system, run interleaved.

    .venv/bin/python bench/speed.py --model runs/<model> [--limit 2000] [--reps 3] [--threads 1]

Runtimes: the Hugging Face ``pipeline("token-classification", aggregation_strategy="first")``
on the transformer (batch sizes 1 and 32), serkit on the same transformer with torch fp32,
ONNX fp32 and ONNX int8, the shipped default model (``default-int8``,
``src/serkit/models/default``), and the W1 models of the weak labeller, the CRF and spaCy
(``runs/bench/<system>-W1``, trained by ``bench/quality.py``). Each runtime runs in its own
subprocess (clean peak RSS) over the first ``--limit`` sentences of the WikiSER test split;
``--reps`` rounds run the runtimes interleaved (round 1: all runtimes, round 2: all
again, ...) so a change in machine load hits all of them alike, and every figure is the
median over the rounds. Two modes:

* **tokens**: the corpus tokens as pre-tokenised input (``predict_words`` /
  ``is_split_into_words=True`` / spaCy ``Doc(vocab, words=...)``): tagging from raw tokens.
* **text**: end to end from raw text (each sentence detokenised to a string): sentence
  split, tokenise, encode, run, decode to character-offset entities. The HF pipeline
  and spaCy (its own tokenizer) get the same strings.

Words/s counts the corpus tokens of the sentences tagged. ONNX graphs are exported
to a temporary folder unless ``--onnx-dir`` points at an earlier export (holding
``model.onnx`` and ``model.int8.onnx``). ``--extra NAME=DIR`` adds a row for any other
saved serkit model (a smaller student, say), loaded with ``serkit.load(DIR)``. Writes the
``speed`` section of bench/RESULTS.md and bench/speed_rows.json (for the figures).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from _results import (
    ROOT,
    SPEED_ROWS,
    command,
    machine,
    run_worker,
    today,
    update_section,
    wikiser_test,
    worker_env,
)

#: ``hf-pipeline-bN``: the HF pipeline with ``batch_size=N`` (the ratios use N = 1).
RUNTIMES = ("hf-pipeline-b1", "hf-pipeline-b32", "torch", "onnx-fp32", "onnx-int8",
            "default-int8", "weak", "crf", "spacy")  # fmt: skip
BASE = "hf-pipeline-b1"
SPACY = "spacy"
#: runtimes that run one of the bench's W1 models (runs/bench/<system>-W1)
BENCH_SYSTEMS = ("weak", "crf", "spacy")


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM starts afresh at exec; ``ru_maxrss`` would inherit
    the parent's peak (the parent may have exported the model with torch)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pooled(tagger, sents: list[list[str]], batch_size: int) -> int:
    """``predict_words`` with pipe()'s pooling: sort a pool of sentences by length, batch."""
    from serkit.decode import entities_from_tags  # noqa: F401  (import cost outside)

    n = 0
    pool = 4 * batch_size
    for lo in range(0, len(sents), pool):
        part = sents[lo : lo + pool]
        order = sorted(range(len(part)), key=lambda i: len(part[i]))
        for b in range(0, len(order), batch_size):
            batch = [part[i] for i in order[b : b + batch_size]]
            for tags, _ in tagger.predict_words(batch):
                n += sum(t.startswith("B-") for t in tags)
    return n


def worker(args: argparse.Namespace) -> dict:
    """One runtime in this process: load, warm up, time both modes; JSON on stdout."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from serkit.tokenize import detokenize

    sents = [list(s.tokens) for s in wikiser_test(args.limit)]
    texts = [detokenize(s) for s in sents]
    words = sum(len(s) for s in sents)
    rss_data = peak_rss_mb()
    t0 = time.perf_counter()
    if args.worker.startswith("hf-pipeline"):
        import torch
        from transformers import pipeline

        torch.set_num_threads(args.threads)
        pipe = pipeline(
            "token-classification", model=args.model, aggregation_strategy="first", device=-1
        )

        hf_bs = int(args.worker.rsplit("-b", 1)[1])

        def run_text() -> int:
            return sum(len(r) for r in pipe(texts, batch_size=hf_bs))

        def run_tokens() -> int:
            out = pipe(sents, batch_size=hf_bs, is_split_into_words=True)
            return sum(len(r) for r in out)

        def warm() -> None:
            pipe(texts[:8], batch_size=hf_bs)
    elif args.worker == SPACY:
        from systems import SpacyTagger

        tagger = SpacyTagger(Path(args.bench_dir) / "spacy-W1", batch_size=args.batch_size)
        nlp = tagger.nlp

        def run_text() -> int:
            # spaCy end to end: its own tokenizer on the same strings
            return sum(len(d.ents) for d in nlp.pipe(texts, batch_size=args.batch_size))

        def run_tokens() -> int:
            return _pooled(tagger, sents, args.batch_size)

        def warm() -> None:  # steady state: vocab and caches filled, as in a long run
            list(nlp.pipe(texts, batch_size=args.batch_size))
    else:
        import serkit

        if args.worker in BENCH_SYSTEMS:
            from systems import load_system

            tagger = load_system(args.worker, Path(args.bench_dir) / f"{args.worker}-W1")
        elif args.worker == "default-int8":
            tagger = serkit.load(None, prefer="onnx-int8", threads=args.threads)
        elif args.worker in args.extra:
            tagger = serkit.load(args.extra[args.worker], threads=args.threads)
        else:
            model = args.onnx_dir if args.worker.startswith("onnx") else args.model
            prefer = args.worker if args.worker.startswith("onnx") else "torch"
            if args.worker == "torch":
                import torch

                torch.set_num_threads(args.threads)
            tagger = serkit.load(model, prefer=prefer, threads=args.threads)

        def run_text() -> int:
            return sum(len(e) for e in tagger.pipe(texts, batch_size=args.batch_size))

        def run_tokens() -> int:
            return _pooled(tagger, sents, args.batch_size)

        def warm() -> None:
            # Weak labeller and CRF cache per-word work: one untimed pass over all the
            # texts, so both modes measure the steady state (not whichever runs first).
            # A transformer has no such cache; a few texts load its kernels.
            warm_texts = texts if args.worker in BENCH_SYSTEMS else texts[:8]
            list(tagger.pipe(warm_texts, batch_size=args.batch_size))

    load_s = time.perf_counter() - t0
    rss_loaded = peak_rss_mb()
    warm()
    res = {
        "runtime": args.worker,
        "words": words,
        "sentences": len(sents),
        "load_s": load_s,
        "rss_loaded_mb": rss_loaded,
        "rss_data_mb": rss_data,
    }
    for mode, fn in (("tokens", run_tokens), ("text", run_text)):
        t, c = time.perf_counter(), time.process_time()
        n_ents = fn()
        dt, dc = time.perf_counter() - t, time.process_time() - c
        res[mode] = {
            "seconds": dt,
            "cpu_seconds": dc,
            "words_per_s": words / dt,
            "words_per_cpu_s": words / dc,
            "entities": n_ents,
        }
    res["peak_rss_mb"] = peak_rss_mb()
    return res


def export(model: str, out: Path) -> None:
    from serkit.models.export_onnx import export_onnx

    export_onnx(model, out, quantize="int8", keep_fp32=True)


def median_result(runs: list[dict]) -> dict:
    """One runtime's figures: the median of each over the interleaved rounds."""
    from statistics import median

    out = dict(runs[0])
    out["reps"] = len(runs)
    for key in ("load_s", "rss_loaded_mb", "peak_rss_mb"):
        out[key] = median(r[key] for r in runs)
    for mode in ("tokens", "text"):
        out[mode] = {k: median(r[mode][k] for r in runs) for k in runs[0][mode]}
        out[mode]["words_per_s_runs"] = [round(r[mode]["words_per_s"]) for r in runs]
    return out


def _ratio(r: dict, base: dict | None, mode: str, key: str) -> str:
    return f"{r[mode][key] / base[mode][key]:.2f}" if base else "-"


def table(results: list[dict], args: argparse.Namespace, cmd: str) -> str:
    hf = next((r for r in results if r["runtime"] == BASE), None)
    sp = next((r for r in results if r["runtime"] == SPACY), None)
    n = results[0]["sentences"]
    words = results[0]["words"]
    # One thread: per CPU-second (robust to other load); more: wall-clock, what users get.
    key, unit = (
        ("words_per_cpu_s", "words/CPU-s") if args.threads == 1 else ("words_per_s", "words/s")
    )
    rows = [
        "| runtime | tokens: words/s | x spaCy | x HF | tokens: words/CPU-s | x spaCy | x HF "
        f"| text: words/s | text: words/CPU-s | x spaCy ({unit}) | x HF ({unit}) "
        "| peak RSS MB | load s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rows.append(
            f"| {r['runtime']} | {r['tokens']['words_per_s']:,.0f} "
            f"| {_ratio(r, sp, 'tokens', 'words_per_s')} "
            f"| {_ratio(r, hf, 'tokens', 'words_per_s')} "
            f"| {r['tokens']['words_per_cpu_s']:,.0f} "
            f"| {_ratio(r, sp, 'tokens', 'words_per_cpu_s')} "
            f"| {_ratio(r, hf, 'tokens', 'words_per_cpu_s')} "
            f"| {r['text']['words_per_s']:,.0f} | {r['text']['words_per_cpu_s']:,.0f} "
            f"| {_ratio(r, sp, 'text', key)} "
            f"| {_ratio(r, hf, 'text', key)} "
            f"| {r['peak_rss_mb']:,.0f} | {r['load_s']:.1f} |"
        )
    subset = "the whole split" if not args.limit else f"the first {n:,} sentences"
    verdict = []
    i8 = next((r for r in results if r["runtime"] == "onnx-int8"), None)
    fp = next((r for r in results if r["runtime"] == "onnx-fp32"), None)
    if i8 and hf:
        rate = i8["text"][key]
        ratio = rate / hf["text"][key]
        line = (
            f"Issue 6 target ONNX int8 >= 4x the HF pipeline on the same model (text mode, "
            f"{unit}): **{'met' if ratio >= 4 else 'NOT met'}** against batch_size=1 "
            f"({ratio:.2f}x)"
        )
        for r in results:
            if r["runtime"].startswith("hf-pipeline") and r["runtime"] != BASE:
                line += f"; {rate / r['text'][key]:.1f}x against {r['runtime']}"
        line += "."
        for name in args.extra:
            r = next((r for r in results if r["runtime"] == name), None)
            if r:
                line += f" `{name}` (another model): {r['text'][key] / hf['text'][key]:.2f}x."
        if fp:
            line += (
                f" int8 runs {rate / fp['text'][key]:.1f}x ONNX fp32 on this CPU "
                "(AVX2, no AVX-512/VNNI int8 instructions)."
            )
        verdict = ["", line]
    reps = results[0].get("reps", 1)
    extra = "".join(
        f" Extra row `{name}`: the serkit model `{rel_dir(path)}`"
        f" (card runtime: {_card_runtime(path)})."
        for name, path in args.extra.items()
    )
    return "\n".join(
        [
            "## Inference speed: every system, ratios to spaCy (issues 6 and 8)"
            + ("" if args.section == "speed" else f" ({args.threads} threads per runtime)"),
            "",
            f"WikiSER test split ({subset}: {words:,} words). Transformer runtimes: model "
            f"`{args.model}` (torch, ONNX fp32/int8 exported from it, and the HF pipeline on it) "
            f"and the shipped default (`default-int8`); weak, crf and spacy: their W1 models "
            f"(`{rel_dir(args.bench_dir)}/<system>-W1`). Batch size {args.batch_size}, "
            f"{args.threads} thread(s) per runtime, each runtime in its own process; {reps} "
            f"rounds run interleaved (every runtime once per round) and each figure is the "
            f"median over the rounds. `hf-pipeline-bN` is the HF pipeline with batch_size=N; "
            f"`x HF` is the ratio to N = 1 (its default, and its fastest here: batches pad), "
            f"`x spaCy` the ratio to spaCy in the same mode.{extra} {today()}, {machine()}.",
            "",
            "*tokens* = tagging from raw tokens: the corpus tokens as pre-tokenised input "
            "(serkit `predict_words`; HF `is_split_into_words=True`; spaCy `Doc(vocab, "
            "words=...)` through `nlp.pipe`). *text* = end to end from raw text (each sentence "
            "detokenised to a string; serkit splits, tokenises, encodes, decodes to "
            "character-offset entities; the HF pipeline and spaCy, with its own tokenizer, get "
            "the same strings). Peak RSS covers load + both modes. Before timing, weak, crf "
            "and spacy tag all the texts once untimed (their per-word caches and vocab fill "
            "up, as in any long run); transformer runtimes and the HF pipeline warm up on 8 "
            "texts (no per-word caches).",
            "",
            f"1-minute load average at the start / end of the run: {args.load[0]:.2f} / "
            f"{args.load[1]:.2f} on {os.cpu_count()} cores "
            + (
                "(each runtime uses one thread: more than about 1 means other jobs shared the "
                "CPU). Words per CPU-second (process CPU time) is what an idle core delivers "
                "with one thread; the ratios within this run are what count."
                if args.threads == 1
                else f"(each runtime may use {args.threads} threads). Words/s is wall-clock "
                "throughput, what a user of the whole machine gets; words/CPU-s drops when a "
                "runtime spreads work over threads that wait on each other. The ratios within "
                "this run are what count."
            ),
            "",
            *rows,
            *verdict,
            "",
            f"Command: `{cmd}`",
        ]
    )


def _card_runtime(path: str) -> str:
    from serkit.models.folder import read_card

    try:
        return str(read_card(Path(path)).get("runtime", "torch"))
    except Exception:  # a bench caption must not fail on an odd card
        return "unknown"


def rel_dir(p: str) -> str:
    try:
        return str(Path(p).resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="serkit transformer model directory")
    ap.add_argument(
        "--onnx-dir",
        help="folder with model.onnx and model.int8.onnx "
        "(exported there when missing; default: a temporary folder)",
    )
    ap.add_argument(
        "--bench-dir",
        default=str(ROOT / "runs" / "bench"),
        help="where bench/quality.py keeps the weak/crf/spacy W1 models",
    )
    ap.add_argument("--limit", type=int, default=2000, help="first N sentences (0 = all)")
    ap.add_argument("--reps", type=int, default=3, help="interleaved rounds (median)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runtimes", default=",".join(RUNTIMES))
    ap.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="also time this saved serkit model under NAME (repeatable)",
    )
    ap.add_argument(
        "--section",
        default="speed",
        help="RESULTS.md section to write (another name keeps the main table, e.g. for a "
        "--threads 2 run)",
    )
    ap.add_argument("--no-write", action="store_true", help="print, do not update RESULTS.md")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    pairs = [e.partition("=") for e in args.extra]
    if any(not name or not sep or not path for name, sep, path in pairs):
        ap.error("--extra takes NAME=DIR")
    args.extra = {name: path for name, _, path in pairs}
    if args.worker:
        print(json.dumps(worker(args)))
        return
    cmd = command()
    runtimes = args.runtimes.split(",") + [n for n in args.extra if n not in RUNTIMES]
    unknown = set(runtimes) - set(RUNTIMES) - set(args.extra)
    if unknown:
        ap.error(f"unknown runtime(s) {sorted(unknown)}; known: {', '.join(RUNTIMES)}")
    missing = [rt for rt in runtimes if rt in BENCH_SYSTEMS
               and not (Path(args.bench_dir) / f"{rt}-W1").is_dir()]  # fmt: skip
    if missing:
        print(f"skipping {missing}: no W1 model in {args.bench_dir} "
              "(run bench/quality.py first)", file=sys.stderr)  # fmt: skip
        runtimes = [rt for rt in runtimes if rt not in missing]
    from serkit.models.folder import ONNX_INT8

    with tempfile.TemporaryDirectory() as tmp:
        need_onnx = any(rt.startswith("onnx") for rt in runtimes)
        if args.onnx_dir is None and need_onnx:
            args.onnx_dir = str(Path(tmp) / "onnx")
        if need_onnx and not (Path(args.onnx_dir) / ONNX_INT8).is_file():
            print(f"exporting {args.model} to ONNX fp32 + int8 in {args.onnx_dir} ...",
                  file=sys.stderr)  # fmt: skip
            export(args.model, Path(args.onnx_dir))
        runs: dict[str, list[dict]] = {rt: [] for rt in runtimes}
        env = worker_env(args.threads)
        t0 = time.perf_counter()
        load_start = os.getloadavg()[0]
        for rep in range(args.reps):
            for i, rt in enumerate(runtimes, 1):
                stamp = time.strftime("%H:%M:%S")
                print(f"[{stamp}] round {rep + 1}/{args.reps}, runtime {i}/{len(runtimes)}: "
                      f"{rt} ...", file=sys.stderr, flush=True)  # fmt: skip
                res = run_worker(
                    [sys.executable, __file__, "--worker", rt, "--model", args.model,
                     "--onnx-dir", str(args.onnx_dir), "--limit", str(args.limit),
                     "--batch-size", str(args.batch_size), "--threads", str(args.threads),
                     "--bench-dir", args.bench_dir,
                     *(a for n, d in args.extra.items() for a in ("--extra", f"{n}={d}"))],
                    env=env,
                )  # fmt: skip
                print(f"  tokens {res['tokens']['words_per_s']:,.0f} words/s, text "
                      f"{res['text']['words_per_s']:,.0f} words/s, peak RSS "
                      f"{res['peak_rss_mb']:,.0f} MB", file=sys.stderr, flush=True)  # fmt: skip
                runs[rt].append(res)
        print(f"all rounds in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        args.load = (load_start, os.getloadavg()[0])
    results = [median_result(runs[rt]) for rt in runtimes]
    md = table(results, args, cmd)
    print(md)
    if not args.no_write:
        from systems import write_json

        if args.section == "speed":  # the figures read the main run only
            write_json(SPEED_ROWS, {"command": cmd, "model": args.model, "limit": args.limit,
                                    "reps": args.reps, "machine": machine(), "date": today(),
                                    "results": results})  # fmt: skip
        update_section(args.section, md)


if __name__ == "__main__":
    from _results import main_guard

    main_guard(main)
