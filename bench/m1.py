"""Protocol M1: one model, three test sets, each in its own label set and convention.

    python bench/m1.py --model multihead=runs/m1-multihead --model default=DEFAULT ...

Each model is scored (strict IOB2 micro P/R/F1, serkit.evaluate) on
  * WikiSER test in WikiSER's 12 types           (scheme ``wikiser``),
  * SoftNER-9 test in SoftNER-9's 9 types          (scheme ``softner-9``),
  * S-NER test in S-NER's 5 types                  (scheme ``sner``),
  * SoftNER-9 test in the shipped default convention: scheme ``developer`` (12 types)
    projected to the 9 (``--map wikiser:softner-9``).
A one-head WikiSER model (the old default) answers the other label sets through the
declared projections (serkit.corpora), which is X1 on SoftNER-9. Rows go to the
``m1`` section of bench/RESULTS.md; per-type F1 to bench/out/m1.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import serkit
from _results import machine, today, update_section
from serkit.architectures import check_runtime
from serkit.errors import SerkitError
from serkit.evaluate import predict_sentences, score_sentences
from serkit.training.data import read_labelled

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TESTS = {
    "WikiSER": ("wikiser-small/test.txt", "wikiser", None),
    "SoftNER-9": ("softner-9/test.txt", "softner-9", None),
    "S-NER": ("sner/test.txt", "sner", None),
    "SoftNER-9 (developer)": ("softner-9/test.txt", "developer", "wikiser:softner-9"),
}
OUT = Path(__file__).resolve().parent / "out" / "m1.json"


def default_runtime(model: str) -> str:
    """``torch`` for a folder with torch weights (a transformer scored on its own weights,
    not on an ONNX graph beside them); ``auto`` for any other model (a CRF runs as ``crf``,
    an ONNX-only folder such as the shipped default on its best graph)."""
    from serkit.models.registry import has_torch_weights

    return "torch" if model != "DEFAULT" and has_torch_weights(Path(model)) else "auto"


def score(model: str, runtime: str, only: list[str]) -> tuple[str, dict[str, dict]]:
    """(the runtime the model ran on, its rows)."""
    rows: dict[str, dict] = {}
    ran = runtime
    for name, (rel, scheme, mapping) in TESTS.items():
        if only and name not in only:
            continue
        path = None if model == "DEFAULT" else model
        try:
            tagger = serkit.load(path, scheme=scheme, prefer=runtime)
        except SerkitError as e:
            if scheme != "developer":
                raise
            # A one-head WikiSER model has one convention: its own.
            print(f"  {name}: {e}; using its own labels", file=sys.stderr)
            tagger = serkit.load(path, prefer=runtime)
        ran = tagger.runtime
        gold = read_labelled(str(DATA / rel))
        t0 = time.perf_counter()
        pred = predict_sentences(tagger, gold, progress=False)
        secs = time.perf_counter() - t0
        report = score_sentences(gold, pred, mapping=mapping)
        strict = report.scores["strict"]
        m = strict.micro
        rows[name] = {
            "precision": m.precision, "recall": m.recall, "f1": m.f1, "seconds": round(secs, 1),
            "per_type": {t: s.f1 for t, s in strict.per_type.items()},
        }  # fmt: skip
        print(f"  {name}: P {m.precision:.4f} R {m.recall:.4f} F1 {m.f1:.4f} ({secs:.0f} s)",
              file=sys.stderr)  # fmt: skip
    return ran, rows


def _command(note: str) -> str:
    """This run's arguments, the note (printed under the table) shortened to a mark."""
    argv = ["'<the note below>'" if a == note and note else a for a in sys.argv[1:]]
    return " ".join(argv)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", required=True, metavar="NAME=DIR",
                    help="a row: NAME=DIR (DIR = DEFAULT for the shipped model)")  # fmt: skip
    ap.add_argument(
        "--runtime",
        help="any serkit runtime (default: torch for a folder with "
        "torch weights, else auto: a CRF runs as crf, the shipped default on ONNX)",
    )
    ap.add_argument("--only", nargs="*", default=[], help="test sets to run (default all)")
    ap.add_argument("--note", default="", help="a sentence added under the table")
    args = ap.parse_args()
    t0 = time.perf_counter()
    scored = {}
    if args.runtime is not None:
        try:
            check_runtime(args.runtime)
        except SerkitError as e:
            ap.error(str(e))
    for spec in args.model:
        name, sep, model = spec.partition("=")
        if not (name and sep and model):
            ap.error(f"--model takes NAME=DIR, not {spec!r}")
        runtime = args.runtime or default_runtime(model)
        print(f"{name} ({model}, {runtime})", file=sys.stderr)
        scored[name] = (model, *score(model, runtime, args.only))
    # Read the rows only now: another run may have added some while this one scored.
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    for name, (model, runtime, tests) in scored.items():
        results[name] = {"model": model, "runtime": runtime, "date": today(),
                         "tests": {**results.get(name, {}).get("tests", {}), **tests}}  # fmt: skip
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    wall = time.perf_counter() - t0
    head = "| model | runtime | " + " | ".join(f"{t} P | {t} R | {t} F1" for t in TESTS) + \
        " | mean of the 3 F1 |"  # fmt: skip
    lines = [head, "|---|---|" + "---:|" * (3 * len(TESTS) + 1)]
    for name, r in results.items():
        cells = []
        for t in TESTS:
            x = r["tests"].get(t)
            cells += ["-"] * 3 if x is None else [f"{x['precision']:.3f}", f"{x['recall']:.3f}",
                                                   f"**{x['f1']:.4f}**"]  # fmt: skip
        three = [r["tests"].get(t) for t in ("WikiSER", "SoftNER-9", "S-NER")]
        mean = f"{sum(x['f1'] for x in three) / 3:.4f}" if all(three) else "-"
        lines.append(f"| {name} (`{r['model']}`) | {r['runtime']} | " + " | ".join(cells)
                     + f" | {mean} |")  # fmt: skip
    md = "\n".join(
        [
            "## M1: one model for developer text, three test sets (issue 20)",
            "",
            f"Command: `python bench/m1.py {_command(args.note)}` ({today()}, {machine()}, "
            f"wall {wall / 60:.1f} min for the rows this run scored; each row keeps the date it "
            "was scored in bench/out/m1.json).",
            "",
            "Strict IOB2 micro P/R/F1 (serkit.evaluate) on each test split in its own label set "
            "and convention: WikiSER test (12 types, scheme `wikiser`), SoftNER-9 test (9 types, "
            "`softner-9`), S-NER test (5 types, `sner`); and SoftNER-9 test in the shipped "
            "default convention (`developer`, 12 types, projected to the 9 with "
            "`wikiser:softner-9`). Models were selected on validation data only (the mean F1 "
            "of the three M1 validation sets: the WikiSER slice, softner-9/dev, the last 10% of "
            "sner/train). A one-head WikiSER model (the old default) answers SoftNER-9 and "
            "S-NER through the declared projections (`serkit.corpora`): on SoftNER-9 that is X1.",
            "",
            *lines,
            "",
            args.note,
        ]
    )
    update_section("m1", md)
    print(f"wrote the m1 section of {Path(__file__).parent / 'RESULTS.md'}", file=sys.stderr)


if __name__ == "__main__":
    from _results import main_guard

    main_guard(main)
