"""The parameter specs: one list drives parsing, validation, CLI flags and UI fields."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tui.engine.params import PARAM_SPECS, SPECS_BY_NAME, ParamError, Sampling


def test_defaults_are_the_reference_examples():
    values = Sampling().values
    assert (values["temperature"], values["top_p"], values["seed"], values["max_tokens"]) == (0.8, 0.95, 42, 100)


@pytest.mark.parametrize("name, text, reason", [
    ("temperature", "-0.1", "temperature must be in [0, 2]"),
    ("temperature", "abc", "temperature must be a number"),
    ("temperature", "nan", "temperature must be a finite number"),
    ("top_p", "0", "top_p must be in (0, 1]"),
    ("top_p", "1.01", "top_p must be in (0, 1]"),
    ("max_tokens", "0", "max_tokens must be ≥ 1"),
    ("max_tokens", "1.5", "max_tokens must be a whole number"),
    ("seed", "99999999999999999999999", "seed must be in [0, 9223372036854775807]"),
    ("seed", "-3", "seed must be in"),
    ("temperature", "", "temperature is required"),
])
def test_bad_text_gets_a_short_reason(name, text, reason):
    with pytest.raises(ParamError) as info:
        SPECS_BY_NAME[name].parse(text)
    assert reason in str(info.value)


def test_blank_seed_means_random():
    assert SPECS_BY_NAME["seed"].parse("  ") is None


@given(st.sampled_from(PARAM_SPECS), st.text(max_size=30))
def test_parse_never_raises_anything_but_param_error(spec, text):
    try:
        value = spec.parse(text)
    except ParamError as exc:
        assert str(exc).startswith(spec.name)
        return
    if value is not None:
        assert spec.check(value) == value
        assert spec.parse(spec.format(value)) == pytest.approx(value, rel=1e-5)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=2))
def test_valid_temperatures_round_trip(value):
    spec = SPECS_BY_NAME["temperature"]
    assert math.isclose(spec.parse(repr(value)), value)


def test_unknown_parameter_is_refused():
    with pytest.raises(ParamError, match="unknown parameter"):
        Sampling({"temprature": 1.0})


def test_summary_shows_main_knobs_and_changed_extras():
    assert Sampling().summary() == "T 0.8 · p 0.95 · seed 42 · max 100"
    changed = Sampling().with_values(top_k=5, seed=None)
    assert changed.summary() == "T 0.8 · p 0.95 · seed random · max 100 · k 5"


def test_context_check():
    Sampling().check_context(2048)
    with pytest.raises(ParamError, match="context length"):
        Sampling().with_values(max_tokens=2048).check_context(2048)


@pytest.mark.parametrize("text, value", [("off", False), ("OFF", False), ("no", False), ("0", False),
                                         ("on", True), ("true", True), ("1", True), ("", None)])
def test_the_thinking_switch_reads_the_words_people_type(text, value):
    assert SPECS_BY_NAME["enable_thinking"].parse(text) is value


@pytest.mark.parametrize("given", ["maybe", 1, 0, "off"])
def test_the_thinking_switch_refuses_what_is_not_on_or_off(given):
    spec = SPECS_BY_NAME["enable_thinking"]
    with pytest.raises(ParamError, match="enable_thinking must be on or off"):
        spec.parse(given) if given == "maybe" else spec.check(given)  # a file's 1 or "off" is not a switch


def test_the_thinking_switch_goes_to_the_template_not_to_sampling_params():
    switched = Sampling().with_values(enable_thinking=False, thinking_token_budget=8)
    assert "enable_thinking" not in switched.request_values and switched.request_values["thinking_token_budget"] == 8
    assert switched.template_kwargs == {"enable_thinking": False}
    assert Sampling().template_kwargs == {}
    assert Sampling(switched.values, chat_template=False).template_kwargs == {}  # raw prompts have no template
    assert switched.summary().endswith("think 8 · thinking off")
    assert switched.compact_summary().endswith("think8 thinking:off")
