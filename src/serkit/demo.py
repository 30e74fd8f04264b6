"""`make run`: tag a sample paragraph and the packaged sample file with the shipped model.

Run as ``python -m serkit.demo [MODEL_DIR]``; prints one table of entities per input.
"""

from __future__ import annotations

import sys
import time
from importlib import resources

from rich.console import Console
from rich.table import Table

from serkit.errors import SerkitError

PARAGRAPH = (
    "I installed TensorFlow on Ubuntu 22.04 with pip and ran it on an NVIDIA A100. "
    "Later I rewrote the preprocessing in Rust, packaged it with Docker and deployed it "
    "to a Kubernetes cluster of Raspberry Pi boards running Raspbian."
)


def sample_text() -> str:
    return resources.files("serkit").joinpath("data/sample.txt").read_text(encoding="utf-8")


def entity_table(title: str, text: str, entities) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("label", style="bold cyan")
    table.add_column("text", style="bold")
    table.add_column("start", justify="right")
    table.add_column("end", justify="right")
    table.add_column("score", justify="right")
    for e in entities:
        table.add_row(e.label, e.text, str(e.start), str(e.end), f"{e.score:.2f}")
    return table


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out, err = Console(), Console(stderr=True)
    try:
        import serkit

        t0 = time.perf_counter()
        tagger = serkit.load(argv[0] if argv else None)
        load_s = time.perf_counter() - t0
        card = tagger.card
        err.print(
            f"model: {card.get('name') or card.get('backbone', '?')} "
            f"({tagger.runtime or card.get('arch', '?')}, "
            f"{len(tagger.entity_types)} types), loaded in {load_s:.1f}s"
        )
        sample = sample_text()
        t0 = time.perf_counter()
        par_ents, file_ents = tagger.pipe([PARAGRAPH, sample])
        tag_s = time.perf_counter() - t0
    except SerkitError as e:
        err.print(f"[bold red]serkit demo: {e}[/]")
        return 2
    out.print(f"[dim]{PARAGRAPH}[/]")
    out.print(entity_table("Sample paragraph", PARAGRAPH, par_ents))
    out.print(entity_table("serkit/data/sample.txt", sample, file_ents))
    n_words = len((PARAGRAPH + " " + sample).split())
    err.print(f"tagged {n_words} words in {tag_s:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
