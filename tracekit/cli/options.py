"""Options several commands share, so each is spelled, parsed and documented once."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from tracekit.limits import MEMORY_LIMIT_ENV, memory_limit

F = TypeVar("F", bound=Callable[..., Any])


def _memory_limit(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from_env = ctx.get_parameter_source(param.name or "") == ParameterSource.ENVIRONMENT
    return memory_limit(value, name=MEMORY_LIMIT_ENV if from_env else "--memory-limit")


def memory_limit_option(command: F) -> F:
    """``--memory-limit SIZE`` (or ``TRACEKIT_MEMORY_LIMIT``): DuckDB's memory budget for the
    command's queries; beyond it DuckDB spills to disk or stops the query with one line."""
    return click.option(
        "--memory-limit",
        envvar=MEMORY_LIMIT_ENV,
        default=None,
        metavar="SIZE",
        callback=_memory_limit,
        help=f"Memory DuckDB may use, e.g. 4GB (default: DuckDB's; also ${MEMORY_LIMIT_ENV}).",
    )(command)


def kernel_memory_limit(limit: str | None) -> None:
    """Hand the memory limit to the report kernels, which inherit this process's environment
    (a notebook reads it in ``validate_params``)."""
    if limit is not None:
        os.environ[MEMORY_LIMIT_ENV] = limit
