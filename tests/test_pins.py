from __future__ import annotations

import pytest

from evalgate.pins import check_pin


@pytest.mark.parametrize(
    "name",
    [
        "gpt-4o-2024-11-20",
        "gpt-4o-mini-2024-07-18",
        "o1-2024-12-17",
        "ft:gpt-4o-2024-08-06:acme::abc123",
        "claude-3-5-sonnet-20241022",
        "claude-sonnet-4-20250514",
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
        "gemini-1.5-pro-002",
        "mistral-large-2411",
        "acme-support-model-v1.4.2",
    ],
)
def test_pinned_versions_pass(name: str) -> None:
    assert check_pin(name) is None


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("gpt-4o", "bare OpenAI model family"),
        ("o3-mini", "bare OpenAI model family"),
        ("claude-3-5-sonnet", "bare Anthropic model family"),
        ("claude-3-5-sonnet-latest", "moving alias"),
        ("chatgpt-4o-latest", "moving alias"),
        ("gpt-4o:latest", "moving alias"),
        ("llama3:latest", "moving alias"),
        ("gemini-1.5-pro", "bare Google model family"),
        ("mistral-large-latest", "moving alias"),
        ("gpt-4-turbo-preview", "moving alias"),
        ("llama3.1:8b", "does not name a fixed version"),
        ("", "empty"),
    ],
)
def test_unpinned_names_are_rejected_with_a_reason(name: str, says: str) -> None:
    problem = check_pin(name)
    assert problem is not None
    assert says in problem.reason


def test_allow_list_overrides_for_local_models() -> None:
    assert check_pin("llama3.1:8b", {"llama3.1:8b": "local model, weights vendored"}) is None
    assert check_pin("llama3.1:8b", {"other": "x"}) is not None
