"""ONNX parity: do ONNX fp32 and int8 tag like torch on the WikiSER test split (W1)?

    .venv/bin/python bench/parity.py --model runs/<model> [--limit 0] [--threads 1]

Tags the WikiSER test sentences (pre-tokenised) with the torch model, its ONNX fp32
export and its ONNX int8 export, then reports word-level tag agreement with torch and the
strict entity F1 of each against the gold tags. Targets (issue 6): fp32 agrees with torch
on >= 99.5% of words; int8 loses <= 0.5 F1 points. Writes the ``onnx-parity`` section
of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _results import command, machine, today, update_section, wikiser_test


def tag_all(tagger, sents: list[list[str]], batch_size: int) -> tuple[list[list[str]], float]:
    t = time.perf_counter()
    out: list[list[str]] = []
    for lo in range(0, len(sents), batch_size):
        out.extend(tags for tags, _ in tagger.predict_words(sents[lo : lo + batch_size]))
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="serkit transformer model directory")
    ap.add_argument("--onnx-dir", help="folder with model.onnx and model.int8.onnx")
    ap.add_argument("--limit", type=int, default=0, help="first N sentences (0 = all)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    cmd = command()

    import serkit
    from serkit.evaluate import evaluate

    gold_sents = wikiser_test(args.limit)
    sents = [list(s.tokens) for s in gold_sents]
    gold = [list(s.tags) for s in gold_sents]
    n_words = sum(map(len, sents))

    with tempfile.TemporaryDirectory() as tmp:
        onnx_dir = args.onnx_dir
        if onnx_dir is None:
            from serkit.models.export_onnx import export_onnx

            onnx_dir = str(Path(tmp) / "onnx")
            print("exporting ...", file=sys.stderr)
            export_onnx(args.model, onnx_dir, quantize="int8", keep_fp32=True)
        runs = {}
        for name, path, prefer in (
            ("torch fp32", args.model, "torch"),
            ("ONNX fp32", onnx_dir, "onnx-fp32"),
            ("ONNX int8", onnx_dir, "onnx-int8"),
        ):
            print(f"tagging with {name} ...", file=sys.stderr)
            tagger = serkit.load(path, prefer=prefer, threads=args.threads)
            runs[name] = tag_all(tagger, sents, args.batch_size)
            decoding = tagger.decoding
            del tagger

    ref = runs["torch fp32"][0]
    rows = [
        "| runtime | words agreeing with torch | W1 strict F1 | delta F1 (points) | seconds |",
        "|---|---:|---:|---:|---:|",
    ]
    f1_ref = evaluate(gold, ref).f1
    results = {}
    for name, (pred, secs) in runs.items():
        agree = sum(
            a == b for p, r in zip(pred, ref, strict=True) for a, b in zip(p, r, strict=True)
        )
        f1 = evaluate(gold, pred).f1
        results[name] = (agree / n_words, f1)
        rows.append(
            f"| {name} | {agree / n_words:.4%} ({agree:,}/{n_words:,}) | {f1:.4f} | "
            f"{100 * (f1 - f1_ref):+.2f} | {secs:.0f} |"
        )
    fp32_ok = results["ONNX fp32"][0] >= 0.995
    int8_ok = 100 * (f1_ref - results["ONNX int8"][1]) <= 0.5
    subset = "all" if not args.limit else f"the first {len(sents):,}"
    md = "\n".join(
        [
            "## ONNX parity (issue 6)",
            "",
            f"WikiSER test split ({subset} sentences, {n_words:,} words, pre-tokenised), model "
            f"`{args.model}`, {args.threads} thread(s), {decoding} decoding. "
            f"{today()}, {machine()}.",
            "",
            *rows,
            "",
            f"Targets: ONNX fp32 agrees with torch on >= 99.5% of words: "
            f"**{'met' if fp32_ok else 'NOT met'}**; ONNX int8 loses <= 0.5 F1 points: "
            f"**{'met' if int8_ok else 'NOT met'}**.",
            "",
            f"Command: `{cmd}`",
        ]
    )
    print(md)
    if not args.no_write:
        update_section("onnx-parity", md)


if __name__ == "__main__":
    from _results import main_guard

    main_guard(main)
