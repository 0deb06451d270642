"""Shared fixtures. Area-specific fixtures live in tests/plugins/<area>.py."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest

pytest_plugins: list[str] = [
    "tests.plugins.simulated",
    "tests.plugins.jaeger",
    "tests.plugins.hotrod",
    "tests.plugins.fault_proxy",
    "tests.plugins.hostile_server",
    "tests.plugins.analytics",
    "tests.plugins.reports",
    "tests.plugins.browser",
    "tests.plugins.hostile",
    "tests.plugins.rabbitmq",
    "tests.plugins.spark",
]

REPO = Path(__file__).resolve().parent.parent
EVAL_DIR = REPO.parent / "shared" / "eval"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# Seeds: each session draws a base, printed in the report header (TRACEKIT_TEST_SEED=<base>
# repeats a session's seeds). A test names its seed by a small number, and ``drawn(number)`` is
# the base plus it: the datasets a session shares stay shared, two numbers stay two seeds, and
# no test runs on a seed fixed once because it passed.
SEED_BASE = int(os.environ.get("TRACEKIT_TEST_SEED") or random.randrange(2**31))


def drawn(number: int) -> int:
    """The session's seed named ``number`` (see SEED_BASE)."""
    return (SEED_BASE + number) % 2**32


def _seeds_line() -> str:
    return f"seeds: base {SEED_BASE} (TRACEKIT_TEST_SEED={SEED_BASE} repeats this session's seeds)"


def pytest_report_header(config: pytest.Config) -> str:
    return _seeds_line()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    # also under -q, which leaves the header out
    terminalreporter.write_line(_seeds_line())


def need(condition: bool, what: str, how: str) -> None:
    """Skip (on a user's machine) or fail (in CI) when a real component is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} is missing in CI, where every real component must run: {how}")
    pytest.skip(f"{what} is missing; to run this test: {how}")


@pytest.fixture(scope="session")
def eval_dir() -> Path:
    """The shared real fixtures (../shared/eval); tests using them skip when it is absent."""
    if not EVAL_DIR.is_dir():
        pytest.skip(f"{EVAL_DIR} is absent (it sits beside the repository in CI)")
    return EVAL_DIR


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """A path for a fresh dataset (not created yet)."""
    return tmp_path / "dataset"
