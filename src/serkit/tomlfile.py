"""Reading a TOML file that users write (configs, corpus declarations): one line on error."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from serkit.errors import SerkitError


def load_table(path: str | Path, table: str, what: str) -> dict[str, Any]:
    """The file's ``[table]`` when it has one, else its top level (a BOM is fine);
    ``what`` names the file's role in the error (``training config``...)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8-sig"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SerkitError(f"{p}: cannot read {what}: {e}") from e
    inner = data.get(table)
    return inner if isinstance(inner, dict) else data
