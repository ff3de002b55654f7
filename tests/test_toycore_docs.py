"""The notebook example in docs/toycore-api.md must run and print what it says."""

import contextlib
import io
import pathlib
import re

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "toycore-api.md"


def blocks_after(heading: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```[a-z]*\n(.*?)```", section, flags=re.S)


def test_five_line_notebook_example_runs_and_prints_the_documented_output():
    code, expected = blocks_after("## Five lines in a notebook")[:2]
    assert len(code.strip().splitlines()) == 5
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), {})
    assert out.getvalue().strip() == expected.strip()


def test_documented_compact_diff_matches_the_code():
    import toycore as tc

    m = tc.ToyModel.default().with_(activation="gelu").set_neuron(0, bias=-0.25)
    diff = tc.state.diff_from_default(m.to_state())
    doc = DOC.read_text(encoding="utf-8")
    assert '`{"v": 1, "config": {"activation": "gelu"}, "neurons": [[0, "bias", -0.25]]}`' in doc
    assert diff == {"v": 1, "config": {"activation": "gelu"}, "neurons": [[0, "bias", -0.25]]}


def test_causal_tracing_example_runs_and_prints_the_documented_output():
    code, expected = blocks_after("## Causal tracing")[:2]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile("import toycore as tc\n" + code, str(DOC), "exec"), {})
    assert out.getvalue().strip() == expected.strip()
