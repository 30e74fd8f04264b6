"""The W1 CRF trained on WikiSER dev as given and as fixed by `serkit audit --fix` (issue 17).

    OMP_NUM_THREADS=1 .venv/bin/python bench/audit_w1.py [--min-score 0.9] [--reuse] [--no-write]
    .venv/bin/python bench/audit_w1.py --render   # the block again from bench/out/audit_w1.json

Steps, each a serkit command (printed, timed):

1. ``serkit audit dev.txt -o runs/audit-wikiser-fix --cache runs/audit-wikiser.npz --fix
   --min-score S`` under nice 19. The cache holds the 5-fold cross-fitted CRF
   probabilities, so this takes seconds; without it the audit cross-fits (about 5 min)
   and saves them there. The fixed copy is then checked against the input: every line
   not in ``changes.jsonl`` must be byte-identical, every logged line must read as logged.
   Control: the same on dev's 90% training sentences alone (dev split byte for byte
   into ``runs/audit-wikiser-split/{train,val}.txt``; cache
   ``runs/audit-wikiser-train90.npz``), a fix chosen without reading the validation slice.
2. The W1 CRF with the command of its RESULTS row, ``serkit train --arch crf --train FILE
   --val-slice --protocol W1 -o DIR``, one after the other: on dev.txt as given
   (``runs/audit-crf-w1-orig``), on the fixed copy (``runs/audit-crf-w1-fixed``), and on
   the control's fixed 90% with ``--dev runs/audit-wikiser-split/val.txt``
   (``runs/audit-crf-w1-fixed-train``; the same training sentences). ``--val-slice``
   cuts the slice from the training file, so the fixed model validates on fixed labels;
   every model is also scored on the slice as given and as fixed, on the same labels.
   ``--reuse`` keeps a model whose card names the same training data (sha256).
3. ``serkit eval`` of each: W1 on WikiSER test; X1 on SoftNER-9 test with ``--map
   wikiser:softner-9`` (the W1 model's types projected, as bench/quality.py's X1 rows).
   The test splits are not fixed: they carry the lexicon's noise too. Each difference to
   the given model gets a 95% paired-bootstrap interval over test sentences.
4. The ``audit-wikiser`` block inside the ``audit`` section of bench/RESULTS.md, with
   the hand-verdict counts read from bench/audit-wikiser-top50.md (their one home).
   bench/audit.py keeps this block when it rewrites the section. Raw numbers:
   bench/out/audit_w1.json.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from _results import RESULTS, machine, rel, today  # noqa: E402
from serkit.files.atomic import atomic_write  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
DEV = DATA / "wikiser-small" / "dev.txt"
RUNS = ROOT / "runs"
#: The W1 split of dev.txt as two files (sentence index % 10 != 9 / == 9), for the control.
SPLIT = {"train": RUNS / "audit-wikiser-split" / "train.txt",
         "val": RUNS / "audit-wikiser-split" / "val.txt"}  # fmt: skip
#: audited corpus -> (report and fixed copy folder, cache of its cross-fitted folds)
AUDITS = {
    "dev": (DEV, RUNS / "audit-wikiser-fix", RUNS / "audit-wikiser.npz"),
    "train": (
        SPLIT["train"],
        RUNS / "audit-wikiser-train90-fix",
        RUNS / "audit-wikiser-train90.npz",
    ),
}
#: model -> (folder, training file, how it validates, audit whose fix it trains on)
MODELS = {
    "given": (RUNS / "audit-crf-w1-orig", DEV, ["--val-slice"], None),
    "fixed": (RUNS / "audit-crf-w1-fixed", AUDITS["dev"][1] / DEV.name, ["--val-slice"], "dev"),
    "fixed-train": (RUNS / "audit-crf-w1-fixed-train", AUDITS["train"][1] / "train.txt",
                    ["--dev", str(SPLIT["val"].relative_to(ROOT))], "train"),
}  # fmt: skip
TESTS = {  # protocol -> (gold, extra serkit eval arguments)
    "W1": (DATA / "wikiser-small" / "test.txt", []),
    "X1": (DATA / "softner-9" / "test.txt", ["--map", "wikiser:softner-9"]),
}
VERDICTS = ROOT / "bench" / "audit-wikiser-top50.md"
OUT = ROOT / "bench" / "out" / "audit_w1.json"
#: This script's block, nested in bench/audit.py's ``audit`` section.
BLOCK, SECTION = "audit-wikiser", "audit"
SERKIT = str(Path(sys.executable).with_name("serkit"))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(args: list[str], nice: bool = False) -> tuple[str, float, float]:
    """Run a serkit command from the repository root: (stdout, wall s, child CPU s)."""
    cmd = (["nice", "-n", "19"] if nice else []) + [SERKIT, *args]
    log("$ " + " ".join(["serkit", *args]))
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
    wall = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"failed ({done.returncode}): serkit {' '.join(args)}")
    cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    return done.stdout, wall, cpu


def check_fix(original: Path, fixed: Path, changes: Path) -> dict:
    """The fixed copy differs from the input exactly on the logged lines, as logged."""
    logged: dict[int, tuple[str, str]] = {}
    records = [json.loads(line) for line in changes.read_text(encoding="utf-8").splitlines()]
    for rec in records:
        for c in rec["changes"]:
            if c["line"] in logged:
                raise SystemExit(f"{changes}: line {c['line']} changed by two findings")
            logged[c["line"]] = (c["before"], c["after"])
    a = original.read_bytes().split(b"\n")
    b = fixed.read_bytes().split(b"\n")
    if len(a) != len(b):
        raise SystemExit(f"{fixed}: {len(b)} lines, the input has {len(a)}")
    for n, (x, y) in enumerate(zip(a, b, strict=True), 1):
        want = logged.get(n)
        if want is None and x != y:
            raise SystemExit(f"{fixed}:{n}: changed but not in {changes.name}")
        if want is not None and (x.decode() != want[0] or y.decode() != want[1]):
            raise SystemExit(f"{fixed}:{n}: does not read as {changes.name} says")

    def entities(lines: list[bytes]) -> int:
        return sum(1 for x in lines if b"\tB-" in x)

    return {
        "findings": len(records),
        "lines": len(logged),
        "kinds": dict(Counter(r["kind"] for r in records).most_common()),
        "entities": [entities(a), entities(b)],
    }


def split_dev() -> None:
    """dev.txt's W1 split as two files, byte for byte (the control audits the first)."""
    text = DEV.read_text(encoding="utf-8")
    blocks = re.findall(r"<s>\n.*?</s>\n", text, re.S)
    if "".join(blocks) != text:
        raise SystemExit(f"{DEV}: not only <s> ... </s> blocks; cannot split it")
    for name, keep in (("train", lambda i: i % 10 != 9), ("val", lambda i: i % 10 == 9)):
        with atomic_write(SPLIT[name]) as f:
            f.write("".join(b for i, b in enumerate(blocks) if keep(i)))


