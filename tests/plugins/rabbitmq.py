"""``pipeline``: the workshop's order pipeline run for real (RabbitMQ, instrumented services,
Jaeger), exported by tracekit, with every order's fate confirmed by the real systems.

``pipeline("ids")`` runs the variant once per session (tests/realsys/pipeline/run.py:
``ids``, ``no-ids``, ``slow``) and returns its PipelineRun: ``.dataset``, ``.orders`` (fate,
HTTP answer, trace id, crm's log entry, the broker's dead-letter reason), ``.broker`` (counts)
and ``.seed`` (drawn per session; put it in assertion messages). The broker and a Jaeger of its
own (other tests send simulated mes/crm spans to the shared one) are started once per session
on free ports and stopped by pid.

Without RabbitMQ (Debian's `rabbitmq-server`) or the pipeline's environment
(scripts/pipeline_venv.py) the tests skip saying how to enable them; in CI they fail.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import need
from tests.plugins.jaeger import load_jaeger_script, save_searches
from tests.realsys.pipeline.run import VARIANTS, PipelineRun, load_script, run_pipeline

# the services that trace (shop-api propagates nothing and sends no spans)
TRACED = ("mes-api", "mes", "crm")

Pipeline = Callable[[str], PipelineRun]


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A running broker (scripts/rabbitmq.py RabbitMQInstance), started once per session."""
    script = load_script("rabbitmq")
    try:
        script.server_script()
        script.epmd_binary()
    except script.RabbitMQUnavailable as error:
        need(False, "RabbitMQ", str(error))
    instance = script.start(state_file=tmp_path_factory.mktemp("rabbitmq") / "state.json")
    try:
        yield instance
    finally:
        script.stop(instance)


@pytest.fixture(scope="session")
def pipeline(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """Factory: ``pipeline("ids")`` -> the PipelineRun of that variant, run once per session."""
    venv = load_script("pipeline_venv")
    python = venv.python_path()
    need(python is not None, "the pipeline's Python environment", venv.HOW_TO_BUILD)
    rabbitmq = request.getfixturevalue("rabbitmq")  # started only when the tests can run
    script = load_jaeger_script()
    try:
        script.ensure_binary()
    except script.JaegerError as error:
        need(False, "Jaeger", f"{error}; `make jaeger-up` builds it")
    folder = tmp_path_factory.mktemp("pipeline")
    ports = dict(
        zip(script.DEFAULT_PORTS, script.free_ports(len(script.DEFAULT_PORTS)), strict=True)
    )
    jaeger = script.start(ports, state_file=folder / "jaeger.json", log_file=folder / "jaeger.log")
    runs: dict[str, PipelineRun] = {}

    def run(variant: str) -> PipelineRun:
        if variant not in runs:
            seed = random.randrange(1_000_000)
            print(f"pipeline {variant}: seed {seed}")
            runs[variant] = run_pipeline(
                VARIANTS[variant],
                python=python,
                rabbitmq=rabbitmq,
                jaeger_otlp_url=jaeger.otlp_http_url,
                jaeger_query_url=jaeger.query_url,
                folder=folder / variant,
                seed=seed,
            )
            # Jaeger's own answers, beside the dataset tracekit exported (through API v3)
            save_searches(
                jaeger.query_url, TRACED, runs[variant].export_window_us, folder / variant
            )
        return runs[variant]

    try:
        yield run
    finally:
        script.stop(jaeger)
