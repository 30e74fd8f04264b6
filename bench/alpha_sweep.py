"""Self-regularization alpha sweep on the W1 validation slice (never the test split).

Short runs of ``configs/w1-selfreg.toml`` with only ``alpha`` changed; each run's dev F1 is
its last evaluation on the validation slice. Usage::

    .venv/bin/python bench/alpha_sweep.py --alphas 1 5 10 --epochs 0.25
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _results import machine, today, update_section

ROOT = Path(__file__).resolve().parents[1]
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alphas", type=float, nargs="+", default=[1.0, 5.0, 10.0])
    ap.add_argument("--epochs", type=float, default=0.25)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "alpha-sweep")
    args = ap.parse_args()
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
    main()