def audit_fix(name: str, min_score: float) -> dict:
    """``serkit audit --fix`` of one corpus (niced), then the check of its fixed copy."""
    corpus, out, cache = AUDITS[name]
    args = ["audit", rel(corpus), "-o", rel(out), "--cache", rel(cache), "--fix",
            "--min-score", str(min_score), "--no-progress"]  # fmt: skip
    _, wall, _ = run(args, nice=True)
    fix = check_fix(corpus, out / corpus.name, out / "changes.jsonl")
    log(f"fix checked: {fix}")
    return {"command": "serkit " + " ".join(args[:-1]), "wall_s": round(wall, 1), **fix}


def train(name: str, reuse: bool, previous: dict) -> dict:
    from serkit.card import sha256_files

    out, data, split, _ = MODELS[name]
    card = out / "serkit.json"
    if reuse and card.is_file() and name in previous:
        got = json.loads(card.read_text()).get("train_data", {}).get("sha256")
        if got == sha256_files([data]):
            log(f"{name}: reusing {rel(out)}")
            return previous[name]["train"]
    args = ["train", "--arch", "crf", "--train", rel(data), *split, "--protocol", "W1",
            "-o", rel(out)]  # fmt: skip
    _, wall, cpu = run(args)
    dev = json.loads(card.read_text())["metrics"]["dev"]
    return {"command": "serkit " + " ".join(args), "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1), "val_f1": dev["f1"], "date": today()}  # fmt: skip


def evaluate(name: str) -> dict:
    rows = {}
    for proto, (gold, extra) in TESTS.items():
        args = ["eval", rel(gold), "--model", rel(MODELS[name][0]), *extra, "--json",
                "--no-progress"]  # fmt: skip
        stdout, wall, _ = run(args)
        rep = json.loads(stdout)
        rows[proto] = {
            **{k: rep["micro"][k] for k in ("precision", "recall", "f1")},
            "counts": [rep["micro"][k] for k in ("tp", "pred", "support")],
            "per_type": {t: v["f1"] for t, v in rep["per_type"].items() if v["support"]},
            "command": "serkit " + " ".join(args[:-2]),
            "wall_s": round(wall, 1),
        }
    return rows


def cross_validation() -> dict[str, dict[str, float]]:
    """Each model on the validation slice as given and as fixed: F1 on the same labels."""
    import serkit
    from serkit.evaluate import predict_sentences, score_sentences
    from serkit.training.data import read_labelled, val_slice

    slices = {"given": DEV, "fixed": MODELS["fixed"][1]}
    gold = {k: val_slice(read_labelled(str(p)))[1] for k, p in slices.items()}
    if [s.tokens for s in gold["given"]] != [s.tokens for s in read_labelled(str(SPLIT["val"]))]:
        raise SystemExit(f"{SPLIT['val']}: not the validation slice of {DEV}")
    out: dict[str, dict[str, float]] = {}
    for name, (model, *_) in MODELS.items():
        tagger = serkit.load(str(model))
        out[name] = {}
        for k, sents in gold.items():
            pred = predict_sentences(tagger, sents, progress=False)
            out[name][k] = score_sentences(sents, pred).scores["strict"].micro.f1
    return out


def paired_bootstrap(models: dict, resamples: int = 2000, seed: int = 0) -> dict[str, dict]:
    """Per test split and model, F1(model) - F1(given) with its 95% paired-bootstrap
    interval over sentences. Counts entities as ``serkit eval`` does (stray I- repaired,
    then predicted types mapped) and checks its totals equal those ``serkit eval`` printed."""
    import numpy as np

    import serkit
    from serkit.evaluate import predict_sentences
    from serkit.labels import load_mapping, map_tags, repair_iob, spans
    from serkit.training.data import read_labelled

    def entities(tags: list[str], mapping: dict | None) -> set:
        fixed, _ = repair_iob(tags)
        return set(spans(map_tags(fixed, mapping) if mapping else fixed))

    rng = np.random.default_rng(seed)
    out: dict[str, dict] = {}
    for proto, (path, extra) in TESTS.items():
        mapping = load_mapping(extra[1]) if extra else None
        gold = read_labelled(str(path))
        g = [entities(s.tags, None) for s in gold]
        counts = {}
        for name, (model, *_) in MODELS.items():
            pred = predict_sentences(serkit.load(str(model)), gold, progress=False)
            p = [entities(s.tags, mapping) for s in pred]
            c = np.array([[len(a & b), len(a), len(b)] for a, b in zip(p, g, strict=True)])
            if c.sum(axis=0).tolist() != models[name]["eval"][proto]["counts"]:
                raise SystemExit(f"{proto} {name}: counts {c.sum(axis=0)} differ from serkit eval")
            counts[name] = c
        n = len(gold)
        diffs: dict[str, list[float]] = {k: [] for k in counts if k != "given"}
        for _ in range(resamples):
            w = np.bincount(rng.integers(0, n, n), minlength=n)
            f = {
                k: 2 * (w @ c[:, 0]) / max(1, w @ c[:, 1] + w @ c[:, 2]) for k, c in counts.items()
            }
            for k in diffs:
                diffs[k].append(f[k] - f["given"])
        for k, d in diffs.items():
            lo, hi = np.percentile(d, [2.5, 97.5])
            out.setdefault(k, {})[proto] = {
                "low": float(lo), "high": float(hi), "resamples": resamples,
                "share_positive": float(np.mean(np.array(d) > 0)),
            }  # fmt: skip
    return out


VERDICT_CODES = {"**error**": "right", "**error**, corpus type": "corpus", "**error, wrong fix**":
                 "wrong", "arguable": "arguable", "not an error": "not"}  # fmt: skip


def verdict_counts(path: Path = VERDICTS) -> dict[str, Counter]:
    """Per table of the verdict file (its heading), the count of each verdict."""
    out: dict[str, Counter] = {}
    head = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            head = line.lstrip("# ").strip()
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 9 and cells[7] in VERDICT_CODES and cells[0].isdigit():
            out.setdefault(head, Counter())[VERDICT_CODES[cells[7]]] += 1
    return out


def verdict_sentence(counts: dict[str, Counter]) -> str:
    parts = []
    for head, c in counts.items():
        n = sum(c.values())
        err = c["right"] + c["corpus"] + c["wrong"]
        label = "top 50" if head.lower().startswith("top") else f"25 sampled at {head}"
        parts.append(f"{label}: {err}/{n} real errors, fix right in {c['right']}/{n} "
                     f"({c['right'] + c['corpus']} with fixes to the corpus's own type), "
                     f"given label right in {c['not']}/{n}")  # fmt: skip
    return "; ".join(parts)


def _fix_words(fx: dict) -> str:
    kinds = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in fx["kinds"].items())
    return (f"{fx['findings']} findings fixed ({kinds}), {fx['lines']} token lines changed, "
            f"entities {fx['entities'][0]} -> {fx['entities'][1]}")  # fmt: skip


