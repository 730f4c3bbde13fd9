"""The Anthropic provider against the loopback FakeModelServer, over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from evalgate.config import ModelConfig
from evalgate.errors import ConfigError, ProviderError
from evalgate.providers import build_provider
from evalgate.providers.anthropic import AnthropicProvider
from evalgate.providers.base import ModelRequest
from evalgate.retry import call_with_retries
from evalgate.testing import FakeModelServer
from tests.callpaths import Complete

KEY = "sk-ant-test-0123456789"
MODEL = "claude-3-5-sonnet-20241022"


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as fake:
        yield fake


def make_provider(server: FakeModelServer, **kwargs: object) -> AnthropicProvider:
    options: dict[str, object] = {"api_key": KEY, "base_url": server.anthropic_base_url}
    options.update(kwargs)
    return AnthropicProvider(**options)  # type: ignore[arg-type]


@pytest.fixture
def provider(server: FakeModelServer) -> Iterator[AnthropicProvider]:
    with make_provider(server) as p:
        yield p


def ask(prompt: str = "Name a colour.", **kwargs: object) -> ModelRequest:
    return ModelRequest(case_id="c1", prompt=prompt, model=MODEL, **kwargs)  # type: ignore[arg-type]


def with_retries(provider: AnthropicProvider, waits: list[float], *, max_attempts: int = 3) -> str:
    completion = call_with_retries(
        lambda: provider.complete(ask()),
        max_attempts=max_attempts,
        describe="anthropic (case c1)",
        sleep=waits.append,
    )
    return completion.text


def test_parses_text_model_tokens_and_latency(provider: AnthropicProvider, complete: Complete) -> None:
    completion = complete(provider, ask("Say hi"))
    assert completion.text == "echo: Say hi"
    assert completion.model == MODEL
    assert completion.input_tokens is not None
    assert completion.input_tokens > 0
    assert completion.output_tokens is not None
    assert completion.output_tokens > 0
    assert completion.latency_ms > 0


def test_sends_key_version_system_and_default_max_tokens(
    server: FakeModelServer, provider: AnthropicProvider, complete: Complete
) -> None:
    complete(provider, ask("Hi", system="Be brief.", params={"temperature": 0.2}))
    [received] = server.requests
    assert received.path == "/v1/messages"
    assert received.headers["x-api-key"] == KEY
    assert received.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in received.headers
    assert received.json == {
        "model": MODEL,
        "max_tokens": 1024,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Hi"}],
        "temperature": 0.2,
    }


def test_max_tokens_comes_from_params(server: FakeModelServer, complete: Complete) -> None:
    with make_provider(server, params={"max_tokens": 64}) as provider:
        complete(provider, ask())
    assert server.requests[0].json["max_tokens"] == 64
    assert "system" not in server.requests[0].json


def test_joins_text_blocks_and_skips_other_block_types(
    server: FakeModelServer, provider: AnthropicProvider, complete: Complete
) -> None:
    body = {
        "type": "message",
        "model": MODEL,
        "content": [
            {"type": "text", "text": "Blue"},
            {"type": "tool_use", "id": "t1", "name": "x", "input": {}},
            {"type": "text", "text": " and green."},
        ],
        "usage": {"input_tokens": 12, "output_tokens": 5},
    }
    server.fail_next(200, body=json.dumps(body))
    completion = complete(provider, ask())
    assert completion.text == "Blue and green."
    assert (completion.input_tokens, completion.output_tokens) == (12, 5)


def test_response_without_text_blocks_names_what_is_missing(
    server: FakeModelServer, provider: AnthropicProvider, complete: Complete
) -> None:
    server.fail_next(200, body=json.dumps({"type": "message", "content": [], "stop_reason": "end_turn"}))
    with pytest.raises(ProviderError, match=r"no text blocks in 'content' \(stop_reason: end_turn\)") as info:
        complete(provider, ask())
    assert info.value.retryable is False


@pytest.mark.parametrize("status", [429, 529, 500, 503])
def test_retryable_statuses_are_retried_honouring_retry_after(
    server: FakeModelServer, provider: AnthropicProvider, status: int
) -> None:
    server.fail_next(status, retry_after=3)
    waits: list[float] = []
    assert with_retries(provider, waits) == "echo: Name a colour."
    assert waits == [3.0]


def test_persistent_overload_gives_up_with_attempt_count(
    server: FakeModelServer, provider: AnthropicProvider
) -> None:
    server.fail_next(529, times=5, message="Overloaded")
    with pytest.raises(ProviderError, match=r"gave up after 4 attempts: .*HTTP 529: Overloaded"):
        with_retries(provider, [], max_attempts=4)
    assert len(server.requests) == 4


def test_client_timeout_is_retryable(server: FakeModelServer) -> None:
    server.delay_next(2.0)
    waits: list[float] = []
    with make_provider(server, timeout_s=0.2) as provider:
        assert with_retries(provider, waits) == "echo: Name a colour."
    assert len(waits) == 1


def test_401_names_env_var_hides_key_and_is_not_retried(server: FakeModelServer) -> None:
    server.fail_next(401, message=f"invalid x-api-key {KEY}")
    with (
        make_provider(server, key_env="TEAM_ANTHROPIC_KEY") as provider,
        pytest.raises(ProviderError) as info,
    ):
        with_retries(provider, [])
    assert info.value.retryable is False
    assert "TEAM_ANTHROPIC_KEY" in str(info.value)
    assert KEY not in str(info.value)
    assert KEY not in repr(provider)
    assert len(server.requests) == 1


def test_error_body_message_is_shown_for_bad_requests(
    server: FakeModelServer, provider: AnthropicProvider, complete: Complete
) -> None:
    server.fail_next(400, message="max_tokens: 999999 > 8192, which is the maximum allowed")
    with pytest.raises(ProviderError, match="HTTP 400: max_tokens: 999999 > 8192") as info:
        complete(provider, ask())
    assert info.value.retryable is False


def test_error_body_with_200_status_is_classified_by_type(
    server: FakeModelServer, provider: AnthropicProvider, complete: Complete
) -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    server.fail_next(200, body=json.dumps(body))
    with pytest.raises(ProviderError, match="overloaded_error") as info:
        complete(provider, ask())
    assert info.value.retryable is True


def test_serves_concurrent_requests_over_pooled_connections() -> None:
    with FakeModelServer(latency=0.02) as server, make_provider(server, concurrency=8) as provider:
        prompts = [f"q{i}" for i in range(32)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda p: provider.complete(ask(p)).text, prompts))
        ports = {r.client_port for r in server.requests}
    assert answers == [f"echo: {p}" for p in prompts]
    assert len(ports) <= 8


def test_build_provider_needs_anthropic_api_key(tmp_path: Path) -> None:
    cfg = ModelConfig(provider="anthropic", name=MODEL)
    with pytest.raises(ConfigError, match="environment variable ANTHROPIC_API_KEY is not set"):
        build_provider(cfg, base_dir=tmp_path, env={"OPENAI_API_KEY": "sk-other"})


def test_build_provider_uses_key_from_env(
    server: FakeModelServer, tmp_path: Path, complete: Complete
) -> None:
    cfg = ModelConfig(provider="anthropic", name=MODEL, base_url=server.anthropic_base_url)
    provider = build_provider(cfg, base_dir=tmp_path, env={"ANTHROPIC_API_KEY": KEY})
    try:
        assert provider.name == "anthropic"
        complete(provider, ask())
    finally:
        provider.close()
    assert server.requests[0].headers["x-api-key"] == KEY
