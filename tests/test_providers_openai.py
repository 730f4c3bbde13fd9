"""The OpenAI provider against the loopback FakeModelServer, over real HTTP (no network, no patching)."""

from __future__ import annotations

import email.utils
import json
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evalgate.config import ModelConfig
from evalgate.errors import EXIT_USAGE, ConfigError, ProviderError
from evalgate.providers import build_provider
from evalgate.providers.base import ModelRequest
from evalgate.providers.openai import OpenAIProvider
from evalgate.retry import call_with_retries
from evalgate.testing import FakeModelServer
from tests.callpaths import Complete

KEY = "sk-test-0123456789abcdef"


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer(served_models={"gpt-4o": "gpt-4o-2024-08-06"}) as fake:
        yield fake


def make_provider(server: FakeModelServer, **kwargs: object) -> OpenAIProvider:
    options: dict[str, object] = {
        "api_key": KEY,
        "base_url": server.openai_base_url,
        "key_env": "MY_OPENAI_KEY",
    }
    options.update(kwargs)
    return OpenAIProvider(**options)  # type: ignore[arg-type]


@pytest.fixture
def provider(server: FakeModelServer) -> Iterator[OpenAIProvider]:
    with make_provider(server) as p:
        yield p


def ask(prompt: str = "What is 2+2?", *, case_id: str = "c1", **kwargs: object) -> ModelRequest:
    return ModelRequest(case_id=case_id, prompt=prompt, model="gpt-4o", **kwargs)  # type: ignore[arg-type]


def with_retries(provider: OpenAIProvider, waits: list[float], *, max_attempts: int = 3) -> str:
    completion = call_with_retries(
        lambda: provider.complete(ask()),
        max_attempts=max_attempts,
        describe="openai (case c1)",
        sleep=waits.append,
    )
    return completion.text


def test_parses_text_served_model_tokens_and_latency(provider: OpenAIProvider, complete: Complete) -> None:
    completion = complete(provider, ask("Say hi"))
    assert completion.text == "echo: Say hi"
    assert completion.model == "gpt-4o-2024-08-06"
    assert completion.input_tokens is not None
    assert completion.input_tokens > 0
    assert completion.output_tokens is not None
    assert completion.output_tokens > 0
    assert completion.latency_ms > 0


def test_sends_bearer_key_model_messages_and_params(server: FakeModelServer, complete: Complete) -> None:
    with make_provider(server, params={"temperature": 0}, system="default system") as provider:
        complete(provider, ask("Hi", params={"seed": 7}, system="Be brief."))
    [received] = server.requests
    assert received.path == "/v1/chat/completions"
    assert received.headers["authorization"] == f"Bearer {KEY}"
    assert received.json == {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "temperature": 0,
        "seed": 7,
    }


def test_omits_system_message_when_there_is_none(
    server: FakeModelServer, provider: OpenAIProvider, complete: Complete
) -> None:
    complete(provider, ask("Hi"))
    assert server.requests[0].json["messages"] == [{"role": "user", "content": "Hi"}]


def test_retries_429_honouring_retry_after_seconds(server: FakeModelServer, provider: OpenAIProvider) -> None:
    server.fail_next(429, retry_after=7)
    waits: list[float] = []
    assert with_retries(provider, waits) == "echo: What is 2+2?"
    assert waits == [7.0]
    assert len(server.requests) == 2


def test_retries_429_honouring_retry_after_ms(server: FakeModelServer, provider: OpenAIProvider) -> None:
    server.fail_next(429, retry_after_ms=250)
    waits: list[float] = []
    with_retries(provider, waits)
    assert waits == [0.25]


def test_retries_429_honouring_retry_after_http_date(
    server: FakeModelServer, provider: OpenAIProvider
) -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    server.fail_next(429, retry_after=email.utils.format_datetime(when, usegmt=True))
    waits: list[float] = []
    with_retries(provider, waits)
    assert len(waits) == 1
    assert 25 <= waits[0] <= 31


def test_retries_500_then_succeeds(server: FakeModelServer, provider: OpenAIProvider) -> None:
    server.fail_next(500)
    waits: list[float] = []
    assert with_retries(provider, waits) == "echo: What is 2+2?"
    assert len(waits) == 1
    assert len(server.requests) == 2


def test_persistent_500_gives_up_after_max_attempts(
    server: FakeModelServer, provider: OpenAIProvider
) -> None:
    server.fail_next(500, times=10, message="The server had an error while processing your request.")
    with pytest.raises(ProviderError) as info:
        with_retries(provider, [], max_attempts=3)
    message = str(info.value)
    assert "gave up after 3 attempts" in message
    assert "HTTP 500" in message
    assert "The server had an error" in message
    assert info.value.retryable is False
    assert len(server.requests) == 3


def test_client_timeout_is_retried_then_succeeds(server: FakeModelServer) -> None:
    server.delay_next(2.0)
    waits: list[float] = []
    with make_provider(server, timeout_s=0.2) as provider:
        assert with_retries(provider, waits) == "echo: What is 2+2?"
    assert len(waits) == 1


def test_persistent_client_timeout_gives_up(server: FakeModelServer) -> None:
    server.delay_next(2.0, times=2)
    with make_provider(server, timeout_s=0.2) as provider, pytest.raises(ProviderError) as info:
        with_retries(provider, [], max_attempts=2)
    assert "gave up after 2 attempts" in str(info.value)
    assert "timed out after 0.2s" in str(info.value)