def markdown(r: dict) -> str:
    fx, ctl, ms = r["audits"]["dev"], r["audits"]["train"], r["min_score"]
    g = r["models"]["given"]
    lines = [
        "### On WikiSER: the W1 CRF trained on the `--fix`ed dev (issue 17, item 4)",
        "",
        f"Command: `OMP_NUM_THREADS=1 .venv/bin/python {' '.join(r['argv'])}` ({r['date']}, "
        f"{r['machine']}; trainings and evaluations at nice 0 with one thread beside niced "
        f"jobs, the audit steps niced; wall {r['wall_s'] / 60:.1f} min in all). Steps: the "
        "docstring of `bench/audit_w1.py`.",
        "",
        "Audit of WikiSER dev (5-fold CRF cross-fitting + consistency + cleanlab, folds "
        f"from the cache): `{fx['command']}` ({fx['wall_s']:.0f} s). Hand verdicts "
        "(`bench/audit-wikiser-top50.md`, which says how they were read and sampled): "
        f"{r['verdicts']}. Hence `--min-score {ms}`: {_fix_words(fx)}. In each fixed copy "
        "every other line is byte-identical to the input and every changed line reads as "
        "its `changes.jsonl` logs it (checked by the script).",
        "",
        "Control, a fix chosen without the validation slice: the audit above read all of "
        "dev, the W1 validation slice (sentence index % 10 == 9) included, so that slice is "
        "not independent of the fix. The control audits only the 90% training sentences "
        f"(`{rel(SPLIT['train'])}`, split byte for byte): `{ctl['command']}` "
        f"({ctl['wall_s']:.0f} s): {_fix_words(ctl)}; its model validates on "
        f"`{rel(SPLIT['val'])}` (the slice as given).",
        "",
        "| W1 CRF trained on | validation F1 (own slice) | on the given slice "
        "| on the fixed slice | W1 P | W1 R | W1 F1 | X1 P | X1 R | X1 F1 | training wall (CPU) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    names = {
        "given": "dev.txt as given",
        "fixed": f"dev.txt fixed at {ms}",
        "fixed-train": f"control: the 90% fixed at {ms} by their own audit",
    }
    for k, (model, *_) in MODELS.items():
        m = r["models"][k]
        t, e, x = m["train"], m["eval"], m["cross"]
        lines.append(
            f"| {names[k]} (`{rel(model)}`) | {t['val_f1']:.4f} | {x['given']:.4f} "
            f"| {x['fixed']:.4f} | {e['W1']['precision']:.4f} | {e['W1']['recall']:.4f} "
            f"| **{e['W1']['f1']:.4f}** | {e['X1']['precision']:.4f} | {e['X1']['recall']:.4f} "
            f"| **{e['X1']['f1']:.4f}** | {t['wall_s']:.0f} s ({t['cpu_s']:.0f} s) |"
        )
    for k in r["bootstrap"]:
        f = r["models"][k]
        cells = [
            f["cross"]["given"] - g["cross"]["given"],
            f["cross"]["fixed"] - g["cross"]["fixed"],
        ]
        cells += [f["eval"][p][m] - g["eval"][p][m] for p in TESTS
                  for m in ("precision", "recall", "f1")]  # fmt: skip
        lines.append(f"| difference ({k} - given) | - | "
                     + " | ".join(f"{c:+.4f}" for c in cells) + " | - |")  # fmt: skip
    lines += ["", "Paired bootstrap over test sentences (2000 resamples, seed 0) of the F1 "
              "difference to the model trained on dev.txt as given:"]  # fmt: skip
    for k, per_proto in r["bootstrap"].items():
        f = r["models"][k]
        lines.append(f"- {k}: " + "; ".join(
            f"{p} {f['eval'][p]['f1'] - g['eval'][p]['f1']:+.4f}, 95% interval "
            f"[{b['low']:+.4f}, {b['high']:+.4f}], above 0 in "
            f"{100 * b['share_positive']:.0f}% of resamples"
            for p, b in per_proto.items()) + ".")  # fmt: skip
    f, c = r["models"]["fixed"], r["models"]["fixed-train"]
    lines += [
        "",
        "On the validation slice as given, the model trained on the fixed dev differs from "
        f"the given one by {f['cross']['given'] - g['cross']['given']:+.4f} and the control "
        f"by {c['cross']['given'] - g['cross']['given']:+.4f}: the gap between the two is "
        "what the audit having read that slice is worth, so only the test splits and the "
        "control measure the fix.",
    ]
    per = []
    for p in TESTS:
        ge, fe = g["eval"][p]["per_type"], r["models"]["fixed"]["eval"][p]["per_type"]
        moves = sorted(ge, key=lambda t: fe.get(t, 0.0) - ge[t])
        per.append(f"{p}: " + ", ".join(f"{t} {fe.get(t, 0.0) - ge[t]:+.3f}" for t in moves))
    lines += [
        "",
        "Per-type F1, fixed - given (strict): " + "; ".join(per) + ".",
        "",
        f"Trained with `{g['train']['command']}` (the others: `--train` their fixed copy; "
        f"the control with `--dev {rel(SPLIT['val'])}` instead of `--val-slice`). W1 = "
        f"`{g['eval']['W1']['command']}`, X1 = `{g['eval']['X1']['command']}` (strict "
        "micro P/R/F1; each model's folder in turn). Validation: `--val-slice` cuts the "
        "slice from the training file, so the fixed model's own validation F1 is measured "
        "on fixed labels and is not comparable with the others'; the two slice columns "
        "score every model on the same labels (the slice as given, the slice as fixed). The "
        "test splits are the originals, with the lexicon's noise. M1 is not scored: a CRF "
        "answers in its own 12 types only (`--scheme` is refused) and there is no built-in "
        "`wikiser:sner` mapping.",
    ]
    return "\n".join(lines)


