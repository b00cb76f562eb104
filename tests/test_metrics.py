"""Logprobs in the OpenAI and Ollama formats, token entropy, the expected digit score, usage, cost and text."""

from __future__ import annotations

import math
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from ollama._types import Logprob

from langgraph_sale.metrics import (
    call_usage,
    estimate_tokens,
    expected_digit_score,
    mean_token_entropy,
    message_text,
    token_logprobs,
)
from langgraph_sale.types import CallUsage


# -- helpers ------------------------------------------------------------------------------------------------------
def openai_entry(token: str, alternatives: list[tuple[str, float]]) -> dict[str, Any]:
    top = [{"token": alt, "logprob": lp, "bytes": None} for alt, lp in alternatives]
    return {"token": token, "logprob": alternatives[0][1], "bytes": None, "top_logprobs": top}


def ollama_entry(token: str, alternatives: list[tuple[str, float]]) -> Logprob:
    return Logprob.model_validate(
        {"token": token, "logprob": alternatives[0][1],
         "top_logprobs": [{"token": alt, "logprob": lp} for alt, lp in alternatives]}
    )


def with_logprobs(raw: Any, text: str = "x") -> AIMessage:
    return AIMessage(text, response_metadata={"logprobs": raw})


def uniform(k: int, token: str = "t") -> list[tuple[str, float]]:
    return [(f"{token}{i}", math.log(1 / k)) for i in range(k)]


ALTERNATIVES = [
    ("Plan", [("Plan", math.log(0.7)), ("Step", math.log(0.2)), ("First", math.log(0.1))]),
    (":", [(":", math.log(0.9)), (" -", math.log(0.1))]),
]


# -- token_logprobs -----------------------------------------------------------------------------------------------
def test_token_logprobs_reads_the_openai_format() -> None:
    raw = {"content": [openai_entry(token, alts) for token, alts in ALTERNATIVES], "refusal": None}
    tokens = token_logprobs(with_logprobs(raw))
    assert tokens is not None
    assert [token for token, _ in tokens] == ["Plan", ":"]
    for (_, got), (_, expected) in zip(tokens, ALTERNATIVES, strict=True):
        assert [alt for alt, _ in got] == [alt for alt, _ in expected]
        assert [lp for _, lp in got] == pytest.approx([lp for _, lp in expected])


def test_token_logprobs_reads_ollama_logprob_objects() -> None:
    raw = [ollama_entry(token, alts) for token, alts in ALTERNATIVES]
    tokens = token_logprobs(with_logprobs(raw))
    assert tokens is not None
    assert [token for token, _ in tokens] == ["Plan", ":"]
    assert tokens[0][1][1][0] == "Step"
    assert tokens[0][1][1][1] == pytest.approx(math.log(0.2))
    # Both formats reduce to the same plain data.
    openai = token_logprobs(with_logprobs({"content": [openai_entry(t, a) for t, a in ALTERNATIVES]}))
    assert tokens == openai
    assert all(isinstance(lp, float) for _, alts in tokens for _, lp in alts)


def test_a_token_without_top_logprobs_falls_back_to_its_own_logprob() -> None:
    ollama = Logprob.model_validate({"token": "hi", "logprob": -0.25})
    assert token_logprobs(with_logprobs([ollama])) == [("hi", [("hi", -0.25)])]
    openai = {"content": [{"token": "hi", "logprob": -0.25, "top_logprobs": []}]}
    assert token_logprobs(with_logprobs(openai)) == [("hi", [("hi", -0.25)])]


@pytest.mark.parametrize(
    "metadata",
    [{}, {"logprobs": None}, {"logprobs": {"content": None}}, {"logprobs": {"content": []}}, {"logprobs": []}],
)
def test_token_logprobs_is_none_when_absent(metadata: dict[str, Any]) -> None:
    assert token_logprobs(AIMessage("plan", response_metadata=metadata)) is None


# -- mean_token_entropy -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [2, 3, 5, 20])
def test_uniform_top_k_has_entropy_ln_k(k: int) -> None:
    entropy, top_k = mean_token_entropy([("t", uniform(k)), ("u", uniform(k, "u"))])
    assert entropy == pytest.approx(math.log(k))
    assert top_k == k


def test_a_one_hot_distribution_has_zero_entropy() -> None:
    entropy, top_k = mean_token_entropy([("a", [("a", 0.0), ("b", -1000.0), ("c", -math.inf)])])
    assert entropy == pytest.approx(0.0, abs=1e-12)
    assert top_k == 3


def test_top_k_probabilities_are_renormalised() -> None:
    # 0.4 and 0.4 out of a full distribution: renormalised to 1/2 each, entropy ln 2.
    entropy, _ = mean_token_entropy([("a", [("a", math.log(0.4)), ("b", math.log(0.4))])])
    assert entropy == pytest.approx(math.log(2))


def test_entropy_is_the_mean_over_tokens() -> None:
    tokens = [("a", uniform(4)), ("b", [("b", 0.0), ("c", -1000.0)])]
    entropy, top_k = mean_token_entropy(tokens)
    assert entropy == pytest.approx(math.log(4) / 2)
    assert top_k == 4


def test_entropy_of_a_known_distribution() -> None:
    probs = [0.8, 0.05, 0.05, 0.05, 0.05]
    entropy, _ = mean_token_entropy([("a", [(str(i), math.log(p)) for i, p in enumerate(probs)])])
    assert entropy == pytest.approx(-sum(p * math.log(p) for p in probs))


@pytest.mark.parametrize(
    "tokens",
    [None, [], [("a", [("a", -0.1)]), ("b", [("b", -0.3)])], [("a", [])], [("a", [("a", math.nan)])]],
)
def test_entropy_is_none_without_usable_logprobs(tokens: Any) -> None:
    assert mean_token_entropy(tokens) == (None, None)


