"""Self-regularization alpha sweep on the W1 validation slice (never the test split).

Short runs of ``configs/w1-selfreg.toml`` with only ``alpha`` changed; each run's dev F1 is
its last evaluation on the validation slice. Usage::

    .venv/bin/python bench/alpha_sweep.py --alphas 1 5 10 --epochs 0.25
    .venv/bin/python bench/alpha_sweep.py --full --alphas 1 5 10

``--full`` trains (or reuses) full-length runs, ``runs/w1-selfreg-a<alpha>`` (alpha 5 is the
config's own ``runs/w1-selfreg``), and scores each best checkpoint with the current decoder:
alpha is chosen on the validation slice; W1/X1 test F1 are reported for every alpha so the
noise between runs is visible, never used to choose.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _results import ROOT, machine, rel, today, update_section
from serkit.models.folder import CARD_NAME, read_card

SERKIT = [sys.executable, "-m", "serkit"]


def run(alpha: float, epochs: float, out: Path, threads: int) -> dict:
    cmd = [
        *SERKIT,
        "train",
        "--config",
        "configs/w1-selfreg.toml",
        "--alpha",
        str(alpha),
        "--epochs",
        str(epochs),
        "--eval-every",
        "0",
        "--threads",
        str(threads),
        "-o",
        str(out),
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    evals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    last = [e for e in evals if e.get("event") == "eval"][-1]
    return {"alpha": alpha, "dev_f1": last["dev"]["f1"], "step": last["step"], "wall_s": wall}


def full(alphas: list[float], threads: int) -> None:
    """Full-length runs, selected on the validation slice; see the module docstring."""
    from decoding import scores
    from serkit.models.transformer import TransformerTagger
    from serkit.training.config import load_config
    from systems import PROTOCOLS, test_sentences, train_dev

    base = load_config(ROOT / "configs/w1-selfreg.toml")
    w1, x1 = PROTOCOLS["W1"], PROTOCOLS["X1"]
    dev, test_w1, test_x1 = train_dev(w1)[1], test_sentences(w1), test_sentences(x1)
    rows = []
    for a in alphas:
        out = ROOT / (base.output if a == base.alpha else f"runs/w1-selfreg-a{a:g}")
        if not (out / CARD_NAME).is_file():
            cmd = [*SERKIT, "train", "--config", "configs/w1-selfreg.toml", "--alpha", str(a)]
            cmd += ["--threads", str(threads), "-o", str(out)]
            subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        card = read_card(out)
        tagger = TransformerTagger.load(out, threads=threads)
        rows.append(
            {
                "alpha": a,
                "model": rel(out),
                "step": card["dev"]["step"],
                "train_s": card["training"]["train_seconds"],
                "dev": scores(tagger, dev, None)["viterbi"],
                "w1": scores(tagger, test_w1, w1.eval_mapping)["viterbi"],
                "x1": scores(tagger, test_x1, x1.eval_mapping)["viterbi"],
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    best = max(rows, key=lambda r: r["dev"])
    ties = [f"{r['alpha']:g}" for r in rows if r is not best and best["dev"] - r["dev"] < 0.001]
    tie_note = "."
    if ties:
        tie_note = (
            f"; within 0.1 point of it (a tie at this data size): alpha = {', '.join(ties)}. "
            f"`configs/w1-selfreg.toml` keeps alpha = {base.alpha:g} unless another alpha "
            "wins clearly."
        )
    lines = [
        "## Self-regularization alpha sweep, full length (W1; chosen on the validation slice)",
        "",
        f"Command: `.venv/bin/python bench/alpha_sweep.py --full --alphas "
        f"{' '.join(f'{a:g}' for a in alphas)}` ({today()}, {machine()}). Each run is "
        f"`configs/w1-selfreg.toml` (k = 2, {base.epochs:g} epochs) with only alpha changed; "
        "the best checkpoint by validation F1 (as the trainer kept it) is scored with "
        "constrained Viterbi decoding. Test columns are reported for every alpha to show the "
        "spread between runs; the choice uses the validation column only.",
        "",
        "| alpha | model | best step | training (min, shared CPU) | validation F1 | W1 F1 "
        "| X1 F1 |",
        "|---:|---|---:|---:|---:|---:|---:|",
        *[
            f"| {r['alpha']:g} | `{r['model']}` | {r['step']} | {r['train_s'] / 60:.0f} | "
            f"{r['dev']:.4f} | {r['w1']:.4f} | {r['x1']:.4f} |"
            for r in rows
        ],
        "",
        f"Best on the validation slice: alpha = {best['alpha']:g}{tie_note}",
    ]
    update_section("alpha-sweep-full", "\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="full-length runs, see above")
    ap.add_argument("--alphas", type=float, nargs="+", default=[1.0, 5.0, 10.0])
    ap.add_argument("--epochs", type=float, default=0.25)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "alpha-sweep")
    args = ap.parse_args()
    if args.full:
        full(args.alphas, args.threads)
        return
    rows = []
    for a in args.alphas:
        rows.append(run(a, args.epochs, args.out / f"alpha-{a:g}", args.threads))
        print(json.dumps(rows[-1]), flush=True)
    best = max(rows, key=lambda r: r["dev_f1"])
    lines = [
        "## Self-regularization alpha sweep (W1 validation slice only)",
        "",
        f"Command: `.venv/bin/python bench/alpha_sweep.py --alphas "
        f"{' '.join(f'{a:g}' for a in args.alphas)} --epochs {args.epochs:g}` "
        f"({today()}, {machine()}). Each run is `configs/w1-selfreg.toml` (k = 2) with only "
        f"alpha and the length changed: {args.epochs:g} epoch, the same schedule otherwise; "
        "dev F1 = strict micro F1 on the validation slice at the last step.",
        "",
        "| alpha | dev F1 | steps | wall (s) |",
        "|---|---|---|---|",
        *[
            f"| {r['alpha']:g} | {r['dev_f1']:.4f} | {r['step']} | {r['wall_s']:.0f} |"
            for r in rows
        ],
        "",
        f"Best on the validation slice: alpha = {best['alpha']:g}. Short runs on a shared CPU: "
        "differences of a point or less are within run-to-run noise.",
    ]
    update_section("alpha-sweep", "\n".join(lines))


if __name__ == "__main__":
    from _results import main_guard

    main_guard(main)
