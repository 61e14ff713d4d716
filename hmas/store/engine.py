"""Engine factory, schema migrations (Alembic, shipped in the package) and store errors.

Every engine made here translates the database's own failures (a read-only or corrupted file, a
full disk, a store from a newer hmas) into one-line ``StoreError`` messages at this boundary, so
no command ever shows raw SQL or its parameters.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    SQLAlchemyError,
)
from sqlalchemy.pool import NullPool

from hmas.errors import (
    HmasError,
    MigrationError,
    StoreBusyError,
    StoreCorruptError,
    StoreError,
    StoreFullError,
    StoreMissingError,
    StoreQueryError,
    StoreReadOnlyError,
    StoreTooNewError,
    StoreUnavailableError,
    UsageError,
)

if TYPE_CHECKING:
    from alembic.config import Config

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: Every shipped migration, oldest first. Every command checks the store against the last one;
#: reading them from the migration scripts instead costs ~130 ms of Alembic import and parsing
#: per command. A test keeps this equal to the scripts.
KNOWN_REVISIONS = (
    "0001_candles",
    "0002_signals",
    "0003_fetch_owner",
    "0004_backtest_run",
    "0005_llm_call",
    "0006_leases",
    "0007_pauses",
)
HEAD_REVISION = KNOWN_REVISIONS[-1]
#: The tables of the schema at head (a test keeps this equal to the models).
HMAS_TABLES = frozenset(
    {
        "candle",
        "fetch_run",
        "analysis",
        "signal",
        "signal_result",
        "position",
        "account",
        "run",
        "lease",
        "backtest_run",
        "llm_call",
        "pause",
    }
)
#: How long a SQLite write waits for another process's write lock before "the store is busy".
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: How long a process waits for another one's schema upgrade (an upgrade of a large store can
#: outlast an ordinary write; processes that start together on a new store wait for the first).
SQLITE_SCHEMA_WAIT_MS = 300_000
#: The PostgreSQL advisory lock key that serialises schema upgrades (any fixed 64-bit number).
PG_SCHEMA_LOCK_KEY = 0x686D6173_73636865  # "hmasSche"
MAX_ID = 2**63 - 1
#: SQLite's primary result code for a damaged database file (the low byte of
#: ``sqlite3.Error.sqlite_errorcode``, which holds the extended code).
SQLITE_CORRUPT = 11


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` / ``postgres://`` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, busy_ms: int | None = None) -> None:
    # WAL lets readers (reports) run while a fetch writes; the busy timeout makes a second
    # writer wait instead of failing at once (set first, so the switch to WAL waits too);
    # foreign keys are off by default in SQLite.
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS if busy_ms is None else busy_ms}")
    _wal(cur)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _wal(cur: Any, attempts: int = 8) -> None:
    """Switch the connection's file to WAL (a no-op once it is).

    Two processes opening a new file together both ask for the switch, which needs the file's
    exclusive lock: SQLite sees the deadlock and fails one of them at once with "database is
    locked", without waiting its busy timeout (measured: about 1 process in 500 when four
    start together). The switch is tried again after a short random pause.
    """
    import sqlite3

    for attempt in range(attempts):
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0.01, 0.1) * (attempt + 1))


def missing_message(where: str) -> str:
    """The one-line error for a read-only command pointed at a store that does not exist."""
    return (
        f"no hmas store at {where}; check HMAS_DB_URL or --db-url, "
        "or create one with hmas db upgrade"
    )


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other backends, memory and ``file:`` URIs)."""
    try:
        parsed = make_url(normalize_url(url))
    except ArgumentError:
        return None
    db = parsed.database
    if parsed.get_backend_name() != "sqlite" or not db or db == ":memory:":
        return None
    if db.startswith("file:"):
        return None
    return Path(db).expanduser().resolve()


def _shown(url: str) -> str:
    from hmas.settings import mask_url

    return mask_url(url)


