"""Parameter counts: every expected value is written out as arithmetic here,
independently of toycore.params, so a slip in the module cannot hide itself."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toycore.params import PRESETS, Breakdown, ModelShape, count, lesson_formula

D3 = 12288
H3 = 4 * 12288


def test_gpt3_mlp_pieces_match_the_brief() -> None:
    b = count(PRESETS["gpt3-175b"].replace(biases=True))
    assert H3 == 49_152
    assert b.mlp_w_up == 49_152 * 12_288 == 603_979_776
    assert b.mlp_b_up == 49_152
    assert b.mlp_w_down == 12_288 * 49_152 == 603_979_776
    assert b.mlp_b_down == 12_288
    assert b.mlp_per_layer == 603_979_776 * 2 + 49_152 + 12_288 == 1_208_020_992
    assert b.mlp == 96 * 1_208_020_992 == 115_970_015_232


def test_gpt3_mlp_without_biases() -> None:
    b = count(PRESETS["gpt3-175b"])
    assert b.mlp_b_up == 0 and b.mlp_b_down == 0
    assert b.mlp == 96 * 2 * 49_152 * 12_288 == 115_964_116_992


def test_gpt3_total_is_the_lessons_formula() -> None:
    shape = PRESETS["gpt3-175b"]
    expected = 96 * (4 * D3 * D3 + 8 * D3 * D3) + 2 * 50_257 * D3
    assert expected == 175_181_291_520
    assert count(shape).total == expected
    assert lesson_formula(12288, 96, 50257) == expected


def test_gpt3_mlp_share_is_about_two_thirds() -> None:
    b = count(PRESETS["gpt3-175b"])
    assert b.mlp_share == pytest.approx(115_964_116_992 / 175_181_291_520)
    assert 0.64 < b.mlp_share < 0.68
    # Biases do not change the story.
    assert 0.64 < count(PRESETS["gpt3-175b"].replace(biases=True)).mlp_share < 0.68


def test_gpt2_small_published_total() -> None:
    d, v, n_ctx, h, n = 768, 50_257, 1024, 3072, 12
    attn = 4 * d * d + 4 * d
    mlp = 2 * d * h + h + d
    ln = 2 * 2 * d
    expected = v * d + n_ctx * d + n * (attn + mlp + ln) + 2 * d
    assert expected == 124_439_808
    b = count(PRESETS["gpt2-small"])
    assert b.total == expected
    assert b.embedding == v * d
    assert b.position == n_ctx * d
    assert b.unembedding == 0
    assert b.attention_per_layer == attn
    assert b.mlp_per_layer == mlp
    assert b.layer_norms == n * ln + 2 * d


def test_untying_adds_one_vocab_by_d_matrix() -> None:
    tied = count(PRESETS["gpt2-small"])
    untied = count(PRESETS["gpt2-small"].replace(tied_embeddings=False))
    assert untied.total - tied.total == 50_257 * 768


def test_toy_preset_is_small_and_countable() -> None:
    b = count(PRESETS["toy"])
    s = PRESETS["toy"]
    assert b.mlp_per_layer == 2 * s.d_model * s.d_mlp + s.d_mlp + s.d_model
    assert b.total < 100_000


def test_toy_preset_matches_toycores_default_model() -> None:
    toycore = pytest.importorskip("toycore")
    if not hasattr(toycore, "ToyModel"):
        pytest.skip("toycore.ToyModel not available")
    model = toycore.ToyModel.default()
    toy = PRESETS["toy"]
    assert (toy.d_model, toy.d_mlp) == (model.cfg.d_model, model.cfg.d_mlp)
    assert toy.vocab == len(model.vocab.names)
    # Every number the toy holds: its directions (embedding and read-out
    # alike) and its MLP's arrays; the attention steps have no weights.
    m = model.mlp
    own = sum(a.size for a in (model.embedding.vectors, m.W_up, m.b_up, m.W_down, m.b_down))
    b = count(toy)
    assert b.total == own == 57 * 64 + 2 * 64 * 32 + 32 + 64
    assert b.attention == 0 and b.unembedding == 0


def test_rows_sum_to_total_and_dict_is_plain() -> None:
    for shape in PRESETS.values():
        b = count(shape)
        assert sum(n for _, n in b.rows()) == b.total
        d = b.as_dict()
        assert d["total"] == b.total and d["shape"]["d_model"] == shape.d_model


def test_explicit_head_dim() -> None:
    # 8 heads of 16 in a 100-wide model: inner width 128, not 100.
    s = ModelShape(d_model=100, d_mlp=400, n_layers=1, vocab=10, n_heads=8, d_head=16,
                   biases=False, layer_norms=False)
    assert count(s).attention_per_layer == 4 * 100 * 128


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"d_model": 0}, "d_model"),
        ({"d_model": -5}, "d_model"),
        ({"d_model": 2.5}, "d_model must be an int"),
        ({"d_model": True}, "d_model must be an int"),
        ({"d_mlp": 10**9}, "d_mlp must be between"),
        ({"n_layers": 0}, "n_layers"),
        ({"vocab": "50257"}, "vocab must be an int"),
        ({"n_ctx": -1}, "n_ctx"),
        ({"n_heads": 5}, "not divisible"),
        ({"biases": 1}, "biases must be True or False"),
    ],
)
def test_bad_shapes_raise_clear_errors(kwargs: dict, fragment: str) -> None:
    base = {"d_model": 64, "d_mlp": 256, "n_layers": 2, "vocab": 100, "n_heads": 4}
    with pytest.raises(ValueError, match=fragment):
        ModelShape(**{**base, **kwargs})


def test_shape_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        PRESETS["toy"].d_model = 3  # type: ignore[misc]


def test_count_rejects_non_shapes() -> None:
    with pytest.raises(ValueError):
        count({"d_model": 3})  # type: ignore[arg-type]


@given(
    d=st.integers(1, 4096),
    h=st.integers(1, 20000),
    n=st.integers(1, 200),
    v=st.integers(1, 100_000),
    biases=st.booleans(),
    lns=st.booleans(),
    tied=st.booleans(),
)
def test_count_is_additive(d: int, h: int, n: int, v: int, biases: bool, lns: bool,
                           tied: bool) -> None:
    s = ModelShape(d_model=d, d_mlp=h, n_layers=n, vocab=v, n_heads=1, biases=biases,
                   layer_norms=lns, tied_embeddings=tied)
    b: Breakdown = count(s)
    assert b.mlp == n * (2 * d * h + (h + d if biases else 0))
    assert b.attention == n * (4 * d * d + (4 * d if biases else 0))
    assert b.total == sum(x for _, x in b.rows())
    assert 0 < b.mlp_share < 1
    if not biases and not lns and not tied:
        assert b.total == n * (4 * d * d + 2 * d * h) + 2 * v * d
