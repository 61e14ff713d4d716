"""Developer sessions: ``nox -s tests lint typecheck bench docs``."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["tests", "lint", "typecheck"]

PYTHONS = ["3.12", "3.13"]


def _install(session: nox.Session, *groups: str) -> None:
    """``uv sync`` of the lock into the session: the dev group and ``groups``."""
    extra = [arg for group in groups for arg in ("--group", group)]
    session.run_install(
        "uv",
        "sync",
        "--frozen",
        "--group",
        "dev",
        *extra,
        f"--python={session.virtualenv.location}",
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
    )


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite."""
    _install(session)
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHONS[0])
def lint(session: nox.Session) -> None:
    """ruff check and format --check; the layering contracts (import-linter)."""
    _install(session)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session(python=PYTHONS[0])
def typecheck(session: nox.Session) -> None:
    """mypy --strict on hmas/."""
    _install(session)
    session.run("mypy")


@nox.session(python=PYTHONS[0])
def bench(session: nox.Session) -> None:
    """The benchmarks: prints every measured figure next to its target (vectorbt included)."""
    _install(session, "bench")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session(python=PYTHONS[0])
def soak(session: nox.Session) -> None:
    """hmas run for 10,000 iterations on the sample market: its memory at start and end."""
    _install(session)
    session.run("python", "benchmarks/soak.py", *session.posargs)


@nox.session(python=PYTHONS[0])
def docs(session: nox.Session) -> None:
    """Help text and docs are current: every command documented, with an example."""
    _install(session)
    session.run("pytest", "tests/cli/test_cli.py", "-k", "help or documented")
