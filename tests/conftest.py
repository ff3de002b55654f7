"""Fixtures for the worker's CPython tests (tests/test_worker_*.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from worker_support import PINS

from app.worker import foresight, tuning


@pytest.fixture()
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Steps are checked, not their speed: on a loaded machine a step of the
    app's embedding-angle slider took over foresight.MAX_S, which rightly
    stops its grid. test_a_slow_step_is_not_foreseen sets it back."""
    monkeypatch.setattr(foresight, "MAX_S", 60.0)


@pytest.fixture()
def tuned() -> Iterator[None]:
    """Every tuning unit on for one test; Panel as it was afterwards."""
    level = logging.getLogger("panel").level
    on = tuning.install(PINS)
    assert all(on.values()), on
    try:
        yield
    finally:
        tuning.uninstall()
        logging.getLogger("panel").setLevel(level)