def _shown_unparsed(url: str) -> str:
    """The URL with any credential (everything before the host's last ``@``) masked."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    head, q, query = rest.partition("?")
    if "@" in head:
        return f"{scheme}{sep}***@{head.rsplit('@', 1)[1]}{q}{query}"
    return url


def _check_port(url: str) -> None:
    """A port in a server URL must be a number from 1 to 65535 (ExitCode 2 otherwise)."""
    if url.startswith("sqlite"):
        return
    # The host comes after the last '@' (a password may hold '/', ':' or '@'), before the path.
    rest = url.partition("://")[2].split("?", 1)[0]
    netloc = rest.rsplit("@", 1)[-1].split("/", 1)[0]
    host_port = netloc.rsplit("]", 1)[-1] if netloc.startswith("[") else netloc
    if ":" not in host_port:
        return
    port = host_port.rsplit(":", 1)[1]
    if port.isdigit() and 1 <= int(port) <= 65535:
        return
    raise StoreUnavailableError(
        f"bad port {port!r} in database URL {_shown_unparsed(url)}; "
        "use a number from 1 to 65535 (e.g. 5432) in HMAS_DB_URL or --db-url"
    )


def make_engine(url: str, *, create: bool = True) -> Engine:
    """Create an engine for ``url``; ``StoreError`` subclasses if it cannot be opened.

    With ``create=False`` a SQLite file that does not exist is an error (and is not created).
    """
    url = normalize_url(url)
    _check_port(url)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise StoreUnavailableError(
            f"cannot parse database URL {_shown_unparsed(url)!r}; use e.g. sqlite:///path/hmas.db "
            "or postgresql://user:pass@host/db (percent-encode '@', ':' and '/' in the password)"
        ) from None
    shown = _shown(url)
    kwargs: dict[str, Any] = {}
    path = sqlite_path(url)
    if parsed.get_backend_name() == "sqlite":
        if path is not None:
            if not path.parent.is_dir():
                raise StoreUnavailableError(
                    f"cannot open database {shown}: directory {path.parent} does not exist; "
                    "create it or set HMAS_DB_URL"
                )
            if not create and not path.exists():
                raise StoreMissingError(missing_message(str(path)))
            if path.is_dir():
                raise StoreUnavailableError(
                    f"cannot open database {shown}: {path} is a directory; "
                    "point HMAS_DB_URL at a file, e.g. sqlite:///path/hmas.db"
                )
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        raise StoreUnavailableError(
            f"cannot open database {shown}: no driver for {parsed.drivername!r} ({exc})"
        ) from None
    where = str(path) if path is not None else shown
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    install_error_translation(engine, where)
    try:
        with engine.connect() as conn:
            # Reading the schema (not just SELECT 1) finds a file that is not a database.
            probe = "SELECT count(*) FROM sqlite_master" if path is not None else "SELECT 1"
            conn.execute(text(probe))
    except HmasError:
        engine.dispose()
        raise
    except (SQLAlchemyError, ValueError) as exc:
        engine.dispose()
        translated = translate_error(getattr(exc, "orig", exc), where)
        if translated is not None:
            raise translated from None
        reason = _first_line(getattr(exc, "orig", exc))
        raise StoreUnavailableError(
            f"cannot open database {shown}: {reason}; check HMAS_DB_URL"
        ) from None
    return engine


def _first_line(exc: BaseException | None) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def corrupted_message(where: str, reason: str) -> str:
    """The one-line error for an hmas store whose file is damaged."""
    return (
        f"the store {where} is corrupted ({reason}); restore it from a backup or point "
        "HMAS_DB_URL elsewhere"
    )


def translate_error(exc: BaseException | None, where: str) -> HmasError | None:
    """The ``StoreError`` for a driver error, or None when it is not a store condition."""
    if exc is None:
        return None
    reason = _first_line(exc)
    low = reason.lower()
    if isinstance(exc, OverflowError) or "numericvalueoutofrange" in type(exc).__name__.lower():
        return UsageError("a number is out of range for the store (too large for its column)")
    path = Path(where) if where.startswith("/") else None
    if (
        "database or disk is full" in low
        or "no space left on device" in low
        or ("disk i/o error" in low and path is not None and _disk_full(path))
    ):
        return StoreFullError(
            f"cannot write to the store {where}: the database or disk is full; "
            "free space on that disk or point HMAS_DB_URL elsewhere"
        )
    if (
        "readonly database" in low
        or "read-only" in low
        or ("unable to open database file" in low and path is not None and not _writable(path))
    ):
        return StoreReadOnlyError(
            f"the store {where} is read-only; give this user write permission on the file "
            "and its directory (or a writable mount), or point HMAS_DB_URL at another path"
        )
    if "unable to open database file" in low:
        return StoreUnavailableError(
            f"cannot open the store {where}: unable to open database file; check that this "
            "user can read and write it and its directory, or point HMAS_DB_URL elsewhere"
        )
    name = type(exc).__name__
    code = getattr(exc, "sqlite_errorcode", None)
    if "malformed" in low or (isinstance(code, int) and code & 0xFF == SQLITE_CORRUPT):
        # SQLITE_CORRUPT: an SQLite file whose pages are damaged ("database disk image is
        # malformed"). The statement failed and its transaction is rolled back: stop here.
        return StoreCorruptError(corrupted_message(where, reason))
    damaged = ("file is not a database", "file is encrypted", "no such table")
    if (
        any(d in low for d in damaged)
        or name in ("UndefinedTable", "UndefinedColumn")
        or ("no such column" in low)
    ):
        return StoreCorruptError(
            f"{where} is not an hmas store or is corrupted ({reason}); restore it from a backup "
            "or point HMAS_DB_URL elsewhere"
        )
    if "disk i/o error" in low:
        return StoreError(
            f"the store {where} could not be read or written (disk I/O error); check the disk "
            "and the file, or point HMAS_DB_URL elsewhere"
        )
    if "database is locked" in low:
        return StoreBusyError(
            f"the store {where} is busy: another process kept its write lock past the "
            f"{SQLITE_BUSY_TIMEOUT_MS / 1000:g} s hmas waits; retry when it is done"
        )
    return None


#: How many times a quick "database is locked" is tried again, and what counts as quick.
BUSY_RETRIES = 5
QUICK_BUSY_S = 2.0


def retry_quick_busy[T](
    step: Callable[[], T],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``step()``, tried again (up to ``BUSY_RETRIES`` times, after a short random pause) when
    it fails at once with ``StoreBusyError``.

    SQLite reports some lock conflicts without waiting its busy timeout: two processes that
    switch a new file to WAL together, a read snapshot overtaken by another writer. Those pass
    in a moment, so processes that start together (``hmas run`` from cron) must not fail on
    them. A step that waited out the whole busy timeout is not tried again: another process
    really holds the store.
    """
    for attempt in range(BUSY_RETRIES):
        started = clock()
        try:
            return step()
        except StoreBusyError:
            if attempt == BUSY_RETRIES - 1 or clock() - started > QUICK_BUSY_S:
                raise
            logger.debug("store busy at once (attempt %d): trying again", attempt + 1)
            sleep(random.uniform(0.05, 0.25) * (attempt + 1))
    raise AssertionError("unreachable")