def test_entropy_from_a_message_end_to_end() -> None:
    raw = [ollama_entry("t", uniform(3)), ollama_entry("u", uniform(3, "u"))]
    entropy, top_k = mean_token_entropy(token_logprobs(with_logprobs(raw)))
    assert entropy == pytest.approx(math.log(3))
    assert top_k == 3


# -- expected_digit_score -----------------------------------------------------------------------------------------
def test_expected_digit_score_weights_the_digits() -> None:
    tokens = [("4", [("4", math.log(0.5)), ("3", math.log(0.3)), ("5", math.log(0.2))])]
    assert expected_digit_score(tokens) == pytest.approx(4 * 0.5 + 3 * 0.3 + 5 * 0.2)


def test_expected_digit_score_skips_non_digit_tokens() -> None:
    tokens = [
        ("{", [("{", 0.0)]),
        ('"score', [('"score', -0.01), ("10", -5.0)]),
        ('":', [('":', 0.0)]),
        (" 2", [(" 2", math.log(0.6)), (" 1", math.log(0.4))]),
        ("}", [("}", 0.0)]),
    ]
    assert expected_digit_score(tokens) == pytest.approx(2 * 0.6 + 1 * 0.4)


def test_expected_digit_score_renormalises_over_0_to_5() -> None:
    # "9", "x" and "42" carry mass but are not scores: only 3 and 5 count, renormalised to 0.75 / 0.25.
    tokens = [("3", [("3", math.log(0.3)), ("9", math.log(0.4)), ("5", math.log(0.1)), ("x", math.log(0.1)),
                     ("42", math.log(0.1))])]
    assert expected_digit_score(tokens) == pytest.approx(3 * 0.75 + 5 * 0.25)


def test_expected_digit_score_reads_only_the_first_digit_token() -> None:
    tokens = [("1", [("1", 0.0)]), ("5", [("5", 0.0)])]
    assert expected_digit_score(tokens) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "tokens",
    [None, [], [("great", [("great", 0.0)])], [("7", [("7", 0.0)]), ("x", [("x", 0.0)])], [("4", [("9", 0.0)])]],
)
def test_expected_digit_score_is_none_without_a_digit(tokens: Any) -> None:
    assert expected_digit_score(tokens) is None


def test_expected_digit_score_from_ollama_objects() -> None:
    raw = [ollama_entry("5", [("5", math.log(0.9)), ("4", math.log(0.1))])]
    assert expected_digit_score(token_logprobs(with_logprobs(raw))) == pytest.approx(4.9)


# -- usage and cost -----------------------------------------------------------------------------------------------
def test_call_usage_reads_usage_metadata() -> None:
    message = AIMessage("ok", usage_metadata={"input_tokens": 1200, "output_tokens": 300, "total_tokens": 1500})
    usage = call_usage(message, price_per_mtok=2.0, prompt_chars=10_000)
    assert (usage.input_tokens, usage.output_tokens, usage.calls, usage.estimated) == (1200, 300, 1, False)
    assert usage.cost_usd == pytest.approx(2.0 * 1500 / 1e6)
    assert usage.total_tokens == 1500


def test_call_usage_without_metadata_is_estimated_and_flagged() -> None:
    text = "a" * 41
    usage = call_usage(AIMessage(text), price_per_mtok=1.0, prompt_chars=10)
    assert usage.estimated is True
    assert usage.input_tokens == 3  # ceil(10 / 4)
    assert usage.output_tokens == 11  # ceil(41 / 4)
    assert usage.calls == 1
    assert usage.cost_usd == pytest.approx(14 / 1e6)


def test_zero_usage_metadata_counts_as_missing() -> None:
    message = AIMessage("abcd", usage_metadata={"input_tokens": 0, "output_tokens": 0, "total_tokens": 0})
    usage = call_usage(message, price_per_mtok=1.0, prompt_chars=8)
    assert usage.estimated is True
    assert (usage.input_tokens, usage.output_tokens) == (2, 1)


def test_a_failed_call_costs_nothing() -> None:
    assert call_usage(None, price_per_mtok=5.0, prompt_chars=1000) == CallUsage()


def test_a_non_ai_message_is_estimated() -> None:
    usage = call_usage(HumanMessage("abcdefgh"), price_per_mtok=0.0)
    assert usage.estimated and usage.output_tokens == 2 and usage.cost_usd == 0.0


def test_usage_adds_up() -> None:
    a = CallUsage(input_tokens=1, output_tokens=2, cost_usd=0.5, calls=1)
    b = CallUsage(input_tokens=10, output_tokens=20, cost_usd=0.25, calls=2, estimated=True)
    assert a + b == CallUsage(input_tokens=11, output_tokens=22, cost_usd=0.75, calls=3, estimated=True)


@pytest.mark.parametrize(("text", "tokens"), [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2), ("x" * 400, 100)])
def test_estimate_tokens(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


# -- message_text -------------------------------------------------------------------------------------------------
def test_message_text_joins_text_blocks_of_list_content() -> None:
    message = AIMessage(content=[
        {"type": "text", "text": "1. Read. "},
        {"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/x.png"}},
        "2. Test.",
        {"type": "tool_use", "id": "t1", "name": "python", "input": {}},
        {"type": "text", "text": " 3. Ship."},
    ])
    assert message_text(message) == "1. Read. 2. Test. 3. Ship."


def test_message_text_of_string_content() -> None:
    assert message_text(AIMessage("plain")) == "plain"
    assert message_text(AIMessage(content=[])) == ""
