"""The ``tracekit`` command line: a click group whose commands live one per module here.

Commands are imported only when used, so ``tracekit sql`` does not pay for papermill's import.
User errors (``UserError``, bad flags) print one line on stderr and exit 2, with no traceback.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import importlib.util
import sys
from typing import Any

import click

from tracekit.errors import UserError, damaged_dataset_file

# command name -> module under tracekit.cli exporting a click command named ``command``
COMMANDS = {
    "import": "import_",
    "info": "info",
    "sql": "sql",
    "simulate": "simulate",
    "export": "export",
    "capacity": "capacity",
    "report": "report",
    "demo": "demo",
    "upgrade": "upgrade",
    "repair": "repair",
    "spark-analyze": "spark_analyze",
}


class Interrupted(Exception):
    """Ctrl-C while a command ran."""


class LazyGroup(click.Group):
    """A group that imports a command's module the first time the command is needed."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args:  # bare `tracekit`: the usage, as --help gives it (click would raise)
            click.echo(ctx.get_help())
            ctx.exit(0)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # click would print an empty line and raise Abort ("aborted"): keep it to one line
            raise Interrupted from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if _module_exists(COMMANDS[name])]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMANDS.get(cmd_name)
        if module_name is None or not _module_exists(module_name):
            return None
        module = importlib.import_module(f"tracekit.cli.{module_name}")
        command: click.Command = module.command
        return command


def _module_exists(module_name: str) -> bool:
    return importlib.util.find_spec(f"tracekit.cli.{module_name}") is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tracekit")
def cli() -> None:
    """tracekit: trace analytics and capacity planning on top of Jaeger."""


# At exit the interpreter collects every cyclic object left (pandas', numba's, pyarrow's
# modules): 0.33 s after an import of 160k spans. Frozen objects are skipped; the process is
# ending, and what closing needs (files, connections) is released by reference counts and the
# OS either way.
atexit.register(gc.freeze)


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the ``tracekit`` console script."""
    try:
        result = cli.main(args=argv, prog_name="tracekit", standalone_mode=False)
        if isinstance(result, int) and result:
            sys.exit(result)
        return result
    except UserError as exc:
        _fail(str(exc))
    except click.UsageError as exc:
        where = f"{exc.ctx.command_path}: " if exc.ctx is not None else "tracekit: "
        _fail(where + exc.format_message())
    except click.ClickException as exc:
        _fail(exc.format_message())
    except (Interrupted, KeyboardInterrupt, click.exceptions.Abort):
        click.echo("tracekit: interrupted; nothing half-done was kept", err=True)
        sys.exit(130)  # 128 + SIGINT, as shells report a command stopped by Ctrl-C
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:
        damaged = damaged_dataset_file(exc)
        if damaged is None:
            raise
        _fail(damaged)


def _fail(message: str) -> None:
    click.echo(f"tracekit: error: {' '.join(message.split())}", err=True)
    sys.exit(2)
