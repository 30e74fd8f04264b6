"""Throughput and peak memory of the four ways to run one transformer tagger.

    .venv/bin/python bench/speed.py --model runs/<model> [--limit 2000] [--threads 1]

Runs torch fp32 (serkit), ONNX fp32, ONNX int8 (serkit) and the Hugging Face
``pipeline("token-classification", aggregation_strategy="first")`` on the same model,
each in its own subprocess (clean peak RSS), over the first ``--limit`` sentences of the
WikiSER test split, in two modes:

* **text**: end to end from raw text (each sentence detokenised to a string): sentence
  split, tokenise, encode, run, decode to character-offset entities. The HF pipeline
  gets the same strings.
* **tokens**: the corpus tokens as pre-tokenised input (``predict_words`` /
  ``is_split_into_words=True``).

Words/s counts the corpus tokens of the sentences tagged. ONNX graphs are exported
to a temporary folder unless ``--onnx-dir`` points at an earlier export (holding
``model.onnx`` and ``model.int8.onnx``). Writes the ``speed`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "wikiser-small" / "test.txt"
#: ``hf-pipeline-bN``: the HF pipeline with ``batch_size=N`` (the ratios use N = 1).
RUNTIMES = ("hf-pipeline-b1", "hf-pipeline-b32", "torch", "onnx-fp32", "onnx-int8")
BASE = "hf-pipeline-b1"


def load_sentences(limit: int | None) -> list[list[str]]:
    from serkit.io import read

    out = []
    for s in read(DATA, "wikiser"):
        out.append(list(s.tokens))
        if limit and len(out) >= limit:
            break
    return out


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


def worker(args: argparse.Namespace) -> dict:
    """One runtime in this process: load, warm up, time both modes; JSON on stdout."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from serkit.tokenize import detokenize

    sents = load_sentences(args.limit)
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
    else:
        import serkit

        model = args.onnx_dir if args.worker.startswith("onnx") else args.model
        prefer = args.worker if args.worker.startswith("onnx") else "torch"
        if args.worker == "torch":
            import torch

            torch.set_num_threads(args.threads)
        tagger = serkit.load(model, prefer=prefer, threads=args.threads)

        def run_text() -> int:
            return sum(len(e) for e in tagger.pipe(texts, batch_size=args.batch_size))

        def run_tokens() -> int:
            # Same pooling as pipe(): sort a pool of sentences by length, batch, restore order.
            from serkit.decode import entities_from_tags  # noqa: F401  (import cost outside)

            n = 0
            pool = 4 * args.batch_size
            for lo in range(0, len(sents), pool):
                part = sents[lo : lo + pool]
                order = sorted(range(len(part)), key=lambda i: len(part[i]))
                for b in range(0, len(order), args.batch_size):
                    batch = [part[i] for i in order[b : b + args.batch_size]]
                    for tags, _ in tagger.predict_words(batch):
                        n += sum(t.startswith("B-") for t in tags)
            return n

        def warm() -> None:
            list(tagger.pipe(texts[:8], batch_size=args.batch_size))
    load_s = time.perf_counter() - t0
    rss_loaded = peak_rss_mb()
    warm()
    res = {"runtime": args.worker, "words": words, "sentences": len(sents), "load_s": load_s,
           "rss_loaded_mb": rss_loaded, "rss_data_mb": rss_data}
    for mode, fn in (("tokens", run_tokens), ("text", run_text)):
        t, c = time.perf_counter(), time.process_time()
        n_ents = fn()
        dt, dc = time.perf_counter() - t, time.process_time() - c
        res[mode] = {"seconds": dt, "cpu_seconds": dc, "words_per_s": words / dt,
                     "words_per_cpu_s": words / dc, "entities": n_ents}
    res["peak_rss_mb"] = peak_rss_mb()
    return res


def export(model: str, out: Path) -> None:
    from serkit.models.export_onnx import export_onnx

    export_onnx(model, out, quantize="int8", keep_fp32=True)


