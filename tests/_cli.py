"""Running ``serkit`` commands in-process through the real entry point."""

from __future__ import annotations

from serkit.cli.main import main


def run_cli(capsys, *args: str) -> tuple[int, str]:
    """``serkit ARGS`` through the real entry point (errors mapped to exit 2): the exit code
    and what it printed (stdout then stderr)."""
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    got = capsys.readouterr()
    return code, got.out + got.err