def put_block(md: str, path: Path = RESULTS) -> None:
    """This script's block, replaced in place or put at the end of the audit section
    (one read, one atomic write: other scripts own the rest of the file)."""
    text = path.read_text(encoding="utf-8")
    begin, end = f"<!-- begin {BLOCK} -->", f"<!-- end {BLOCK} -->"
    block = f"{begin}\n{md.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        outer = f"<!-- end {SECTION} -->"
        if outer not in text:
            raise SystemExit(f"{path}: no '{outer}' marker to put the WikiSER block before")
        text = text.replace(outer, f"{block}\n{outer}", 1)
    with atomic_write(path) as f:
        f.write(text)


def keep_block(md: str, path: Path = RESULTS) -> str:
    """``md`` (the new audit section) followed by this script's block where RESULTS.md
    has one, so that bench/audit.py rewriting the section does not drop it."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    m = re.search(rf"<!-- begin {BLOCK} -->.*?<!-- end {BLOCK} -->", text, re.S)
    return md if m is None else f"{md.rstrip()}\n\n{m.group(0)}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-score", type=float, default=0.9)
    ap.add_argument("--reuse", action="store_true", help="keep models trained on the same data")
    ap.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    ap.add_argument("--render", action="store_true", help=f"only rewrite the block from {rel(OUT)}")
    args = ap.parse_args()
    if args.render:
        if not OUT.is_file():
            raise SystemExit(f"{rel(OUT)}: not there (a full run writes it); nothing to render")
        md = markdown(json.loads(OUT.read_text()))
        print(md)
        if not args.no_write:
            put_block(md)
        return
    t0 = time.perf_counter()
    previous = json.loads(OUT.read_text())["models"] if OUT.is_file() else {}
    split_dev()
    audits = {name: audit_fix(name, args.min_score) for name in AUDITS}
    models = {name: {"train": train(name, args.reuse, previous)} for name in MODELS}
    for name in models:
        models[name]["eval"] = evaluate(name)
    for name, row in cross_validation().items():
        models[name]["cross"] = row
    interval = paired_bootstrap(models)
    result = {
        "argv": [Path(sys.argv[0]).as_posix(), *sys.argv[1:]],
        "date": today(),
        "machine": machine(),
        "min_score": args.min_score,
        "audits": audits,
        "verdicts": verdict_sentence(verdict_counts()),
        "models": models,
        "bootstrap": interval,
        "wall_s": time.perf_counter() - t0,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    md = markdown(result)
    print(md)
    if not args.no_write:
        put_block(md)


if __name__ == "__main__":
    from _results import main_guard

    main_guard(main)
