"""Integrity checks of the store: SQLite's own checks, or a read of every table on PostgreSQL.

``hmas db check`` runs the full check (``PRAGMA integrity_check``); ``hmas health`` and the
writing commands run the quick one (``PRAGMA quick_check``: the same page and b-tree checks
without comparing indexes to their tables). Both read every page of the file, so they cost in
proportion to its size: about 0.14 s for a store of 525,600 one-minute candles (50 MB) with the
file in the page cache, about 1.2 s from a cold disk (docs/store.md "Corruption"). So a writing
command checks the file when it opens it only while the file is small
(``CHECK_ON_OPEN_MAX_BYTES``); ``hmas run`` checks it at its start whatever its size; and any
statement that reads a damaged page stops the command (the driver's "database disk image is
malformed", translated by ``engine.translate_error``; its transaction is rolled back).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import text

from hmas.errors import StoreCorruptError, StoreError
from hmas.store.engine import corrupted_message

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

#: How many lines of damage a check keeps (SQLite stops listing after this many).
MAX_PROBLEMS = 100
#: Writing commands check a SQLite file up to this size every time they open it: ~21 ms for
#: 8 MB (84,000 one-minute candles) with the file in the page cache. A larger file is checked
#: by ``hmas run`` at its start, ``hmas health`` and ``hmas db check``.
CHECK_ON_OPEN_MAX_BYTES = 8 * 1024 * 1024


@dataclass
class IntegrityResult:
    """What a check found: ``problems`` is empty when the store is intact."""

    backend: str
    check: str
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.problems


def _sqlite(engine: Engine, pragma: str, limit: int) -> list[str]:
    """The lines a SQLite check pragma reports (none when it says ``ok``)."""
    # Past a number of errors SQLite may give up on the whole check ("database disk image is
    # malformed") where a check told to stop sooner lists what it found: ask for fewer then.
    # Halving the limit finds it in a few more passes, only ever over a damaged file.
    n = max(int(limit), 1)
    lines, failed = _sqlite_once(engine, pragma, n)
    while failed and len(lines) <= 1 and n > 1:
        n //= 2
        fewer, failed = _sqlite_once(engine, pragma, n)
        lines = fewer if (not failed or len(fewer) > 1) else lines
    return [] if lines == ["ok"] else lines[:limit]


def _sqlite_once(engine: Engine, pragma: str, limit: int) -> tuple[list[str], bool]:
    import sqlite3

    # The driver's own connection: a check that cannot read the file reports the driver's
    # reason as the damage found, instead of the translated error of an ordinary statement.
    # Rows are read one at a time: a check may list damage and then fail on worse damage.
    rows: list[str] = []
    failed = False
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            cursor.execute(f"PRAGMA {pragma}({int(limit)})")
            while (row := cursor.fetchone()) is not None:
                rows.append(str(row[0]))
        finally:
            cursor.close()
    except sqlite3.DatabaseError as exc:
        reason = str(exc).strip().splitlines()
        rows.append(reason[0] if reason else type(exc).__name__)
        failed = True
    finally:
        raw.close()
    # One row may hold several lines; the "*** in database main ***" heading names no damage.
    lines = [
        line
        for row in rows
        for line in row.splitlines()
        if line.strip() and not line.startswith("*** in database ")
    ]
    return lines, failed


def quick_check(engine: Engine, *, limit: int = MAX_PROBLEMS) -> IntegrityResult:
    """``PRAGMA quick_check`` on SQLite; on other backends nothing is checked (empty result)."""
    backend = engine.dialect.name
    if backend != "sqlite":
        return IntegrityResult(backend, "none")
    start = time.perf_counter()
    problems = _sqlite(engine, "quick_check", limit)
    return IntegrityResult(backend, "quick_check", problems, time.perf_counter() - start)


def integrity_check(engine: Engine, *, limit: int = MAX_PROBLEMS) -> IntegrityResult:
    """SQLite: ``PRAGMA integrity_check``. PostgreSQL: the schema revision is one this hmas
    knows, every table of the schema exists and every row of it can be read."""
    backend = engine.dialect.name
    start = time.perf_counter()
    if backend == "sqlite":
        problems = _sqlite(engine, "integrity_check", limit)
        return IntegrityResult(backend, "integrity_check", problems, time.perf_counter() - start)
    problems = _read_every_table(engine)
    return IntegrityResult(backend, "read every table", problems, time.perf_counter() - start)


def _read_every_table(engine: Engine) -> list[str]:
    from hmas.store.engine import HEAD_REVISION, HMAS_TABLES, KNOWN_REVISIONS, current_revision

    problems: list[str] = []
    revision = current_revision(engine)
    if revision is None:
        problems.append("no schema revision (alembic_version is missing or empty)")
    elif revision not in KNOWN_REVISIONS:
        problems.append(f"schema revision {revision} is not one this hmas knows")
    elif revision != HEAD_REVISION:
        problems.append(f"schema revision {revision} is not the head ({HEAD_REVISION})")
    for table in sorted(HMAS_TABLES):
        try:
            with engine.connect() as conn:
                # count(*) scans every page of the table: a damaged page fails the read.
                conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()
        except StoreError as exc:
            problems.append(f"table {table}: {exc}")
    return problems


def verify(engine: Engine, where: str) -> IntegrityResult:
    """Raise ``StoreCorruptError`` unless ``PRAGMA quick_check`` finds the SQLite file intact."""
    result = quick_check(engine)
    if not result.ok:
        raise StoreCorruptError(corrupted_message(where, f"quick_check: {result.problems[0]}"))
    return result


def small_sqlite_file(engine: Engine) -> bool:
    """True for a SQLite file (with its write-ahead log) of at most ``CHECK_ON_OPEN_MAX_BYTES``."""
    from hmas.store.engine import sqlite_path

    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    if path is None:
        return False
    size = 0
    for part in (path, path.with_name(path.name + "-wal")):
        try:
            size += part.stat().st_size
        except OSError:
            continue
    return size <= CHECK_ON_OPEN_MAX_BYTES