def id_in_range(engine: Engine, value: int) -> bool:
    """True when ``value`` can be an id of the store (its id columns are 64-bit on SQLite and
    32-bit INTEGER on PostgreSQL): out-of-range ids are looked up as "none" without SQL."""
    top = MAX_ID if engine.dialect.name == "sqlite" else 2**31 - 1
    return 0 < value <= top


def _disk_full(path: Path) -> bool:
    """True when the file system under ``path`` has (almost) no free block left."""
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 64 * 1024


def _writable(path: Path) -> bool:
    target = path if path.exists() else path.parent
    return os.access(target, os.W_OK) and os.access(path.parent, os.W_OK)


def install_error_translation(engine: Engine, where: str) -> None:
    """Raise ``StoreError`` subclasses instead of driver errors for store conditions."""

    def on_error(context: Any) -> BaseException | None:
        if getattr(context, "is_pre_ping", False):
            return None  # the pool handles a dead pooled connection itself
        translated = translate_error(context.original_exception, where)
        if translated is not None:
            return translated
        reason = _first_line(context.original_exception)
        if context.connection is None:  # failed to connect: a URL, server or credential problem
            return StoreUnavailableError(
                f"cannot open database {where}: {reason}; check HMAS_DB_URL"
            )
        wrapped = context.sqlalchemy_exception
        if isinstance(wrapped, DBAPIError) and not isinstance(wrapped, IntegrityError):
            return StoreQueryError(
                f"the store {where} failed: {reason}; check it with hmas db status, and restore "
                "it from a backup if it is damaged",
                reason,
            )
        return None

    event.listen(engine, "handle_error", on_error)


def where_of(engine: Engine) -> str:
    """How messages name the store of ``engine``: the SQLite file, or the masked URL."""
    url = engine.url.render_as_string(hide_password=False)
    path = sqlite_path(url)
    return str(path) if path is not None else _shown(url)


def alembic_config(engine: Engine) -> Config:
    """An Alembic config bound to ``engine`` and the migrations shipped in the package."""
    cfg = _bare_config()
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    """The newest migration shipped with this version of hmas (read from the scripts)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_bare_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise MigrationError("no migrations found in the package")
    return head


def _bare_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return None if row is None else str(row[0])


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return _revision(conn)


def table_names(engine: Engine) -> list[str]:
    """The tables in the database."""
    with engine.connect() as conn:
        return list(inspect(conn).get_table_names())


def check_known(engine: Engine, revision: str | None) -> None:
    """``StoreTooNewError`` when ``revision`` is not one this hmas ships."""
    if revision is not None and revision not in KNOWN_REVISIONS:
        raise StoreTooNewError(
            f"the store {where_of(engine)} is at revision {revision}, newer than this hmas "
            f"(head {HEAD_REVISION}); upgrade hmas"
        )


def _check_unversioned(engine: Engine, tables: list[str]) -> None:
    """hmas tables without a schema revision: a damaged store, or another program's."""
    found = sorted(HMAS_TABLES.intersection(tables))
    if found:
        raise StoreCorruptError(
            f"{where_of(engine)} is not an hmas store or is damaged (table {found[0]} exists "
            "but no schema revision); restore it from a backup or point HMAS_DB_URL elsewhere"
        )


