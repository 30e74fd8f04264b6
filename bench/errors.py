"""Error analysis: sampled missed, spurious, wrong-type and wrong-boundary entities.

    python bench/errors.py                                  # best W1 system, W1 and X1
    python bench/errors.py --system minilm-selfreg          # that system's cached predictions
    python bench/errors.py --system minilm-selfreg --model runs/w1-selfreg   # tag afresh

For each protocol (default W1 and X1) it takes the system with the best test F1 in
``bench/quality_rows.json`` (or ``--system``), its predictions cached by ``bench/quality.py``
in ``runs/bench/preds`` (or tags the test split with ``--model``), sorts every entity into
the categories of ``serkit.evaluate``'s breakdown (missed / wrong type / wrong boundary
for gold entities, spurious for predicted ones) and writes ``bench/errors-<P>.md``:
counts, the most frequent confusions, and ``--n`` random examples per category (fixed
seed), each with the sentence, the gold labelling and the predicted labelling.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

from _results import QUALITY_ROWS as ROWS
from serkit.evaluate import evaluate
from serkit.evaluate.breakdown import _categorise  # the one categoriser
from serkit.files.atomic import atomic_write
from serkit.labels import map_tags, repair_iob, spans
from serkit.tokenize import detokenize
from systems import PROTOCOLS, ROOT, fingerprint, load_system, preds_file, rel

CATEGORIES = ("missed", "spurious", "wrong_type", "wrong_boundary")
TITLES = {
    "missed": "Missed (gold entity, no overlapping prediction)",
    "spurious": "Spurious (prediction, no overlapping gold entity)",
    "wrong_type": "Wrong type (same span, other type)",
    "wrong_boundary": "Wrong boundary (overlapping prediction, different span)",
}


def pick(protocol: str, system: str | None) -> dict:
    rows = [r for r in json.loads(ROWS.read_text()) if r["protocol"] == protocol]
    if system:
        rows = [r for r in rows if r.get("system") == system]
    if not rows:
        raise SystemExit(f"no {system or 'system'} row for {protocol}: run bench/quality.py")
    return max(rows, key=lambda r: r["f1"])


def predictions(
    row: dict, model: Path | None, gold: list, scheme: str | None = None
) -> tuple[list[list[str]], str]:
    """Predicted tags for the test sentences, and which model made them."""
    from serkit.evaluate import predict_sentences

    cache = preds_file(row["system"], row["protocol"])
    if model is None and scheme is None and cache.is_file():
        data = json.loads(cache.read_text())
        if len(data["tags"]) == len(gold):
            return data["tags"], data["model"]
    model = model or ROOT / row["model"]
    tagger = load_system(row["system"], model, scheme=scheme)
    pred = predict_sentences(tagger, gold, progress=sys.stderr.isatty())
    return [s.tags for s in pred], rel(model)


def bracket(tokens: list[str], tags: list[str]) -> str:
    """The sentence with each entity as ``[tokens]{Type}``."""
    out = list(tokens)
    for s, e, t in spans(tags):
        out[s] = "[" + out[s]
        out[e - 1] = out[e - 1] + "]{" + t + "}"
    return detokenize(out).replace("|", "\\|")


def collect(gold_tags: list[list[str]], pred_tags: list[list[str]]) -> dict[str, list]:
    """category -> [(sentence index, (start, end, type), the other side's type or None)]."""
    found: dict[str, list] = {c: [] for c in CATEGORIES}
    for i, (g, p) in enumerate(zip(gold_tags, pred_tags, strict=True)):
        g_sp, p_sp = spans(g), spans(p)
        for span, (cat, other) in zip(g_sp, _categorise(g_sp, p_sp, "missed"), strict=True):
            if cat in found:
                found[cat].append((i, span, other))
        for span, (cat, other) in zip(p_sp, _categorise(p_sp, g_sp, "spurious"), strict=True):
            if cat == "spurious":
                found[cat].append((i, span, other))
    return found


def report(
    protocol: str, system: str | None, model: Path | None, n: int, seed: int,
    scheme: str | None = None,
) -> Path:  # fmt: skip
    from serkit.files import read_all

    proto = PROTOCOLS[protocol]
    row = pick(protocol, system)
    gold = read_all(proto.test)
    pred_raw, made_by = predictions(row, model, gold, scheme)
    mapping = proto.eval_mapping
    from serkit.evaluate import resolve_mapping

    table = resolve_mapping(mapping)
    gold_tags = [repair_iob(s.tags)[0] for s in gold]
    pred_tags = [map_tags(repair_iob(p)[0], table) if table else repair_iob(p)[0]
                 for p in pred_raw]  # fmt: skip
    rep = evaluate(gold_tags, pred_tags)
    found = collect(gold_tags, pred_tags)
    rng = random.Random(seed)
    md = [
        f"# Error analysis: {row['system']} on {protocol}",
        "",
        f"Model `{made_by}`"
        + (f" in scheme `{scheme}`" if scheme else "")
        + f", test split `{rel(proto.test)}`"
        + (f", predicted types mapped with `{mapping}` (other types -> O)" if mapping else "")
        + f". Strict micro P/R/F1 {rep.micro.precision:.3f} / {rep.micro.recall:.3f} / "
        f"**{rep.micro.f1:.3f}** over {rep.micro.gold} gold and {rep.micro.pred} predicted "
        "entities. Generated by `python bench/errors.py"
        + (f" --system {system}" if system else "")
        + (f" --model {rel(model)}" if model else "")
        + (f" --scheme {scheme}" if scheme else "")
        + f"` (seed {seed}).",
        "",
        "| category | entities | share of the errors on its side |",
        "|---|---:|---:|",
    ]
    g_err = sum(len(found[c]) for c in ("missed", "wrong_type", "wrong_boundary"))
    for c in CATEGORIES:
        share = len(found[c]) / (len(found[c]) if c == "spurious" else g_err or 1)
        side = "predicted" if c == "spurious" else "gold"
        md.append(f"| {c.replace('_', ' ')} ({side}) | {len(found[c])} | {share:.0%} |")
    missed_t = Counter(sp[2] for _, sp, _ in found["missed"])
    spur_t = Counter(sp[2] for _, sp, _ in found["spurious"])
    conf = Counter((sp[2], o) for _, sp, o in found["wrong_type"])
    surf = Counter(" ".join(gold[i].tokens[sp[0] : sp[1]]) for i, sp, _ in found["missed"])
    surf_s = Counter(" ".join(gold[i].tokens[sp[0] : sp[1]]) for i, sp, _ in found["spurious"])
    md += [
        "",
        "Most missed types: " + ", ".join(f"{t} {c}" for t, c in missed_t.most_common(5)) + ".",
        "Most spurious types: " + ", ".join(f"{t} {c}" for t, c in spur_t.most_common(5)) + ".",
        "Most frequent type confusions (gold -> predicted): "
        + ", ".join(f"{g} -> {p} {c}" for (g, p), c in conf.most_common(6))
        + ".",
        "Most often missed strings: "
        + ", ".join(f"`{s}` {c}" for s, c in surf.most_common(12))
        + ".",
        "Most often spurious strings: "
        + ", ".join(f"`{s}` {c}" for s, c in surf_s.most_common(12))
        + ".",
    ]
    for c in CATEGORIES:
        items = found[c]
        sample = sorted(rng.sample(items, min(n, len(items))))
        md += ["", f"## {TITLES[c]}: {len(sample)} of {len(items)}", ""]
        for k, (i, (s, e, t), other) in enumerate(sample, 1):
            toks = gold[i].tokens
            what = " ".join(toks[s:e]).replace("|", "\\|")
            label = {"missed": f"gold {t}", "spurious": f"predicted {t}",
                     "wrong_type": f"gold {t}, predicted {other}",
                     "wrong_boundary": f"gold {t}"}[c]  # fmt: skip
            md += [
                f"{k}. **`{what}`** ({label}; sentence {i})",
                f"   - gold: {bracket(toks, gold_tags[i])}",
                f"   - pred: {bracket(toks, pred_tags[i])}",
            ]
    out = ROOT / "bench" / f"errors-{protocol}.md"
    with atomic_write(out) as f:
        f.write("\n".join(md) + "\n")
    print(f"wrote {rel(out)}: {rep.micro.f1:.4f} F1, "
          + ", ".join(f"{c} {len(found[c])}" for c in CATEGORIES), file=sys.stderr)  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocols", default="W1,X1")
    ap.add_argument("--system", help="default: the best test F1 per protocol")
    ap.add_argument("--model", type=Path, help="tag afresh with this model dir (of --system)")
    ap.add_argument("--n", type=int, default=30, help="examples per category")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scheme", help="with --model: the label scheme the model answers in")
    args = ap.parse_args(argv)
    if args.model and not args.system:
        ap.error("--model needs --system (which kind of model it is)")
    if args.model and fingerprint(args.model) is None:
        ap.error(f"{args.model}: no trained model there")
    for p in args.protocols.split(","):
        report(p, args.system, args.model, args.n, args.seed, args.scheme)


if __name__ == "__main__":
    from _results import main_guard

    main_guard(main)
