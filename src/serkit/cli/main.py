"""Entry point: import every command module (one file per command), run, map errors.

User errors (``SerkitError``: bad data, bad model path, limits) and file-system refusals
(``OSError``: read-only folder, full disk) print one line on stderr and exit with code 2,
never a traceback. The line is clipped to ``_app.MAX_MESSAGE`` characters (a message may
quote a 10 MB input line) and never holds a raw newline.
"""

from __future__ import annotations

import importlib
import sys

from serkit.cli._app import app, one_line
from serkit.errors import SerkitError

COMMANDS = (
    "data",
    "tokenize",
    "eval",
    "train",
    "average",
    "predict",
    "lexicon",
    "weak_label",
    "tag",
    "export",
    "package",
    "serve",
    "audit",
)

for _name in COMMANDS:
    importlib.import_module(f"serkit.cli.{_name}")


def _fail(msg: str) -> None:
    print(f"serkit: error: {one_line(msg)}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, standalone_mode=True)
    except SerkitError as e:
        _fail(str(e))
    except BrokenPipeError:  # `serkit tag ... | head`
        sys.exit(0)
    except OSError as e:  # the file system said no (read-only, full disk, a file as folder)
        where = f"{e.filename}: " if e.filename else ""
        _fail(f"{where}{e.strerror or e}")


if __name__ == "__main__":
    main()
