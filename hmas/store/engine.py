"""Engine factory and schema migrations (Alembic, shipped in the package)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from hmas.errors import MigrationError, StoreUnavailableError

if TYPE_CHECKING:
    from alembic.config import Config

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: The newest shipped migration. Every command checks the store against it; reading it from the
#: migration scripts instead costs ~130 ms of Alembic import and parsing per command. A test
#: keeps it equal to the scripts' head.
HEAD_REVISION = "0002_signals"
SQLITE_BUSY_TIMEOUT_MS = 10_000


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` / ``postgres://`` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers (reports) run while a fetch writes; the busy timeout makes a second
    # writer wait instead of failing at once; foreign keys are off by default in SQLite.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``; ``StoreUnavailableError`` if it cannot be opened."""
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreUnavailableError(
            f"cannot parse database URL {url!r}; use e.g. sqlite:///path/hmas.db or "
            "postgresql://user:pass@host/db"
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:" and not db.startswith("file:"):
            parent = Path(db).expanduser().resolve().parent
            if not parent.is_dir():
                raise StoreUnavailableError(
                    f"cannot open database {shown}: directory {parent} does not exist; "
                    "create it or set HMAS_DB_URL"
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
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (OperationalError, SQLAlchemyError) as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise StoreUnavailableError(
            f"cannot open database {shown}: {reason}; check HMAS_DB_URL"
        ) from None
    return engine


def alembic_config(engine: Engine) -> Config:
    """An Alembic config bound to ``engine`` and the migrations shipped in the package."""
    cfg = _bare_config()
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    """The newest migration shipped with this version of hmas."""
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


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])


@dataclass(frozen=True)
class UpgradeResult:
    """What ``upgrade`` did."""

    before: str | None
    after: str
    applied: list[str]


def upgrade(engine: Engine) -> UpgradeResult:
    """Bring the schema to the head revision; a no-op when it is there already."""
    before = current_revision(engine)
    if before == HEAD_REVISION:
        return UpgradeResult(before, HEAD_REVISION, [])
    from alembic import command
    from alembic.script import ScriptDirectory

    head = head_revision()
    script = ScriptDirectory.from_config(_bare_config())
    pending = [
        rev.revision
        for rev in reversed(list(script.walk_revisions(base="base", head="heads")))
        if before is None or rev.revision not in _ancestors(script, before)
    ]
    try:
        command.upgrade(alembic_config(engine), "head")
    except SQLAlchemyError as exc:
        raise MigrationError(f"schema upgrade failed: {exc}") from exc
    logger.info("store upgraded from %s to %s", before, head)
    return UpgradeResult(before, head, pending)


def _ancestors(script: Any, rev: str) -> set[str]:
    return {r.revision for r in script.walk_revisions(base="base", head=rev)}
