"""Run artifacts: one JSON file per new signal, what ``hmas signals show --json`` prints.

Files are named by the signal's bar time first (``2026-12-02T14-00-00Z_BTC-USD_1h_signal-42.json``)
so a directory listing sorts them by time, and written atomically (``hmas.files.write_atomic``):
a reader never sees half a file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from hmas.errors import UsageError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

logger = logging.getLogger(__name__)


def prepare(directory: Path, option: str = "--artifacts") -> Path:
    """The artifacts directory, created if missing; UsageError if it cannot be one."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{option} {directory} is a file, not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = (
            "a parent is a file"
            if isinstance(exc, (FileExistsError, NotADirectoryError))
            else (exc.strerror or str(exc))
        )
        raise UsageError(f"cannot create {option} {directory}: {reason}") from None
    return directory


def file_name(document: dict[str, object]) -> str:
    """``<bar time>_<symbol>_<timeframe>_signal-<id>.json``, the time in UTC without colons."""
    signal = document["signal"]
    assert isinstance(signal, dict)
    bar = str(signal["bar_ts"]).replace("+00:00", "Z").replace(":", "-")
    return f"{bar}_{signal['symbol']}_{signal['timeframe']}_signal-{signal['id']}.json"


def write(engine: Engine, directory: Path, signal_id: int) -> Path:
    """Write signal ``signal_id``'s document into ``directory``; its path."""
    from hmas.files import write_atomic
    from hmas.report.queries import document_text, signal_document

    document = signal_document(engine, signal_id)
    path = directory / file_name(document)
    write_atomic(path, document_text(document).encode("utf-8"))
    return path
