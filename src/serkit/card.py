"""The model card ``serkit.json``; it lives with the rest of the model folder in
:mod:`serkit.models.folder`, and is re-exported here for the code that imports it."""

from __future__ import annotations

from serkit.models.folder import (
    CARD_NAME,
    command_line,
    read_card,
    record_result,
    sha256_files,
    write_card,
)

__all__ = ["CARD_NAME", "command_line", "read_card", "record_result", "sha256_files", "write_card"]
