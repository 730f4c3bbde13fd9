"""Hostile servers: secrets echoed back on every path, trickled bodies, cut-off answers and refusals.

Every test talks real HTTP to the loopback ``FakeModelServer``; nothing is patched.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evalgate.caller import ModelCaller
from evalgate.config import ModelConfig
from evalgate.errors import ProviderError
from evalgate.providers import build_provider
from evalgate.providers.anthropic import AnthropicProvider
from evalgate.providers.base import ModelRequest
from evalgate.providers.http import HTTPProvider
from evalgate.providers.openai import OpenAIProvider
from evalgate.redact import Redactor, redactor_for
from evalgate.results import Completion
from evalgate.testing import FakeModelServer, FakeProvider
from tests.callpaths import Complete

KEY = "sk-proj-hostile0123456789abcdef"
OTHER = "sk-other-9876543210fedcba98765"  # a key the server echoes that we never knew
GH_TOKEN = "ghs_0123456789abcdefghijABCDEFGHIJ0123"


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as fake:
        yield fake


def openai(server: FakeModelServer, **kwargs: object) -> OpenAIProvider:
    options: dict[str, object] = {"api_key": KEY, "base_url": server.openai_base_url}
    options.update(kwargs)
    return OpenAIProvider(**options)  # type: ignore[arg-type]


def anthropic(server: FakeModelServer, **kwargs: object) -> AnthropicProvider:
    options: dict[str, object] = {"api_key": KEY, "base_url": server.anthropic_base_url}
    options.update(kwargs)
    return AnthropicProvider(**options)  # type: ignore[arg-type]


def ask(model: str = "gpt-4o-2024-11-20") -> ModelRequest:
    return ModelRequest(case_id="c1", prompt="hi", model=model)


def assert_clean(text: str) -> None:
    for secret in (KEY, OTHER, GH_TOKEN, KEY[8:]):
        assert secret not in text, f"secret leaked: {text!r}"


def echo_headers(key: str = KEY) -> str:
    return f"upstream said: Authorization: Bearer {key}; x-api-key: {key}; also {OTHER}"


# --- redaction, one test per path ------------------------------------------------------------


def test_200_body_that_is_not_json_is_redacted(server: FakeModelServer, complete: Complete) -> None:
    server.fail_next(200, body=echo_headers())
    with openai(server) as provider, pytest.raises(ProviderError, match="not JSON") as info:
        complete(provider, ask())
    assert_clean(str(info.value))
    assert "Bearer ***" in str(info.value)


def test_200_json_without_choices_lists_keys_redacted(server: FakeModelServer, complete: Complete) -> None:
    server.fail_next(200, body=json.dumps({f"Bearer {KEY}": 1, "x-api-key": OTHER}))
    with openai(server) as provider, pytest.raises(ProviderError, match="keys:") as info:
        complete(provider, ask())
    assert_clean(str(info.value))


def test_200_json_array_body_is_redacted(server: FakeModelServer, complete: Complete) -> None:
    server.fail_next(200, body=json.dumps([f"Bearer {KEY}"]))
    with openai(server) as provider, pytest.raises(ProviderError, match="expected an object") as info:
        complete(provider, ask())
    assert_clean(str(info.value))


@pytest.mark.parametrize("status", [400, 401, 500])
def test_error_status_bodies_are_redacted(server: FakeModelServer, status: int, complete: Complete) -> None:
    server.fail_next(status, message=echo_headers())
    with openai(server) as provider, pytest.raises(ProviderError, match=f"HTTP {status}") as info:
        complete(provider, ask())
    assert_clean(str(info.value))


def test_error_status_with_a_plain_text_body_is_redacted(server: FakeModelServer, complete: Complete) -> None:
    server.fail_next(502, body=echo_headers())
    with openai(server) as provider, pytest.raises(ProviderError, match="HTTP 502") as info:
        complete(provider, ask())
    assert_clean(str(info.value))


def test_anthropic_200_error_body_is_redacted(server: FakeModelServer, complete: Complete) -> None:
    error = {"type": "error", "error": {"type": "api_error", "message": echo_headers()}}
    server.fail_next(200, body=json.dumps(error))
    with anthropic(server) as provider, pytest.raises(ProviderError, match="api_error") as info:
        complete(provider, ask("claude-3-5-sonnet-20241022"))
    assert_clean(str(info.value))


def test_anthropic_non_json_body_is_redacted(server: FakeModelServer, complete: Complete) -> None:
    server.fail_next(200, body=f"x-api-key: {KEY}")
    with anthropic(server) as provider, pytest.raises(ProviderError) as info:
        complete(provider, ask("claude-3-5-sonnet-20241022"))
    assert_clean(str(info.value))


def test_answer_and_refusal_texts_are_redacted(server: FakeModelServer, complete: Complete) -> None:
    server.fail_next(200, body=json.dumps(openai_body(content=f"your key is {KEY}")))
    refusal = {"role": "assistant", "content": None, "refusal": f"I will not use Bearer {OTHER}"}
    server.fail_next(200, body=json.dumps(openai_body(message=refusal)))
    with openai(server) as provider:
        answer = complete(provider, ask())
        refused = complete(provider, ask())
    assert answer.text == "your key is ***"
    assert refused.refused
    assert refused.text == "I will not use Bearer ***"


def test_http_provider_secret_header_is_redacted_on_a_200(
    server: FakeModelServer, complete: Complete
) -> None:
    server.fail_next(200, body="token was tok-secret-0042")
    provider = HTTPProvider(
        url=server.openai_base_url + "/chat/completions",
        request_template={"model": "{{ model }}", "messages": [{"role": "user", "content": "{{ prompt }}"}]},
        response_path="choices.0.message.content",
        headers={"X-Token": "${SVC_TOKEN}"},
        env={"SVC_TOKEN": "tok-secret-0042"},
    )
    with provider, pytest.raises(ProviderError) as info:
        complete(provider, ask())
    assert "tok-secret-0042" not in str(info.value)


def test_connection_errors_are_redacted(complete: Complete) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1/{KEY}"
    with OpenAIProvider(api_key=KEY, base_url=url) as provider, pytest.raises(ProviderError) as info:
        complete(provider, ask())
    assert_clean(str(info.value))


def test_build_provider_masks_the_github_token_from_the_environment(
    server: FakeModelServer, complete: Complete
) -> None:
    server.fail_next(500, message=f"token {GH_TOKEN} refused")
    cfg = ModelConfig(provider="openai", name="gpt-4o-2024-11-20", base_url=server.openai_base_url)
    env = {"OPENAI_API_KEY": KEY, "GITHUB_TOKEN": GH_TOKEN}
    provider = build_provider(cfg, base_dir=Path("."), env=env)
    with pytest.raises(ProviderError) as info:
        complete(provider, ask())
    provider.close()
    assert_clean(str(info.value))


def test_model_caller_masks_every_provider_kind() -> None:
    cfg = ModelConfig(provider="python", name="app-1.0.0", function="x:y", max_attempts=2)
    fake = FakeProvider(
        {"ok": f"here: {GH_TOKEN}"},
        errors={"bad": [ProviderError(f"leak {GH_TOKEN}", retryable=True)] * 2},
    )
    caller = ModelCaller(config=cfg, provider=fake, redact=redactor_for({"GITHUB_TOKEN": GH_TOKEN}))
    assert caller.complete("ok", "p", None).text == "here: ***"
    with pytest.raises(ProviderError) as info:
        caller.complete("bad", "p", None)
    assert "gave up after 2 attempts" in str(info.value)
    assert_clean(str(info.value))


def test_redactor_leaves_prose_alone_and_masks_credential_shapes() -> None:
    redact = Redactor((KEY,))
    prose = "A bearer bond is a basic idea; the token limit is 4096."
    assert redact(prose) == prose
    assert redact(f'{{"api_key": "{OTHER}"}} ghp_abcdefghijklmnopqrstuvwxyz0123') == '{"api_key": "***"} ***'
    assert redact(f"key={KEY}!") == "key=***!"


# --- a total deadline per attempt -----------------------------------------------------------


def test_a_trickled_body_cannot_outlive_timeout_s(server: FakeModelServer, complete: Complete) -> None:
    server.trickle_next(0.05)  # ~300 bytes at 20 bytes a second: 15 s if every byte reset the timer
    started = time.monotonic()
    with (
        openai(server, timeout_s=1) as provider,
        pytest.raises(ProviderError, match="timed out after 1s") as info,
    ):
        complete(provider, ask())
    elapsed = time.monotonic() - started
    assert info.value.retryable is True
    assert elapsed < 2.5, f"the attempt lived {elapsed:.1f}s"


def test_a_quick_server_is_not_cut_by_the_deadline(server: FakeModelServer, complete: Complete) -> None:
    server.trickle_next(0.001)
    with openai(server, timeout_s=5) as provider:
        assert complete(provider, ask()).text == "slow answer"
        assert complete(provider, ask()).text == "echo: hi"  # the connection pool still works afterwards


# --- finish reasons and refusals ------------------------------------------------------------


def openai_body(content: str | None = "partial", finish: str = "stop", message: object = None) -> object:
    msg = message or {"role": "assistant", "content": content, "refusal": None}
    return {"model": "gpt-4o-2024-11-20", "choices": [{"index": 0, "message": msg, "finish_reason": finish}]}


@pytest.mark.parametrize(
    ("finish", "content", "truncated"),
    [("length", "The answer is", True), ("content_filter", None, True), ("stop", "done", False)],
)
def test_openai_finish_reason_is_kept(
    server: FakeModelServer, finish: str, content: str | None, truncated: bool, complete: Complete
) -> None:
    server.fail_next(200, body=json.dumps(openai_body(content, finish)))
    with openai(server) as provider:
        completion = complete(provider, ask())
    assert completion.finish_reason == finish
    assert completion.truncated is truncated
    assert completion.text == (content or "")


def test_openai_refusal_is_an_answer(server: FakeModelServer, complete: Complete) -> None:
    refusal = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    server.fail_next(200, body=json.dumps(openai_body(message=refusal)))
    with openai(server) as provider:
        completion = complete(provider, ask())
    assert completion == Completion(
        text="I can't help with that.",
        model="gpt-4o-2024-11-20",
        latency_ms=completion.latency_ms,
        finish_reason="stop",
        refused=True,
    )


TOOL_USE_TEXT = '[{"type": "tool_use", "name": "f", "input": {}}]'


@pytest.mark.parametrize(
    ("stop", "blocks", "text", "refused"),
    [
        ("max_tokens", [{"type": "text", "text": "Once upon"}], "Once upon", False),
        # the calls are the answer (is_valid_tool_call and javascript checks read them), as for OpenAI
        ("tool_use", [{"type": "tool_use", "id": "t", "name": "f", "input": {}}], TOOL_USE_TEXT, False),
        ("refusal", [], "", True),
        ("end_turn", [{"type": "text", "text": "Done."}], "Done.", False),
    ],
)
def test_anthropic_stop_reason_is_kept(
    server: FakeModelServer, stop: str, blocks: list[object], text: str, refused: bool, complete: Complete
) -> None:
    body = {"type": "message", "model": "claude-3-5-sonnet-20241022", "content": blocks, "stop_reason": stop}
    server.fail_next(200, body=json.dumps(body))
    with anthropic(server) as provider:
        completion = complete(provider, ask("claude-3-5-sonnet-20241022"))
    assert (completion.finish_reason, completion.text, completion.refused) == (stop, text, refused)
    assert completion.truncated is (stop == "max_tokens")


# --- end to end: no artefact carries the key -------------------------------------------------


def test_a_server_echoing_the_key_leaks_it_into_no_report_and_no_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from evalgate.cli import main

    monkeypatch.setenv("HOSTILE_KEY", KEY)
    monkeypatch.setenv("GITHUB_TOKEN", GH_TOKEN)
    with FakeModelServer() as server:
        server.fail_next(200, body=f"{echo_headers()} token={GH_TOKEN}", times=2)  # 2xx, not JSON
        server.fail_next(401, message=echo_headers(), times=1)  # an error status
        server.fail_next(200, body=json.dumps(openai_body(content=f"key: {KEY}")), times=1)  # an answer
        (tmp_path / "evals").mkdir()
        (tmp_path / "evals" / "s.yaml").write_text(
            "cases:\n"
            + "".join(
                f"  - {{id: c{i}, input: 'q{i}', checks: [{{type: contains, value: key}}]}}\n"
                for i in range(4)
            )
        )
        config = tmp_path / "evalgate.yaml"
        config.write_text(
            f"model: {{provider: openai, name: gpt-4o-2024-11-20, base_url: '{server.openai_base_url}',"
            " api_key_env: HOSTILE_KEY, max_attempts: 1}\nsuites: [evals/*.yaml]\nrunner: {concurrency: 1}\n"
        )
        out = tmp_path / "out"
        reports = [
            "--json",
            str(out / "r.json"),
            "--junit",
            str(out / "r.xml"),
            "--markdown",
            str(out / "r.md"),
        ]
        main(["run", "--config", str(config), "--no-cache", *reports])
    printed, logged = capsys.readouterr()
    report = (out / "r.json").read_text()
    assert "not JSON" in report
    assert "HTTP 401" in report
    for text in (report, (out / "r.xml").read_text(), (out / "r.md").read_text(), printed, logged):
        assert_clean(text)
