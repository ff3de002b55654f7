import pytest
from hypothesis import given
from hypothesis import strategies as st

import toycore as tc


def test_parse_canonical_casing_and_whitespace():
    assert tc.parse_name("  michael    JORDAN ") == ["Michael", "Jordan"]
    assert tc.parse_name("lebron james") == ["LeBron", "James"]
    assert tc.parse_name("Michael Jordan?") == ["Michael", "Jordan"]
    assert tc.parse_name("Wayne Gretzky ICE hockey") == ["Wayne", "Gretzky", "ice hockey"]
    assert tc.parse_name("Zorg") == ["Zorg"]


def test_tokenize_flags_unknown():
    assert tc.tokenize("Michael Zorg") == (["Michael", "Zorg"], [False, True])


def test_parse_errors_are_readable():
    with pytest.raises(tc.ParseError, match="Type a name"):
        tc.parse_name("   ")
    with pytest.raises(tc.ParseError, match="too long"):
        tc.parse_name("x" * 201)
    with pytest.raises(tc.ParseError, match="at most 8 words"):
        tc.parse_name("a b c d e f g h i")
    assert len(tc.parse_name("a b c d e f g h")) == 8


@given(st.text(max_size=250))
def test_parse_returns_tokens_or_parse_error(text):
    try:
        tokens = tc.parse_name(text)
    except tc.ParseError as err:
        assert str(err)
    else:
        assert 1 <= len(tokens) <= 8 and all(t.strip() for t in tokens)
