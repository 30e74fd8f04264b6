"""Smaller, faster W1 models: layer-dropped students, with and without distillation.

    .venv/bin/python bench/students.py                  # l3 and l3kd against the teacher
    .venv/bin/python bench/students.py --variants l2 l2kd l3 l3kd --reps 3

A student is ``configs/w1-selfreg.toml`` with ``--num-layers N`` (the backbone's first N
of its 6 layers) and, for ``lNkd``, ``--teacher`` the config's own 6-layer model
(``runs/w1-selfreg``, trained first when missing). Missing students are trained into
``runs/w1-selfreg-lN[kd]`` and exported to ONNX int8 in ``<dir>-onnx``. Every model is
scored with constrained Viterbi on the W1 validation slice (what a choice may look at), W1
and X1 test (reported, never used to choose), by torch and by its int8 graph. Speed: the
``bench/speed.py`` worker in fresh processes, one thread, the first ``--limit`` WikiSER
test sentences from text, runtimes interleaved over ``--reps`` rounds, medians; the HF
pipeline (batch 1) runs on the 6-layer model and on each student's torch model, so the
same-model ratio (the issue 6 metric) and the ratio to the 6-layer pipeline are both shown.
Writes the ``students`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

from _results import ROOT, machine, rel, run_worker, today, update_section, worker_env
from serkit.models.folder import CARD_NAME, ONNX_INT8, read_card

CONFIG = "configs/w1-selfreg.toml"
SERKIT = [sys.executable, "-m", "serkit"]


def _variant(name: str) -> tuple[int, bool]:
    m = re.fullmatch(r"l(\d+)(kd)?", name)
    if not m:
        raise SystemExit(f"bad variant {name!r}: use lN or lNkd (N layers, kd = distilled)")
    return int(m.group(1)), bool(m.group(2))


def ensure_trained(out: Path, extra: list[str], threads: int) -> None:
    if (out / CARD_NAME).is_file():
        return
    cmd = [*SERKIT, "train", "--config", CONFIG, *extra, "--threads", str(threads)]
    cmd += ["-o", str(out), "--no-progress"]
    print("training:", " ".join(cmd[2:]), file=sys.stderr, flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def ensure_int8(model: Path) -> Path:
    onnx = model.parent / f"{model.name}-onnx"
    if not (onnx / ONNX_INT8).is_file():
        from serkit.models.export_onnx import export_onnx

        export_onnx(model, onnx, quantize="int8")
    return onnx


def quality(model: Path, onnx: Path, threads: int) -> dict[str, float]:
    from decoding import scores
    from serkit.models.onnx import OnnxTagger
    from serkit.models.transformer import TransformerTagger
    from systems import PROTOCOLS, test_sentences, train_dev

    w1, x1 = PROTOCOLS["W1"], PROTOCOLS["X1"]
    dev, t_w1, t_x1 = train_dev(w1)[1], test_sentences(w1), test_sentences(x1)
    out = {}
    for runtime, tagger in (
        ("torch", TransformerTagger.load(model, threads=threads)),
        ("int8", OnnxTagger(onnx, threads=threads)),
    ):
        out[f"val_{runtime}"] = scores(tagger, dev, None)["viterbi"]
        out[f"w1_{runtime}"] = scores(tagger, t_w1, w1.eval_mapping)["viterbi"]
        out[f"x1_{runtime}"] = scores(tagger, t_x1, x1.eval_mapping)["viterbi"]
    return out


def time_runs(jobs: dict[str, tuple[str, Path]], limit: int, reps: int) -> dict[str, float]:
    """Median text-mode words per CPU-second of each (worker, model dir), interleaved."""
    env = worker_env(1)
    got: dict[str, list[float]] = {name: [] for name in jobs}
    for rep in range(reps):
        for name, (worker, model) in jobs.items():
            cmd = [sys.executable, str(ROOT / "bench" / "speed.py"), "--worker", worker,
                   "--model", str(model), "--limit", str(limit), "--threads", "1"]  # fmt: skip
            if not worker.startswith("hf-pipeline"):
                cmd += ["--extra", f"{worker}={model}"]
            rate = run_worker(cmd, env=env)["text"]["words_per_cpu_s"]
            got[name].append(rate)
            print(f"round {rep + 1}: {name} {rate:,.0f} words/CPU-s", file=sys.stderr, flush=True)
    return {name: median(v) for name, v in got.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=["l3", "l3kd"])
    ap.add_argument("--threads", type=int, default=2, help="threads for training and scoring")
    ap.add_argument("--limit", type=int, default=1000, help="sentences timed per runtime")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    t0 = time.perf_counter()
    from serkit.training.config import load_config

    base = load_config(ROOT / CONFIG)
    teacher = ROOT / base.output
    ensure_trained(teacher, [], args.threads)
    rows = [{"name": "l6 (teacher)", "layers": 6, "kd": False, "model": teacher}]
    for v in args.variants:
        layers, kd = _variant(v)
        out = ROOT / f"{base.output}-{v}"
        extra = ["--num-layers", str(layers)] + (["--teacher", str(teacher)] if kd else [])
        ensure_trained(out, extra, args.threads)
        rows.append({"name": v, "layers": layers, "kd": kd, "model": out})
    jobs: dict[str, tuple[str, Path]] = {}
    for r in rows:
        r["onnx"] = ensure_int8(r["model"])
        r["size_mb"] = (r["onnx"] / ONNX_INT8).stat().st_size / 1e6
        card = read_card(r["model"])
        r["train_min"] = card["training"]["train_seconds"] / 60
        r.update(quality(r["model"], r["onnx"], args.threads))
        print(json.dumps({k: str(v) for k, v in r.items()}), file=sys.stderr, flush=True)
        jobs[f"hf:{r['name']}"] = ("hf-pipeline-b1", r["model"])
        jobs[f"int8:{r['name']}"] = (f"int8-{r['name'].split()[0]}", r["onnx"])
    speed = time_runs(jobs, args.limit, args.reps)
    hf6 = speed[f"hf:{rows[0]['name']}"]
    wall = time.perf_counter() - t0
    lines = [
        "## Smaller students: layer-dropped and distilled W1 models (issue 6)",
        "",
        f"Command: `.venv/bin/python bench/students.py --variants {' '.join(args.variants)}` "
        f"({today()}, {machine()}, wall {wall / 60:.0f} min including any training). "
        f"Students: `{CONFIG}` with `--num-layers N` (the first N of MiniLM's 6 layers); "
        f"`kd` adds `--teacher {rel(teacher)}` (knowledge distillation, weight "
        f"{base.distill:g}, temperature {base.distill_temperature:g}). Strict micro F1 with "
        "constrained Viterbi; validation = the W1 slice (the only column a choice may use); "
        "torch and the int8 ONNX export of the same weights. Speed: text mode, one thread, "
        f"words per CPU-second over the first {args.limit:,} WikiSER test sentences, median "
        f"of {args.reps} interleaved rounds, each runtime in a fresh process (`bench/speed.py` "
        "workers). *x HF same model* = int8 against the HF pipeline (batch 1) on that row's "
        "own torch model (the issue 6 metric); *x HF 6-layer* = against the HF pipeline on "
        "the 6-layer teacher (what a user switching models gains).",
        "",
        "| model | layers | val F1 (torch / int8) | W1 F1 (torch / int8) | X1 F1 (torch / int8) "
        "| int8 MB | training min (to the kept checkpoint) | HF pipeline words/CPU-s "
        "| int8 words/CPU-s | x HF same model | x HF 6-layer |",
        "|---|---:|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        hf = speed[f"hf:{r['name']}"]
        i8 = speed[f"int8:{r['name']}"]
        lines.append(
            f"| `{rel(r['model'])}` | {r['layers']} | {r['val_torch']:.4f} / {r['val_int8']:.4f} "
            f"| {r['w1_torch']:.4f} / {r['w1_int8']:.4f} "
            f"| {r['x1_torch']:.4f} / {r['x1_int8']:.4f} | {r['size_mb']:.1f} "
            f"| {r['train_min']:.0f} | {hf:,.0f} | {i8:,.0f} | {i8 / hf:.2f} | {i8 / hf6:.2f} |"
        )
    best = max(rows, key=lambda r: r["val_torch"])
    same = max(speed[f"int8:{r['name']}"] / speed[f"hf:{r['name']}"] for r in rows)
    lines += [
        "",
        f"Best on the validation slice: `{rel(best['model'])}`. Issue 6's target, int8 >= 4x "
        f"the HF pipeline on the same model, is met by no row (best {same:.2f}x). Training "
        "minutes are each card's own (thread count and machine load differ between runs).",
    ]
    update_section("students", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    from _results import main_guard

    main_guard(main)
