"""Test-wide fixtures: an isolated user directory, no network, the stores to test against."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"
POSTGRES_ENV = "HMAS_TEST_POSTGRES_URL"

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> None:
    # Only loopback (the PostgreSQL test server) and Unix sockets: tests never reach the network.
    if self.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
        host = str(address[0])
        if not (host.startswith("127.") or host in ("::1", "localhost")):
            raise RuntimeError(f"network access in tests is forbidden (tried {host})")
    _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the data directory at tmp_path, drop the user's HMAS_ settings, block the network."""
    for key in list(os.environ):
        if key.startswith("HMAS_") and key != POSTGRES_ENV:
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HMAS_DATA_DIR", str(home))
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    yield


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the project; skips when a clone has none."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the reference data in {SHARED_DATA} (absent in a plain clone)")
    return SHARED_DATA


def _postgres_database() -> Iterator[str]:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"set {POSTGRES_ENV} to a PostgreSQL server URL to run the store tests on it")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from hmas.store.engine import normalize_url

    admin_url = make_url(normalize_url(url))
    name = f"hmas_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, and a PostgreSQL database when configured."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        yield from _postgres_database()


@pytest.fixture
def engine_factory() -> Iterator[object]:
    """``make(url)`` -> an engine that is disposed after the test (no connection left open)."""
    from hmas.store.engine import make_engine

    made = []

    def make(url: str) -> object:
        engine = make_engine(url)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.dispose()


def _loopback(host: str) -> bool:
    return host.startswith("127.") or host in ("::1", "[::1]", "localhost")


@pytest.fixture(autouse=True)
def _no_real_model_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any httpx request that would leave the machine fails the test (LLM providers included).

    Guarded where httpx hands a request to its connection pool, below vcrpy's replay: a recorded
    answer never gets here, a request missing from its cassette (or made without one) does.
    """
    import httpcore

    real_async = httpcore.AsyncConnectionPool.handle_async_request
    real_sync = httpcore.ConnectionPool.handle_request

    def check(request: httpcore.Request) -> None:
        host = request.url.host.decode("ascii", errors="replace")
        if not _loopback(host):
            raise RuntimeError(f"real HTTP requests are forbidden in tests (tried {host})")

    async def guarded_async(
        self: httpcore.AsyncConnectionPool, request: httpcore.Request
    ) -> object:
        check(request)
        return await real_async(self, request)

    def guarded_sync(self: httpcore.ConnectionPool, request: httpcore.Request) -> object:
        check(request)
        return real_sync(self, request)

    monkeypatch.setattr(httpcore.AsyncConnectionPool, "handle_async_request", guarded_async)
    monkeypatch.setattr(httpcore.ConnectionPool, "handle_request", guarded_sync)
