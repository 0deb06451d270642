"""The ``tracekit`` command line: a click group whose commands live one per module here.

Commands are imported only when used, so ``tracekit sql`` does not pay for papermill's import.
User errors (``UserError``, bad flags) print one line on stderr and exit 2, with no traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

import click

from tracekit.errors import UserError

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
}


class LazyGroup(click.Group):
    """A group that imports a command's module the first time the command is needed."""

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
    except click.exceptions.Abort:
        _fail("aborted")
    except KeyboardInterrupt:
        _fail("interrupted; nothing was committed by the step in progress")
    except BrokenPipeError:
        sys.exit(0)


def _fail(message: str) -> None:
    click.echo(f"tracekit: error: {' '.join(message.split())}", err=True)
    sys.exit(2)
