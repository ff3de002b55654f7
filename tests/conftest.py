"""Fixtures for the worker's CPython tests (tests/test_worker_*.py). Imports
stay inside the fixtures: toycore's tests also run where Panel is not installed."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture()
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Steps are checked, not their speed: on a loaded machine a step of the
    app's embedding-angle slider took over foresight.MAX_S, which rightly
    stops its grid. test_a_slow_step_is_not_foreseen sets it back."""
    from app.worker import foresight

    monkeypatch.setattr(foresight, "MAX_S", 60.0)


@pytest.fixture()
def tuned() -> Iterator[None]:
    """Every tuning unit on for one test; Panel as it was afterwards."""
    from worker_support import PINS

    from app.worker import tuning

    level = logging.getLogger("panel").level
    on = tuning.install(PINS)
    assert all(on.values()), on
    try:
        yield
    finally:
        tuning.uninstall()
        logging.getLogger("panel").setLevel(level)
