"""Shared fixtures. Area-specific fixtures live in tests/plugins/<area>.py."""

from __future__ import annotations

import os
from pathlib import Path

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
