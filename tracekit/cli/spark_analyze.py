"""``tracekit spark-analyze DATASET --out RESULTS``: the analyses on Apache Spark."""

from __future__ import annotations

import click

from tracekit.cli.options import memory_limit_option
from tracekit.errors import UserError
from tracekit.limits import memory_limit
from tracekit.spark.options import (
    DEFAULT_BUCKET_SPANS,
    DEFAULT_TASK_MEMORY,
    DEFAULT_TASK_SPANS,
    AnalyzeOptions,
)


def _settings(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict:
    settings = {}
    for value in values:
        key, sep, setting = value.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {value!r}")
        settings[key.strip()] = setting
    return settings


def _task_memory(ctx: click.Context, param: click.Parameter, value: str) -> str:
    checked = memory_limit(value, name="--task-memory")
    assert checked is not None
    return checked


@click.command("spark-analyze")
@click.argument("dataset")
@click.option(
    "--out",
    "out",
    required=True,
    metavar="RESULTS",
    help="Folder for the result set (created; an earlier result set there is replaced).",
)
@click.option(
    "--master",
    metavar="URL",
    default=None,
    help="Spark master: spark://HOST:PORT, yarn, k8s://..., local[N] "
    "(default: what spark-submit or Spark's defaults give).",
)
@click.option(
    "--conf",
    "conf",
    multiple=True,
    metavar="KEY=VALUE",
    callback=_settings,
    help="A Spark setting, e.g. spark.executor.memory=4g (repeatable).",
)
@click.option(
    "--bucket-spans",
    type=click.IntRange(min=100),
    default=DEFAULT_BUCKET_SPANS,
    show_default=True,
    help="Spans per bucket of whole traces; larger traces are processed alone.",
)
@click.option(
    "--task-spans",
    type=click.IntRange(min=1000),
    default=DEFAULT_TASK_SPANS,
    show_default=True,
    help="Spans per task of the trace stage.",
)
@click.option(
    "--task-memory",
    default=DEFAULT_TASK_MEMORY,
    show_default=True,
    metavar="SIZE",
    callback=_task_memory,
    help="DuckDB's memory in each task (it spills to local disk beyond it).",
)
@click.option(
    "--flow",
    "flows",
    multiple=True,
    metavar="NAME|FILE",
    help="A funnel to compute (repeatable; default: every built-in flow).",
)
@memory_limit_option
def command(
    dataset: str,
    out: str,
    master: str | None,
    conf: dict[str, str],
    bucket_spans: int,
    task_spans: int,
    task_memory: str,
    flows: tuple[str, ...],
    memory_limit: str | None,
) -> None:
    """Compute DATASET's results on Apache Spark and write them to RESULTS, a result set that
    tracekit sql, info and report open like a dataset (whole-data results: spark.* views).

    DATASET is a folder or a URI Spark reads (s3a://..., hdfs://...). Needs the spark extra
    and Java 17 or 21; docs/spark.md shows how to run it on a cluster.
    """
    from tracekit.analytics.funnel import load_flow
    from tracekit.spark import spark_analyze

    for flow in flows:
        load_flow(flow)  # a bad flow is one line before Spark starts
    options = AnalyzeOptions(
        bucket_spans=bucket_spans,
        task_spans=task_spans,
        task_memory=task_memory,
        flows=flows or None,
        driver_memory=memory_limit,
    )
    result = spark_analyze(
        dataset,
        out,
        master=master,
        conf=conf,
        options=options,
        progress=lambda message: click.echo(f"spark-analyze: {message}", err=True),
    )
    plan = result.plan
    click.echo(
        f"analyzed {dataset} on Spark: {plan.spans:,} spans, {plan.traces:,} traces in "
        f"{plan.buckets} buckets ({len(plan.oversized)} oversized traces); "
        f"{len(result.tables)} whole-data results in {result.out} "
        f"in {sum(result.seconds.values()):.1f} s"
    )
    for name, reason in sorted(result.skipped.items()):
        click.echo(f"  not computed: {name}: {reason}", err=True)
    if not result.tables:
        raise UserError("no whole-data result was computed")