def test_401_is_not_retried_and_names_the_env_var_but_not_the_key(
    server: FakeModelServer, provider: OpenAIProvider
) -> None:
    # Some servers echo the key back; it must not reach logs or reports.
    server.fail_next(401, message=f"Incorrect API key provided: {KEY}.")
    with pytest.raises(ProviderError) as info:
        with_retries(provider, [])
    message = str(info.value)
    assert info.value.retryable is False
    assert "HTTP 401" in message
    assert "MY_OPENAI_KEY" in message
    assert KEY not in message
    assert len(server.requests) == 1


def test_wrong_key_is_rejected_by_server_with_openai_error_shape(complete: Complete) -> None:
    with (
        FakeModelServer(api_key="sk-the-right-one") as server,
        make_provider(server) as provider,
        pytest.raises(ProviderError, match="Incorrect API key provided") as info,
    ):
        complete(provider, ask())
    assert KEY not in str(info.value)


@pytest.mark.parametrize("status", [400, 403, 404])
def test_client_errors_show_server_message_and_are_not_retryable(
    server: FakeModelServer, provider: OpenAIProvider, status: int, complete: Complete
) -> None:
    server.fail_next(status, message="The model `gpt-4o` does not exist or you do not have access to it.")
    with pytest.raises(ProviderError) as info:
        complete(provider, ask())
    assert info.value.retryable is False
    assert f"HTTP {status}" in str(info.value)
    assert "does not exist or you do not have access" in str(info.value)


def test_malformed_json_is_not_retryable(
    server: FakeModelServer, provider: OpenAIProvider, complete: Complete
) -> None:
    server.fail_next(200, body='{"choices": [')
    with pytest.raises(ProviderError, match="not JSON") as info:
        complete(provider, ask())
    assert info.value.retryable is False


def test_missing_content_names_the_missing_field(
    server: FakeModelServer, provider: OpenAIProvider, complete: Complete
) -> None:
    choice = {"message": {"role": "assistant", "content": None}, "finish_reason": "stop"}
    body = json.dumps({"model": "gpt-4o", "choices": [choice]})
    server.fail_next(200, body=body)
    with pytest.raises(ProviderError, match=r"choices\[0\]\.message\.content") as info:
        complete(provider, ask())
    assert info.value.retryable is False


def test_missing_choices_lists_keys_received(
    server: FakeModelServer, provider: OpenAIProvider, complete: Complete
) -> None:
    server.fail_next(200, body='{"object": "list", "data": []}')
    with pytest.raises(ProviderError, match=r"no 'choices' \(keys: \['data', 'object'\]\)"):
        complete(provider, ask())


def test_connection_refused_is_retryable_and_hides_key(complete: Complete) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with OpenAIProvider(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1") as provider:
        with pytest.raises(ProviderError) as info:
            complete(provider, ask())
        assert KEY not in repr(provider)
    assert info.value.retryable is True
    assert "cannot connect" in str(info.value)
    assert KEY not in str(info.value)


def test_pools_connections_across_threads() -> None:
    with FakeModelServer(latency=0.02) as server, make_provider(server, concurrency=8) as provider:
        prompts = [f"question {i}" for i in range(32)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda p: provider.complete(ask(p)).text, prompts))
        ports = {r.client_port for r in server.requests}
    assert answers == [f"echo: {p}" for p in prompts]
    assert len(ports) <= 8  # keep-alive: connections were reused, not opened per request


def test_build_provider_reads_key_from_configured_env_var(
    server: FakeModelServer, tmp_path: Path, complete: Complete
) -> None:
    cfg = ModelConfig(
        provider="openai", name="gpt-4o", base_url=server.openai_base_url, api_key_env="TEAM_KEY"
    )
    provider = build_provider(cfg, base_dir=tmp_path, env={"TEAM_KEY": KEY})
    try:
        complete(provider, ask())
    finally:
        provider.close()
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_build_provider_without_key_is_a_config_error(tmp_path: Path) -> None:
    cfg = ModelConfig(provider="openai", name="gpt-4o-2024-08-06")
    with pytest.raises(ConfigError, match="environment variable OPENAI_API_KEY is not set") as info:
        build_provider(cfg, base_dir=tmp_path, env={})
    assert info.value.exit_code == EXIT_USAGE
    assert info.value.fix is not None
    assert "secrets.OPENAI_API_KEY" in info.value.fix


def test_build_provider_allows_no_key_for_loopback_servers(
    server: FakeModelServer, tmp_path: Path, complete: Complete
) -> None:
    cfg = ModelConfig(provider="openai", name="gpt-4o", base_url=server.openai_base_url)
    provider = build_provider(cfg, base_dir=tmp_path, env={})
    try:
        assert complete(provider, ask()).text == "echo: What is 2+2?"
    finally:
        provider.close()
    assert "authorization" not in server.requests[0].headers


def test_rejects_base_url_that_is_not_http(tmp_path: Path) -> None:
    cfg = ModelConfig(provider="openai", name="gpt-4o", base_url="api.openai.com/v1")
    with pytest.raises(ConfigError, match="is not an http"):
        build_provider(cfg, base_dir=tmp_path, env={"OPENAI_API_KEY": KEY})
