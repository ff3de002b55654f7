"""AppState's URL form: every parameter round-trips, bad links never raise."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import param
from hypothesis import given, settings
from hypothesis import strategies as st

from app.state import (
    REGISTRY,
    SECTIONS,
    AppState,
    from_query,
    section_entry,
    state_keys,
    to_query,
)

ROOT = Path(__file__).resolve().parents[1]


def _strategy(p: param.Parameter) -> st.SearchStrategy:
    if isinstance(p, param.Boolean):
        return st.booleans()
    if isinstance(p, param.ListSelector):
        return st.lists(st.sampled_from(list(SECTIONS)), min_size=1, unique=True)
    if isinstance(p, param.Selector):
        return st.sampled_from(list(p.objects))
    if isinstance(p, param.Integer):
        lo, hi = p.bounds
        return st.integers(lo, hi)
    if isinstance(p, param.Number):
        lo, hi = p.bounds
        return st.floats(lo, hi, allow_nan=False)
    if isinstance(p, param.String):
        # What survives a round trip: whitespace-collapsed text.
        return st.text(max_size=40).map(lambda t: " ".join(t.split()))
    raise AssertionError(f"no strategy for {type(p).__name__}")


STATE = st.fixed_dictionaries({k: _strategy(AppState.param[k]) for k in state_keys()})


@settings(max_examples=200, deadline=None)
@given(STATE)
def test_every_param_round_trips(values: dict) -> None:
    state = AppState(**values)
    back, warnings = from_query(to_query(state))
    assert warnings == []
    restored = AppState(**back)
    for key in state_keys():
        a, b = getattr(state, key), getattr(restored, key)
        if isinstance(a, float):
            assert math.isclose(a, b, rel_tol=1e-11, abs_tol=1e-12), key
        else:
            assert a == b, key


def test_default_state_has_an_empty_query() -> None:
    assert to_query(AppState()) == ""


def test_slider_values_stay_short_in_the_url() -> None:
    assert to_query(AppState(bias=0.1 + 0.2)) == "?bias=0.3"


BAD = [
    ("bias=nan", "bias", -1.0), ("bias=inf", "bias", -1.0), ("bias=-1e999", "bias", -1.0),
    ("bias=1e300", "bias", 3.0), ("neuron=99999999999", "neuron", 255),
    ("row_first=abc", "row_first", 1.0), ("sp_n=-5", "sp_n", 2),
    ("alt_sport=chess", "alt_sport", "golf"), ("presenter=maybe", "presenter", False),
    ("show=nothing", "show", list(SECTIONS)), ("angle_mj=", "angle_mj", 90.0),
    ("p_d_model=1e20", "p_d_model", 1_000_000), ("theme=<script>", "theme", "light"),
]


def test_bad_values_fall_back_with_a_message() -> None:
    for query, key, expected in BAD:
        values, warnings = from_query(query)
        state = AppState(**values)
        assert getattr(state, key) == expected, query
        assert warnings and all(len(w) <= 160 for w in warnings), query


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_garbage_never_raises(query: str) -> None:
    values, warnings = from_query(query)
    AppState(**values)  # every value from_query returns is valid
    assert all(len(w) <= 160 for w in warnings)


def test_partial_show_keeps_known_sections() -> None:
    values, warnings = from_query("show=neuron,zzz,recall")
    assert values["show"] == ["neuron", "recall"]
    assert any("zzz" in w for w in warnings)


def test_the_registry_states_each_section_once_in_page_order() -> None:
    """SECTIONS is the registry's keys; each title's number is its place."""
    assert SECTIONS == tuple(e.key for e in REGISTRY)
    assert len(set(SECTIONS)) == len(SECTIONS)
    for i, entry in enumerate(REGISTRY, start=1):
        assert entry.title.startswith(f"{i}. "), entry
        assert entry.module == f"app.{entry.key}" and entry.cls.endswith("Section"), entry
        assert section_entry(entry.key) is entry
    assert list(AppState.param.show.objects) == list(SECTIONS)


def test_the_registry_imports_no_panel() -> None:
    """app.state stays plain: param, not Panel (checked in a fresh interpreter)."""
    code = ("import sys, app.state; "
            "sys.exit(any(m.split('.')[0] in ('panel', 'bokeh') for m in sys.modules))")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
