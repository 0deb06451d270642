"""Read-only ad-hoc SQL over a dataset: what ``tracekit sql`` runs.

The query is confined: it may only read (SELECT, EXPLAIN), only files inside the dataset's
folder, and cannot change that (DuckDB's ``lock_configuration``). It is bounded: a memory limit
(DuckDB spills to a private folder beyond it) and a timeout, and Ctrl-C stops it at once. It
runs on a worker thread so that the main thread stays free to take Ctrl-C or notice the
deadline and call ``con.interrupt()``: while DuckDB runs, the main thread would see the signal
only when DuckDB next checks for it, which a long operator can put off for tens of seconds.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa

from tracekit.connect import connect
from tracekit.errors import UserError, damaged_dataset_file

# Statement types that only read. Anything else (COPY, INSERT, ATTACH, SET, ...) is refused, so
# an analyst's query can neither change the dataset nor write files next to it.
_READ_ONLY = {
    duckdb.StatementType.SELECT,
    duckdb.StatementType.EXPLAIN,
}
# How long an interrupted query gets to unwind before we stop waiting for it (measured: a
# hash aggregate over 50M rows stops ~20 ms after con.interrupt()).
_UNWIND_S = 2.0
# How often the main thread looks up from waiting (Ctrl-C is taken at once regardless).
_POLL_S = 0.1


def run_query(
    dataset: str | os.PathLike[str],
    query: str,
    *,
    timeout_s: float | None = None,
    memory_limit: str | None = None,
) -> pa.Table:
    """Run read-only SQL on the dataset's views and return the last statement's result.

    Several statements separated by ``;`` run in order (each only reads, so the earlier ones
    matter only for their errors); the result is the last one's, as DuckDB's own ``sql()`` gives.
    A query running past ``timeout_s`` seconds is stopped with a UserError; Ctrl-C stops it and
    raises KeyboardInterrupt. ``memory_limit`` (e.g. ``"4GB"``) caps DuckDB's memory.

    >>> run_query("data/sample", "SELECT count(*) AS n FROM spans")  # doctest: +SKIP
    """
    worker = _Worker()
    con = connect(dataset, memory_limit=memory_limit)
    try:
        statements = _read_only_statements(con, query)
        _confine(con, dataset)
        return worker.run(con, lambda: _execute(con, statements), timeout_s)
    finally:
        if not worker.busy:  # closing a connection under a running query can crash DuckDB
            con.close()


def _read_only_statements(con: duckdb.DuckDBPyConnection, query: str) -> list[Any]:
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise UserError(f"query: {_first_line(exc)}") from None
    if not statements:
        raise UserError("query: empty query")
    for statement in statements:
        if statement.type not in _READ_ONLY:
            raise UserError(
                f"query: only SELECT queries are allowed here, not {statement.type.name}"
            )
    return list(statements)


def _confine(con: duckdb.DuckDBPyConnection, dataset: str | os.PathLike[str]) -> None:
    """Files readable only inside the dataset, and the query cannot undo that.

    DuckDB also admits its temp_directory, by default ``.tmp`` in the working directory, where
    any file would be readable: ``connect`` points it at a private folder of the connection's
    own (tests/test_cli_sql_limits.py checks both).
    """
    root = os.path.abspath(dataset).rstrip("/") + "/"
    con.execute("SET allowed_directories = [$root]", {"root": root})
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _execute(con: duckdb.DuckDBPyConnection, statements: list[Any]) -> pa.Table:
    *first, last = statements
    for statement in first:
        con.execute(statement)
        _finish(con)
    return con.sql(last.query).to_arrow_table()


def _finish(con: duckdb.DuckDBPyConnection) -> None:
    """Run the pending result to its end without keeping its rows (DuckDB 2 refuses the next
    statement while one is pending; DuckDB 1 has no ``complete``)."""
    if hasattr(con, "complete"):
        con.complete()
    else:
        con.fetchall()


class _Worker:
    """Runs the query on a thread of its own; interrupts it at the timeout or on Ctrl-C."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        """Still running (an interrupted query that did not unwind in time)."""
        return self.thread is not None and self.thread.is_alive()

    def run(
        self,
        con: duckdb.DuckDBPyConnection,
        work: Callable[[], pa.Table],
        timeout_s: float | None,
    ) -> pa.Table:
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["result"] = work()
            except BaseException as exc:  # handed to the main thread, which raises it
                outcome["error"] = exc

        self.thread = worker = threading.Thread(target=target, name="tracekit-sql", daemon=True)
        interrupted = threading.Event()

        def on_ctrl_c(signum: int, frame: Any) -> None:
            interrupted.set()
            con.interrupt()

        # Ctrl-C must not raise KeyboardInterrupt here: raised in this thread while DuckDB runs
        # on the worker, it ended the worker thread inside DuckDB and crashed the process at
        # exit (DuckDB 2.0.1). The handler only asks DuckDB to stop.
        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, on_ctrl_c) if in_main else None
        started = time.monotonic()
        try:
            worker.start()
            while worker.is_alive() and not interrupted.is_set():
                worker.join(_POLL_S)
                overdue = timeout_s is not None and time.monotonic() - started >= timeout_s
                if overdue and worker.is_alive():
                    self._interrupt(con)
                    raise UserError(
                        f"query: stopped after {timeout_s:g} s (--timeout); narrow it with "
                        "WHERE or LIMIT, or give it longer"
                    )
            if interrupted.is_set():
                self._interrupt(con)
                raise KeyboardInterrupt
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        error = outcome.get("error")
        if isinstance(error, duckdb.OutOfMemoryException):
            limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
            raise UserError(
                f"query: needs more memory than its limit of {limit} even when spilling to "
                "disk; raise --memory-limit (or TRACEKIT_MEMORY_LIMIT), or narrow the query"
            ) from None
        if isinstance(error, duckdb.Error):
            # a committed file missing or damaged: the views read the files when a query runs
            damaged = damaged_dataset_file(error)
            raise UserError(damaged or f"query: {_first_line(error)}") from None
        if error is not None:
            raise error
        result: pa.Table = outcome["result"]
        return result

    def _interrupt(self, con: duckdb.DuckDBPyConnection) -> None:
        con.interrupt()
        if self.thread is not None:
            self.thread.join(_UNWIND_S)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
