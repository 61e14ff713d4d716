"""The kill-switch file: the emergency stop that works when the store cannot be written.

``hmas kill-switch on`` stores the switch in the account; when the store cannot be written (a
full disk, a read-only or damaged file, a server down) it creates this file instead, and every
command that decides treats the file as an engaged kill switch. It can also be created on
purpose (``hmas kill-switch on --file``, or simply ``touch``). Its place: beside a SQLite store
(``hmas.db`` -> ``hmas.db.kill-switch``), else ``kill-switch`` in the data directory.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from hmas.errors import StoreError

if TYPE_CHECKING:
    from hmas.settings import Settings

logger = logging.getLogger(__name__)

SUFFIX = ".kill-switch"


def switch_file(settings: Settings) -> Path:
    """Where the kill-switch file of the configured store lives."""
    from hmas.store.engine import sqlite_path

    db = sqlite_path(settings.resolved_db_url())
    if db is not None:
        return db.with_name(db.name + SUFFIX)
    return settings.resolved_data_dir() / "kill-switch"


def file_switch_on(settings: Settings) -> bool:
    """True when the kill-switch file exists (the switch is engaged whatever the store says)."""
    try:
        return switch_file(settings).exists()
    except OSError:  # cannot even look: refuse trades rather than allow them
        return True


def engage_file(settings: Settings, reason: str) -> Path:
    """Create the kill-switch file (an empty file is enough; the reason is best effort)."""
    path = switch_file(settings)
    try:
        path.touch(exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"could not engage the kill switch: the store failed ({reason}) and {path} cannot "
            f"be created ({exc.strerror or exc}); set HMAS_KILL_SWITCH=1 for every command"
        ) from None
    try:  # on a full disk the empty file is already the switch
        path.write_text(f"hmas kill switch engaged: {reason}\n", encoding="utf-8")
    except OSError:
        logger.warning("kill-switch file %s created empty (could not write the reason)", path)
    return path


def release_file(settings: Settings) -> Path | None:
    """Remove the kill-switch file; its path if there was one."""
    path = switch_file(settings)
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(
            f"could not remove the kill-switch file {path} ({exc.strerror or exc}); "
            "remove it by hand"
        ) from None
    return path
