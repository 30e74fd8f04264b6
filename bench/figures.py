"""The benchmark figures, from the cached rows (no model runs):

* ``bench/figures/per_type_f1.png``: per-type test F1 of every system, grouped bars, one
  panel per protocol (``bench/quality_rows.json``);
* ``bench/figures/f1_vs_speed.png``: W1 test F1 against tagging words/s
  (``bench/speed_rows.json``, median of the interleaved runs, pre-tokenised input).

    python bench/figures.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "figures"
SYSTEMS = ("weak", "crf", "minilm-vanilla", "minilm-selfreg", "spacy")
ORDER = ("W1", "X1", "S1", "S2")
#: speed runtime -> the quality system whose W1 F1 it delivers
SPEED_SYSTEM = {"weak": "weak", "crf": "crf", "spacy": "spacy", "torch": "minilm-selfreg",
                "onnx-fp32": "minilm-selfreg", "onnx-int8": "minilm-selfreg"}  # fmt: skip


def _save(fig, name: str) -> Path:
    from serkit.files.atomic import atomic_write

    OUT.mkdir(exist_ok=True)
    path = OUT / name
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=72, bbox_inches="tight")
    return path


def per_type(rows: list[dict]):
    import matplotlib.pyplot as plt

    protos = [p for p in ORDER if any(r["protocol"] == p and r.get("per_type") for r in rows)]
    if not protos:
        return None
    fig, axes = plt.subplots(len(protos), 1, figsize=(11, 3.2 * len(protos)), squeeze=False)
    for ax, p in zip(axes[:, 0], protos, strict=True):
        have = {r["system"]: r for r in rows if r["protocol"] == p and r.get("per_type")}
        systems = [s for s in SYSTEMS if s in have]
        types = sorted({t for r in have.values() for t in r["per_type"]})
        width = 0.8 / len(systems)
        for i, s in enumerate(systems):
            pt = have[s]["per_type"]
            xs = [j + (i - (len(systems) - 1) / 2) * width for j in range(len(types))]
            ax.bar(xs, [pt[t]["f1"] if t in pt else 0 for t in types], width,
                   label=f"{s} ({have[s]['f1']:.3f})", color=f"C{SYSTEMS.index(s)}")  # fmt: skip
        ax.set_xticks(range(len(types)), [t.replace("_", " ") for t in types], fontsize=8,
                      rotation=20, ha="right")  # fmt: skip
        ax.set_ylim(0, 1)
        ax.set_ylabel("F1")
        ax.set_title(f"{p}: per-type test F1 (micro F1 in the legend)", fontsize=10)
        ax.legend(fontsize=7, ncol=len(systems), loc="upper right")
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, "per_type_f1.png")


def f1_vs_speed(rows: list[dict], speed: dict):
    import matplotlib.pyplot as plt

    f1 = {r["system"]: r["f1"] for r in rows if r["protocol"] == "W1"}
    pts = []
    for r in speed.get("results", []):
        sys_ = SPEED_SYSTEM.get(r["runtime"])
        if sys_ in f1:
            pts.append((r["tokens"]["words_per_s"], f1[sys_], f"{sys_} ({r['runtime']})"))
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    # Runtimes of one model share its F1: stack their labels so they stay readable.
    seen: dict[float, int] = {}
    for x, y, label in sorted(pts):
        nth = seen.get(y, 0)
        seen[y] = nth + 1
        ax.scatter([x], [y], s=30, color=f"C{SYSTEMS.index(label.split()[0])}")
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(5, 4 - 11 * nth),
                    fontsize=8)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("words/s, pre-tokenised WikiSER test (median, 1 thread)")
    ax.set_ylabel("W1 test F1 (strict)")
    ax.set_title("Quality against speed (W1)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return _save(fig, "f1_vs_speed.png")


def draw() -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    from _results import QUALITY_ROWS as rows_file
    from _results import SPEED_ROWS as speed_file

    rows = json.loads(rows_file.read_text()) if rows_file.exists() else []
    speed = json.loads(speed_file.read_text()) if speed_file.exists() else {}
    made = [p for p in (per_type(rows), f1_vs_speed(rows, speed)) if p]
    for p in made:
        kb = p.stat().st_size // 1024
        print(f"wrote {p.relative_to(HERE.parent)} ({kb} KB)", file=sys.stderr)
    return made


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:  # in the bench extra; one line, not a traceback
        raise SystemExit(f"figures.py: {e}; pip install -e '.[bench]'") from None
    draw()
