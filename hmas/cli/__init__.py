"""The ``hmas`` command line: one Typer app, one module per verb, errors handled once here."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from hmas import __version__
from hmas.cli.common import command_scope
from hmas.errors import EXIT_ERROR, HmasError

# Only Typer's public API: ``typer.TyperException`` is the documented base of every error Typer
# raises while parsing (a usage error carries ``ctx`` and exits 2), ``typer.Exit`` ends the
# command with a code. The vendored ``typer._click`` is private and changes between releases.


def _fail(message: str, exit_code: int) -> typer.Exit:
    """Print ``Error: …`` as ONE line on stderr; the caller raises the returned ``Exit``."""
    # A library message that carries a third party's multi-line text (a parser's, a driver's)
    # is folded, never printed as a block.
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    typer.echo(f"Error: {'; '.join(lines)}", err=True)
    return typer.Exit(exit_code)


def _is_help(exc: typer.TyperException) -> bool:
    """A group called without a command answers with its help page (``no_args_is_help``)."""
    ctx = getattr(exc, "ctx", None)
    return ctx is not None and exc.format_message() == ctx.get_help()


def _one_line(exc: typer.TyperException, command_path: str | None = None) -> typer.Exit:
    """Typer's own checks (a missing value, not a number, an unknown option) as the same one line
    as every other error, naming the command's help instead of printing its usage."""
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else command_path
    usage = exc.exit_code == 2  # Typer's usage errors exit 2; others (a file error) exit 1
    hint = f"; see {path} --help" if usage and path else ""
    return _fail(exc.format_message().rstrip(".") + hint, exc.exit_code)


class HmasGroup(TyperGroup):
    """The root group: translates library errors into a one-line message and an exit code."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        # The root's own options (--config, --db-url …) are parsed here, before ``invoke``.
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except typer.TyperException as exc:
            if _is_help(exc):
                raise
            raise _one_line(exc, info_name or "hmas") from None

    def invoke(self, ctx: Any) -> Any:
        try:
            with command_scope(ctx):
                return super().invoke(ctx)
        except HmasError as exc:
            raise _fail(str(exc), exc.exit_code) from None
        except typer.TyperException as exc:
            if _is_help(exc):
                raise
            raise _one_line(exc) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if (ctx.obj or {}).get("debug"):
                raise
            logging.getLogger("hmas").debug("unexpected error", exc_info=True)
            raise _fail(
                f"unexpected {type(exc).__name__}: {exc}; rerun with --debug for the traceback",
                EXIT_ERROR,
            ) from None


app = typer.Typer(
    cls=HmasGroup,
    name="hmas",
    help=(
        "Hierarchical multi-agent trading signals: fetch candles, analyse, decide and "
        "paper-trade, with every signal stored and replayable. Paper trading only.\n\n"
        "Example: hmas fetch --source sample --symbols BTC-USD ETH-USD --timeframe 1h"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hmas {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="TOML config file (default: ./hmas.toml if present). Example: --config prod.toml",
            envvar="HMAS_CONFIG",
            dir_okay=False,
        ),
    ] = None,
    db_url: Annotated[
        str | None,
        typer.Option(
            "--db-url",
            help="Store URL, overriding HMAS_DB_URL. Example: --db-url sqlite:///hmas.db",
        ),
    ] = None,
    log_level: Annotated[
        str,
        typer.Option("--log-level", help="Log level on stderr. Example: --log-level INFO"),
    ] = "WARNING",
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks of unexpected errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Global options, shared by every command."""
    level = "DEBUG" if debug else log_level.strip().upper()
    if level not in LOG_LEVELS:
        raise typer.BadParameter(
            f"{log_level!r} is not a log level; use one of {', '.join(LOG_LEVELS)}",
            param_hint="--log-level",
        )
    logging.basicConfig(
        level=getattr(logging, level),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = {"config": config, "db_url": db_url, "debug": debug}


def _mount() -> None:
    from hmas.cli import (
        analyze,
        backtest,
        candles,
        config,
        db,
        decide,
        fetch,
        health,
        kill_switch,
        llm,
        metrics,
        replay,
        report,
        resume,
        run,
        signals,
    )

    for module in (
        fetch,
        analyze,
        decide,
        run,
        backtest,
        report,
        replay,
        candles,
        kill_switch,
        resume,
        health,
        metrics,
    ):
        app.add_typer(module.app)
    app.add_typer(signals.app, name="signals", help=signals.HELP)
    app.add_typer(config.app, name="config", help=config.HELP)
    app.add_typer(db.app, name="db", help=db.HELP)
    app.add_typer(llm.app, name="llm", help=llm.HELP)


_mount()


def _bytecode_hint() -> None:
    """Say so when every command would recompile its libraries from source.

    Where ``PYTHONDONTWRITEBYTECODE`` is set and the environment was installed without compiled
    bytecode (``uv sync`` without ``--compile-bytecode``), each process compiles pandas and
    friends again: seconds per command. One stat of a cached file tells.
    """
    # A hint for a person at a terminal; scripts and pipes get the command's output only.
    if not sys.flags.dont_write_bytecode or not sys.stderr.isatty():
        return
    import importlib.util

    spec = importlib.util.find_spec("pandas")
    if spec is None or spec.origin is None or spec.cached is None:
        return
    if not Path(spec.cached).exists():
        sys.stderr.write(
            "hmas: this environment has no compiled bytecode and PYTHONDONTWRITEBYTECODE is set, "
            "so every command recompiles its libraries (seconds each); run "
            "'uv sync --compile-bytecode' once to fix it\n"
        )


def main() -> None:
    """Console-script entry point."""
    _bytecode_hint()
    app()