def existing_revision(engine: Engine) -> str:
    """The revision of an existing hmas store; missing, foreign or too-new stores are errors."""
    revision = current_revision(engine)
    if revision is None:
        _check_unversioned(engine, table_names(engine))
        raise StoreMissingError(missing_message(where_of(engine)))
    check_known(engine, revision)
    return revision


def ensure_store(engine: Engine) -> str:
    """For read-only commands: the store must exist with a known revision; never creates one.

    A store at an older revision is upgraded (it exists; every command keeps it current).
    """
    if existing_revision(engine) != HEAD_REVISION:
        upgrade(engine)
    return HEAD_REVISION


@dataclass(frozen=True)
class UpgradeResult:
    """What ``upgrade`` did."""

    before: str | None
    after: str
    applied: list[str]


def _pending(before: str | None) -> list[str]:
    start = 0 if before is None else KNOWN_REVISIONS.index(before) + 1
    return list(KNOWN_REVISIONS[start:])


def sqlite_lock_engine(engine: Engine, *, wait_ms: int | None = None) -> Engine:
    """A NullPool engine on the same SQLite file whose connections leave BEGIN to hmas.

    pysqlite otherwise begins (and commits) transactions itself; with the driver in autocommit
    mode hmas emits ``BEGIN IMMEDIATE`` and ``COMMIT``, so one transaction holds the write lock.
    ``wait_ms``: how long its ``BEGIN IMMEDIATE`` waits for the lock (default: the busy timeout).
    """
    busy_ms = SQLITE_BUSY_TIMEOUT_MS if wait_ms is None else wait_ms
    lock_engine = create_engine(
        engine.url,
        poolclass=NullPool,
        connect_args={"timeout": busy_ms / 1000},
    )

    def autocommit_driver(dbapi_conn: Any, record: Any) -> None:
        _sqlite_pragmas(dbapi_conn, record, busy_ms)
        dbapi_conn.isolation_level = None  # hmas emits BEGIN and COMMIT

    event.listen(lock_engine, "connect", autocommit_driver)
    install_error_translation(lock_engine, where_of(engine))
    return lock_engine


@contextmanager
def schema_lock(engine: Engine) -> Iterator[Connection]:
    """One connection holding the store's schema lock inside one transaction, committed on exit.

    SQLite: a separate connection in driver autocommit mode that emits ``BEGIN IMMEDIATE``
    itself (pysqlite otherwise commits every CREATE on its own), so the whole upgrade is one
    transaction that also holds the database's write lock. PostgreSQL: a transaction holding an
    advisory lock (its DDL is transactional already).
    """
    backend = engine.dialect.name
    if backend == "sqlite":
        lock_engine = sqlite_lock_engine(engine, wait_ms=SQLITE_SCHEMA_WAIT_MS)
        try:
            with lock_engine.connect() as conn:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.rollback()
                    raise
                conn.commit()
        finally:
            lock_engine.dispose()
    else:
        with engine.connect() as conn:
            if backend == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_SCHEMA_LOCK_KEY}
                )
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()


def upgrade(engine: Engine) -> UpgradeResult:
    """Bring the schema to the head revision, atomically and one process at a time.

    A no-op when it is there already. Processes that start together on a new store wait for the
    first one's upgrade and then find the schema at head.
    """
    before = current_revision(engine)
    if before == HEAD_REVISION:
        return UpgradeResult(before, HEAD_REVISION, [])
    check_known(engine, before)
    from alembic import command

    try:
        with schema_lock(engine) as conn:
            before = _revision(conn)  # again, under the lock: another process may have done it
            if before == HEAD_REVISION:
                return UpgradeResult(before, HEAD_REVISION, [])
            check_known(engine, before)
            if before is None:
                _check_unversioned(engine, list(inspect(conn).get_table_names()))
            cfg = _bare_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except StoreQueryError as exc:
        raise MigrationError(
            f"schema upgrade of {where_of(engine)} failed ({exc.reason}); nothing was changed. "
            "Check the database user's rights, or point HMAS_DB_URL at another store"
        ) from None
    except HmasError:
        raise
    except SQLAlchemyError as exc:
        reason = _first_line(getattr(exc, "orig", None) or exc)
        raise MigrationError(
            f"schema upgrade of {where_of(engine)} failed ({reason}); nothing was changed. "
            "Check the database user's rights, or point HMAS_DB_URL at another store"
        ) from None
    logger.info("store upgraded from %s to %s", before, HEAD_REVISION)
    return UpgradeResult(before, HEAD_REVISION, _pending(before))
