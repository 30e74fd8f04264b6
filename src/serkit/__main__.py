"""Allow `python -m serkit`."""

from serkit.cli.main import main

main()