def table(results: list[dict], args: argparse.Namespace, cmd: str) -> str:
    from _results import machine, today

    hf = next((r for r in results if r["runtime"] == BASE), None)
    base = {m: hf[m]["words_per_cpu_s"] if hf else float("nan") for m in ("text", "tokens")}
    n = results[0]["sentences"]
    words = results[0]["words"]
    rows = [
        "| runtime | text: words/CPU-s | x HF | tokens: words/CPU-s | x HF "
        "| text: words/s wall | peak RSS MB | load s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rows.append(
            f"| {r['runtime']} | {r['text']['words_per_cpu_s']:,.0f} | "
            f"{r['text']['words_per_cpu_s'] / base['text']:.2f} | "
            f"{r['tokens']['words_per_cpu_s']:,.0f} | "
            f"{r['tokens']['words_per_cpu_s'] / base['tokens']:.2f} | "
            f"{r['text']['words_per_s']:,.0f} | {r['peak_rss_mb']:,.0f} | {r['load_s']:.1f} |"
        )
    subset = "the whole split" if not args.limit else f"the first {n:,} sentences"
    verdict = []
    i8 = next((r for r in results if r["runtime"] == "onnx-int8"), None)
    fp = next((r for r in results if r["runtime"] == "onnx-fp32"), None)
    if i8 and hf:
        rate = i8["text"]["words_per_cpu_s"]
        ratio = rate / base["text"]
        line = (
            f"Target ONNX int8 >= 4x the HF pipeline (text mode): "
            f"**{'met' if ratio >= 4 else 'NOT met'}** against batch_size=1 ({ratio:.2f}x)"
        )
        for r in results:
            if r["runtime"].startswith("hf-pipeline") and r["runtime"] != BASE:
                line += f"; {rate / r['text']['words_per_cpu_s']:.1f}x against {r['runtime']}"
        line += "."
        if fp:
            line += (
                f" int8 runs {rate / fp['text']['words_per_cpu_s']:.1f}x ONNX fp32 on this CPU "
                "(AVX2, no AVX-512/VNNI int8 instructions)."
            )
        verdict = ["", line]
    return "\n".join([
        "## Inference speed (issue 6)",
        "",
        f"WikiSER test split ({subset}: {words:,} words), model `{args.model}`, "
        f"serkit batch size {args.batch_size}, {args.threads} thread(s) per runtime, each "
        f"runtime in its own process. `hf-pipeline-bN` is the HF pipeline with batch_size=N; "
        f"ratios are to N = 1 (its default, and its fastest here: batches pad). "
        f"{today()}, {machine()}.",
        "",
        "Words per CPU-second (process CPU time) is the headline because this machine was "
        "shared with training jobs while measuring (load average above its 2 cores), which "
        "makes wall-clock rates noisy; with one thread per runtime it is what an idle core "
        "delivers. The wall-clock rate is shown for the text mode.",
        "",
        "*text* = end to end from raw text (each sentence detokenised to a string; serkit "
        "splits, tokenises, encodes, decodes to character-offset entities; the HF pipeline "
        "gets the same strings). *tokens* = the corpus tokens as pre-tokenised input "
        "(`predict_words`; HF `is_split_into_words=True`). Peak RSS covers load + both modes.",
        "",
        *rows,
        *verdict,
        "",
        f"Command: `{cmd}`",
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="serkit transformer model directory")
    ap.add_argument("--onnx-dir", help="folder with model.onnx and model.int8.onnx")
    ap.add_argument("--limit", type=int, default=2000, help="first N sentences (0 = all)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runtimes", default=",".join(RUNTIMES))
    ap.add_argument("--no-write", action="store_true", help="print, do not update RESULTS.md")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    cmd = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    with tempfile.TemporaryDirectory() as tmp:
        if args.onnx_dir is None:
            args.onnx_dir = str(Path(tmp) / "onnx")
            print(f"exporting {args.model} to ONNX fp32 + int8 ...", file=sys.stderr)
            export(args.model, Path(args.onnx_dir))
        results = []
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), HF_HUB_OFFLINE="1",
                   TOKENIZERS_PARALLELISM="false")
        for rt in args.runtimes.split(","):
            print(f"running {rt} ...", file=sys.stderr)
            out = subprocess.run(
                [sys.executable, __file__, "--worker", rt, "--model", args.model,
                 "--onnx-dir", args.onnx_dir, "--limit", str(args.limit),
                 "--batch-size", str(args.batch_size), "--threads", str(args.threads)],
                check=True, stdout=subprocess.PIPE, env=env, text=True,
            )
            res = json.loads(out.stdout.strip().splitlines()[-1])
            print(json.dumps(res), file=sys.stderr)
            results.append(res)
    md = table(results, args, cmd)
    print(md)
    if not args.no_write:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _results import update_section

        update_section("speed", md)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
