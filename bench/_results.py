"""Shared by the bench scripts: machine/date stamps and section updates of RESULTS.md.

Each script owns one section between ``<!-- begin NAME -->`` and ``<!-- end NAME -->``
markers and rewrites only that section (atomically), so scripts can run in any order.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
from pathlib import Path

from serkit.files.atomic import atomic_write

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = (
    "# serkit benchmark results\n\nEvery number below was measured by the command shown with it.\n"
)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU cores ({cpu}), no GPU, Python {platform.python_version()}"


def today() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def update_section(name: str, markdown: str, path: Path = RESULTS) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    with atomic_write(path) as f:
        f.write(text)
