"""``tracekit export``: pull every span of a time window out of a running Jaeger into a dataset."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from tracekit.cli.failures import writing
from tracekit.errors import UserError
from tracekit.export.answer import MiB
from tracekit.export.client import ClientOptions, JaegerClient
from tracekit.export.redact import Scrubber, parse_rules
from tracekit.export.run_export import ChunkSummary, ExportOptions, ExportReport, run_export
from tracekit.export.window import format_us, parse_duration_us, resolve_window

log = logging.getLogger("tracekit.export")


@click.command("export")
@click.option(
    "--jaeger",
    "url",
    envvar="TRACEKIT_JAEGER_URL",
    required=True,
    metavar="URL",
    help="Jaeger query base URL, e.g. http://localhost:16686 (or $TRACEKIT_JAEGER_URL).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DATASET",
    help="Dataset folder to add the spans to.",
)
@click.option("--since", metavar="DURATION", help="Window ending now (or at --end): 30m, 2h, 1d.")
@click.option("--start", metavar="TIME", help="Window start, ISO time (UTC unless zoned).")
@click.option("--end", metavar="TIME", help="Window end, ISO time or 'now' (default now).")
@click.option(
    "--service",
    "services",
    multiple=True,
    metavar="NAME",
    help="Only these services (repeatable); default: every service Jaeger knows.",
)
@click.option(
    "--api",
    type=click.Choice(["auto", "v3", "v1"]),
    default="auto",
    show_default=True,
    help="v3 = /api/v3 (OTLP JSON), v1 = classic /api/traces; auto prefers v3.",
)
@click.option("--token-env", metavar="VAR", help="Send a bearer token read from variable VAR.")
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="'K: V'",
    help="Extra request header (repeatable).",
)
@click.option(
    "--ca-bundle",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="PEM file of CA certificates to trust for https.",
)
@click.option("--insecure", is_flag=True, help="Do not verify TLS certificates.")
@click.option(
    "--redact",
    "redact",
    multiple=True,
    metavar="RULE",
    help="drop:PATTERN, hash:PATTERN or strip-query[:PATTERN] (repeatable).",
)
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=500,
    show_default=True,
    help="Traces per search; a full search is split in halves.",
)
@click.option(
    "--chunk",
    default="15m",
    show_default=True,
    metavar="DURATION",
    help="Commit every chunk of this much time (an interrupted run keeps them).",
)
@click.option(
    "--overlap",
    default="5m",
    show_default=True,
    metavar="DURATION",
    help="The last DURATION before a run counts as unsettled and is fetched again.",
)
@click.option(
    "--refresh",
    is_flag=True,
    help="Fetch the whole window again, ignoring what the manifest says is done.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1),
    default=60.0,
    show_default=True,
    help="Seconds one request may take in all: connecting, waiting, reading the whole answer.",
)
@click.option(
    "--max-answer",
    type=click.IntRange(1, 64 * 1024),
    default=128,
    show_default=True,
    metavar="MIB",
    help="Largest answer read, in MiB after decompression (a larger one stops the export).",
)
@click.option(
    "--connect-timeout",
    type=click.FloatRange(0.1),
    default=5.0,
    show_default=True,
    help="Seconds to wait for a connection.",
)
@click.option(
    "--retries",
    type=click.IntRange(0),
    default=5,
    show_default=True,
    help="Retries per request on connection errors, 429 and 5xx (backoff + jitter).",
)
@click.option(
    "--workers", type=click.IntRange(1, 32), default=4, show_default=True, help="Parallel requests."
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar (default: on a terminal; log lines otherwise).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress or log lines, only the summary.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Summary format on stdout.",
)
def command(
    url: str,
    out: Path,
    since: str | None,
    start: str | None,
    end: str | None,
    services: tuple[str, ...],
    api: str,
    token_env: str | None,
    headers: tuple[str, ...],
    ca_bundle: str | None,
    insecure: bool,
    redact: tuple[str, ...],
    limit: int,
    chunk: str,
    overlap: str,
    refresh: bool,
    timeout: float,
    max_answer: int,
    connect_timeout: float,
    retries: int,
    workers: int,
    progress: bool | None,
    quiet: bool,
    output_format: str,
) -> None:
    """Export spans from a running Jaeger (v3 or classic API) into DATASET.

    Complete (adaptive window splitting, per service, dedup), incremental and resumable (the
    manifest remembers finished chunks), retrying transient failures.
    """
    window = resolve_window(since, start, end)
    redactor = parse_rules(redact)
    chunk_us = parse_duration_us(chunk, "--chunk")
    overlap_us = _overlap(overlap)
    client = JaegerClient(
        ClientOptions(
            url=url,
            token_env=token_env,
            headers=list(headers),
            ca_bundle=ca_bundle,
            insecure=insecure,
            connect_timeout=connect_timeout,
            timeout=timeout,
            max_answer_bytes=max_answer * MiB,
            retries=retries,
            pool_size=max(workers, 2),
        )
    )
    options = ExportOptions(
        out=out,
        window=window,
        services=list(services),
        api=api,
        limit=limit,
        chunk_us=chunk_us,
        overlap_us=overlap_us,
        workers=workers,
        refresh=refresh,
        # a server may echo the credentials into span data too: they are never stored
        redactor=redactor.with_secrets(client.secrets),
    )
    use_bar = (sys.stderr.isatty() if progress is None else progress) and not quiet
    reporter = _Reporter(use_bar, quiet, client.scrubber)
    try:
        with writing(out):  # a read-only or full disk: one line (each commit is atomic)
            report = run_export(client, options, on_chunk=reporter.chunk, on_plan=reporter.plan)
    except UserError as error:
        reporter.close(failed=True)
        # every message passes the scrubber: servers put what they like into theirs
        raise UserError(client.scrubber.scrub(str(error))) from None
    except BaseException:
        reporter.close(failed=True)
        raise
    finally:
        client.close()
    reporter.close(failed=False)
    _print_summary(report, client.display_url, output_format)


def _overlap(text: str) -> int:
    return 0 if text.strip() in ("0", "0s") else parse_duration_us(text, "--overlap")


class _Reporter:
    """A tqdm bar on a terminal, one log line per committed chunk otherwise."""

    def __init__(self, bar: bool, quiet: bool, scrubber: Scrubber) -> None:
        self.bar_wanted = bar
        self.quiet = quiet
        self.bar: Any = None
        self.done = 0
        self.spans = 0
        self.added = 0
        self.handler: _HeldHandler | None = None
        if not quiet:
            self.handler = _HeldHandler(sys.stderr)
            self.handler.setFormatter(_ScrubbingFormatter("export: %(message)s", scrubber))
            log.addHandler(self.handler)
            log.setLevel(logging.WARNING if bar else logging.INFO)
            log.propagate = False

    def plan(self, chunks: int) -> None:
        if self.bar_wanted and chunks:
            from tqdm import tqdm

            # A terminal that reports no size (0 columns) would get an empty bar: fall back.
            width = shutil.get_terminal_size((100, 20)).columns
            self.bar = tqdm(
                total=chunks, unit="chunk", desc="export", file=sys.stderr, ncols=min(width, 120)
            )

    def chunk(self, summary: ChunkSummary) -> None:
        counts = summary.counts
        if self.handler is not None:
            self.handler.let_through()
        self.done += summary.chunks
        self.spans += counts["spans"]
        self.added += counts["added"]
        if self.bar is not None:
            self.bar.set_postfix(spans=self.spans, new=self.added, refresh=False)
            self.bar.update(summary.chunks)
        elif not self.quiet:
            log.info(
                "%d/%d chunks, committed %s..%s: %d traces, %d spans (%d new), %d searches, "
                "%d splits",
                self.done,
                summary.total,
                format_us(summary.interval[0]),
                format_us(summary.interval[1]),
                counts["traces"],
                counts["spans"],
                counts["added"],
                counts["searches"],
                counts["splits"],
            )

    def close(self, failed: bool) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.handler is not None:
            if not failed:
                self.handler.let_through()
            log.removeHandler(self.handler)


class _HeldHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Holds log lines back until the first commit: a run that fails before storing anything
    prints only its one error line (its retries are summed up in it: "gave up after N
    attempts"); once a chunk is committed, lines go out as they come."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.held: list[logging.LogRecord] | None = []

    def emit(self, record: logging.LogRecord) -> None:
        if self.held is not None:
            self.held.append(record)
        else:
            super().emit(record)

    def let_through(self) -> None:
        """Print what was held, and every line from now on. (Not `release`: that is
        logging.Handler's lock.)"""
        with self.lock:  # type: ignore[union-attr]
            held, self.held = self.held, None
            for record in held or ():
                super().emit(record)


class _ScrubbingFormatter(logging.Formatter):
    """Log lines without credentials (a retry's reason may quote a server's answer)."""

    def __init__(self, fmt: str, scrubber: Scrubber) -> None:
        super().__init__(fmt)
        self.scrubber = scrubber

    def format(self, record: logging.LogRecord) -> str:
        return self.scrubber.scrub(" ".join(super().format(record).split()))


def _print_summary(report: ExportReport, url: str, output_format: str) -> None:
    summary = report.as_dict()
    if output_format == "json":
        click.echo(json.dumps({"jaeger": url, **summary}, indent=1))
        return
    if report.chunks_total == 0:
        click.echo(
            f"nothing to export from {url}: the window {summary['window'][0]} .. "
            f"{summary['window'][1]} is already in the dataset (--refresh fetches it again)"
        )
        return
    click.echo(
        f"exported {summary['spans']} spans of {summary['traces']} traces from {url} "
        f"(api {summary['api']}, {len(report.services)} services): {summary['added']} new; "
        f"{summary['chunks']} chunks, {summary['searches']} searches, {summary['splits']} splits, "
        f"{summary['refetched']} refetched by id, {summary['retries']} retries, "
        f"{summary['seconds']:.1f}s"
    )
    if summary["saturated"]:
        click.echo(
            f"export: warning: {summary['saturated']} sub-windows of a millisecond still hit "
            "--limit; spans may be missing: rerun with a larger --limit and --refresh",
            err=True,
        )
