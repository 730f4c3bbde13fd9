"""The http, command, python and replay providers, the registry, pricing and the in-process fake."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from evalgate.config import ModelConfig, Price
from evalgate.errors import ConfigError, ProviderError
from evalgate.pricing import cost_usd
from evalgate.providers import PROVIDERS, build_provider
from evalgate.providers.base import ModelRequest, Provider
from evalgate.providers.command import CommandProvider
from evalgate.providers.http import HTTPProvider, extract_path
from evalgate.providers.replay import ReplayProvider, write_recording
from evalgate.retry import call_with_retries
from evalgate.testing import FakeModelServer, FakeProvider
from tests.callpaths import Complete


def ask(prompt: str = "hello", *, case_id: str = "c1", model: str = "m-1", **kwargs: Any) -> ModelRequest:
    return ModelRequest(case_id=case_id, prompt=prompt, model=model, **kwargs)


def complete(provider: Provider, request: ModelRequest) -> str:
    try:
        return provider.complete(request).text
    finally:
        provider.close()


def test_registry_lists_every_configurable_provider() -> None:
    assert set(PROVIDERS) == {"openai", "anthropic", "http", "command", "python", "replay"}


# --- http -------------------------------------------------------------------------------------

OPENAI_LIKE = {
    "model": "{{ model }}",
    "messages": [
        {"role": "system", "content": "{{system}}"},
        {"role": "user", "content": "Question: {{ prompt }}"},
    ],
    "temperature": 0,
}


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer(responder=lambda body: body["messages"][-1]["content"]) as fake:
        yield fake


def http_provider(server: FakeModelServer, **kwargs: Any) -> HTTPProvider:
    options: dict[str, Any] = {
        "url": f"{server.url}/v1/chat/completions",
        "request_template": OPENAI_LIKE,
        "response_path": "choices.0.message.content",
    }
    options.update(kwargs)
    return HTTPProvider(**options)


def test_http_renders_template_without_breaking_json(server: FakeModelServer) -> None:
    tricky = 'He said "hi"\nthen {left} \\ right'
    text = complete(http_provider(server, system="sys"), ask(tricky))
    assert text == f"Question: {tricky}"
    assert server.requests[0].json == {
        "model": "m-1",
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": f"Question: {tricky}"},
        ],
        "temperature": 0,
    }


def test_http_headers_expand_env_vars(server: FakeModelServer) -> None:
    provider = http_provider(
        server, headers={"Authorization": "Bearer ${SVC_TOKEN}"}, env={"SVC_TOKEN": "tok-123"}
    )
    complete(provider, ask())
    assert server.requests[0].headers["authorization"] == "Bearer tok-123"


def test_http_header_with_unset_env_var_is_config_error(server: FakeModelServer) -> None:
    with pytest.raises(ConfigError, match="environment variable SVC_TOKEN is not set"):
        http_provider(server, headers={"Authorization": "Bearer ${SVC_TOKEN}"}, env={})


def test_http_unknown_placeholder_is_config_error(server: FakeModelServer) -> None:
    with pytest.raises(ConfigError, match=r"model\.request\.input: unknown placeholder '\{\{ promt \}\}'"):
        http_provider(server, request_template={"input": "{{ promt }}"})


def test_http_missing_response_path_shows_path_and_top_level_keys(server: FakeModelServer) -> None:
    provider = http_provider(server, response_path="data.answer")
    with pytest.raises(ProviderError) as info:
        complete(provider, ask())
    message = str(info.value)
    assert "response_path 'data.answer'" in message
    assert "'data' is missing" in message
    assert "'choices'" in message
    assert "'usage'" in message
    assert info.value.retryable is False


def test_http_503_is_retried_and_secret_header_values_never_leak(
    server: FakeModelServer, complete: Complete
) -> None:
    server.fail_next(503, retry_after=2, message="token tok-secret-9 is throttled")
    waits: list[float] = []
    provider = http_provider(server, headers={"X-Key": "${SVC_TOKEN}"}, env={"SVC_TOKEN": "tok-secret-9"})
    try:
        text = call_with_retries(
            lambda: complete(provider, ask()).text, max_attempts=2, describe="x", sleep=waits.append
        )
        server.fail_next(401, message="bad token tok-secret-9")
        with pytest.raises(ProviderError) as info:
            complete(provider, ask())
    finally:
        provider.close()
    assert text == "Question: hello"
    assert waits == [2.0]
    assert "tok-secret-9" not in str(info.value)
    assert info.value.retryable is False


@pytest.mark.parametrize(
    ("path", "expected"),
    [("a.0.b", "x"), ("a.-1.b", "y"), ("n", 3)],
)
def test_extract_path_follows_keys_and_indexes(path: str, expected: object) -> None:
    assert extract_path({"a": [{"b": "x"}, {"b": "y"}], "n": 3}, path) == expected


@pytest.mark.parametrize(
    ("path", "reason"),
    [("a.5", "index out of range"), ("a.b", "expected a list index"), ("n.x", "is a int")],
)
def test_extract_path_explains_where_it_broke(path: str, reason: str) -> None:
    with pytest.raises(KeyError, match=reason):
        extract_path({"a": [1], "n": 3}, path)


# --- command ----------------------------------------------------------------------------------


def write_script(tmp_path: Path, body: str) -> list[str]:
    script = tmp_path / "model.py"
    script.write_text(textwrap.dedent(body), encoding="utf-8")
    return [sys.executable, "model.py"]


def test_command_passes_prompt_on_stdin_and_env(tmp_path: Path) -> None:
    argv = write_script(
        tmp_path,
        """
        import os, sys
        prompt = sys.stdin.read()
        print(f"{os.environ['EVALGATE_MODEL']}|{os.environ['EVALGATE_CASE_ID']}|{prompt}")
        """,
    )
    provider = CommandProvider(argv=argv, base_dir=tmp_path, env=dict(os.environ))
    completion = provider.complete(ask("two\nlines\n", case_id="case-7"))
    assert completion.text == "m-1|case-7|two\nlines\n"  # only print's newline is stripped
    assert completion.latency_ms > 0


def test_command_nonzero_exit_shows_last_stderr_lines(tmp_path: Path) -> None:
    argv = write_script(
        tmp_path,
        """
        import sys
        for i in range(30):
            print(f"log line {i}", file=sys.stderr)
        sys.exit(3)
        """,
    )
    with pytest.raises(ProviderError) as info:
        CommandProvider(argv=argv, base_dir=tmp_path).complete(ask())
    message = str(info.value)
    assert "exited with status 3" in message
    assert "log line 29" in message
    assert "log line 5\n" not in message
    assert info.value.retryable is False


def test_command_timeout_kills_and_is_retryable(tmp_path: Path) -> None:
    argv = write_script(tmp_path, "import time\ntime.sleep(30)\n")
    with pytest.raises(ProviderError, match=r"timed out after 0\.3s") as info:
        CommandProvider(argv=argv, base_dir=tmp_path, timeout_s=0.3).complete(ask())
    assert info.value.retryable is True


def test_command_missing_executable_is_config_error_with_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found on PATH") as info:
        CommandProvider(argv=["no-such-model-binary-xyz"], base_dir=tmp_path)
    assert info.value.fix is not None
    with pytest.raises(ConfigError, match="does not exist"):
        CommandProvider(argv=["./bin/answer"], base_dir=tmp_path)


# --- python -----------------------------------------------------------------------------------


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], str]]:
    """Write a uniquely named module into tmp_path; returns a function giving 'module:attr' refs."""
    name = f"user_model_{uuid.uuid4().hex[:8]}"
    monkeypatch.syspath_prepend(str(tmp_path))
    holder: dict[str, str] = {}

    def write(source: str) -> str:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        holder["name"] = name
        return name

    yield write
    sys.modules.pop(name, None)


def python_provider(tmp_path: Path, ref: str) -> Provider:
    return build_provider(ModelConfig(provider="python", name="m-1", function=ref), base_dir=tmp_path, env={})


def test_python_passes_only_the_keyword_arguments_the_function_accepts(
    tmp_path: Path, user_module: Callable[[str], str]
) -> None:
    mod = user_module(
        """
        def simple(prompt):
            return prompt.upper()

        def detailed(prompt, *, case_id, system=None):
            return f"{case_id}:{system}:{prompt}"

        def everything(prompt, **kwargs):
            return ",".join(sorted(kwargs))
        """
    )
    assert complete(python_provider(tmp_path, f"{mod}:simple"), ask("hi")) == "HI"
    assert complete(python_provider(tmp_path, f"{mod}:detailed"), ask("hi", system="s")) == "c1:s:hi"
    assert complete(python_provider(tmp_path, f"{mod}:everything"), ask()) == "case_id,model,params,system"


def test_python_dict_result_carries_usage_and_cost(tmp_path: Path, user_module: Callable[[str], str]) -> None:
    mod = user_module(
        """
        def answer(prompt, *, model, params):
            return {"text": "ok", "model": model + "-served", "input_tokens": 3, "output_tokens": 1,
                    "cost_usd": 0.002, "seen": params["t"]}
        """
    )
    provider = python_provider(tmp_path, f"{mod}:answer")
    completion = provider.complete(ask(params={"t": 1}))
    assert (completion.text, completion.model) == ("ok", "m-1-served")
    assert (completion.input_tokens, completion.output_tokens, completion.cost_usd) == (3, 1, 0.002)


def test_python_async_function_is_awaited(tmp_path: Path, user_module: Callable[[str], str]) -> None:
    mod = user_module("async def answer(prompt):\n    return 'async ' + prompt\n")
    assert complete(python_provider(tmp_path, f"{mod}:answer"), ask("hi")) == "async hi"


def test_python_exception_becomes_non_retryable_provider_error(
    tmp_path: Path, user_module: Callable[[str], str]
) -> None:
    mod = user_module("def answer(prompt):\n    raise KeyError('tenant')\n")
    with pytest.raises(ProviderError, match=r"raised KeyError: 'tenant'") as info:
        python_provider(tmp_path, f"{mod}:answer").complete(ask())
    assert info.value.retryable is False


def test_python_wrong_return_type_is_explained(tmp_path: Path, user_module: Callable[[str], str]) -> None:
    mod = user_module("def answer(prompt):\n    return {'answer': 'x'}\n")
    with pytest.raises(ProviderError, match=r"returned a dict with keys \['answer'\]; expected a str"):
        python_provider(tmp_path, f"{mod}:answer").complete(ask())


def test_python_function_without_prompt_argument_is_config_error(
    tmp_path: Path, user_module: Callable[[str], str]
) -> None:
    mod = user_module("def answer(*, model):\n    return model\n")
    with pytest.raises(ConfigError, match="no positional argument for the prompt"):
        python_provider(tmp_path, f"{mod}:answer")


# --- replay -----------------------------------------------------------------------------------


def test_replay_answers_from_yaml_strings_and_mappings(tmp_path: Path) -> None:
    (tmp_path / "rec.yaml").write_text(
        "greet: Hello!\nrefund:\n  text: |\n    Line one\n    Line two\n  model: gpt-4o-2024-08-06\n"
        "  latency_ms: 812.5\n  input_tokens: 40\n  output_tokens: 9\n",
        encoding="utf-8",
    )
    cfg = ModelConfig(provider="replay", name="gpt-4o-2024-08-06", responses="rec.yaml")
    provider = build_provider(cfg, base_dir=tmp_path, env={})
    assert provider.complete(ask(case_id="greet")).text == "Hello!"
    refund = provider.complete(ask(case_id="refund"))
    assert refund.text == "Line one\nLine two\n"
    assert (refund.model, refund.latency_ms, refund.input_tokens, refund.output_tokens) == (
        "gpt-4o-2024-08-06",
        812.5,
        40,
        9,
    )


def test_replay_missing_case_says_how_to_rerecord(tmp_path: Path) -> None:
    (tmp_path / "rec.json").write_text(json.dumps({"a": "x"}), encoding="utf-8")
    provider = ReplayProvider(path=tmp_path / "rec.json", display_path="rec.json")
    with pytest.raises(ProviderError) as info:
        provider.complete(ask(case_id="missing"))
    assert str(info.value) == (
        "no recorded response for case 'missing' in rec.json; re-record with `evalgate record`"
    )
    assert info.value.retryable is False


def test_replay_bad_entry_is_config_error_with_line(tmp_path: Path) -> None:
    (tmp_path / "rec.yaml").write_text("a: ok\nb:\n  txt: typo\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"rec\.yaml:3: b\.txt: unknown key 'txt'"):
        ReplayProvider(path=tmp_path / "rec.yaml")


def test_replay_missing_file_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="recorded responses file not found"):
        ReplayProvider(path=tmp_path / "nope.yaml")


def test_write_recording_sorts_keys_uses_literal_blocks_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "out" / "rec.yaml"
    mapping: dict[str, Any] = {
        "zeta": "one line",
        "alpha": "first\nsecond\n",
        "123": {"text": "no trailing newline\nhere", "model": "m", "input_tokens": 1},
    }
    write_recording(path, mapping)
    text = path.read_text(encoding="utf-8")
    assert text.index("'123'") < text.index("alpha") < text.index("zeta")
    assert "alpha: |\n  first\n  second\n" in text
    loaded = ReplayProvider(path=path)
    assert loaded.complete(ask(case_id="alpha")).text == "first\nsecond\n"
    assert loaded.complete(ask(case_id="123")).text == "no trailing newline\nhere"
    assert yaml.safe_load(text)["zeta"] == "one line"


def test_write_recording_to_json(tmp_path: Path) -> None:
    path = tmp_path / "rec.json"
    write_recording(path, {"b": "2", "a": "1"})
    assert list(json.loads(path.read_text(encoding="utf-8"))) == ["a", "b"]


# --- pricing ----------------------------------------------------------------------------------


def test_cost_uses_configured_name_then_served_model() -> None:
    prices = {"gpt-4o-2024-08-06": Price(input=2.5, output=10.0)}
    assert cost_usd(prices, "gpt-4o-2024-08-06", 1000, 100) == pytest.approx(0.0035)
    assert cost_usd(prices, "gpt-4o", 1_000_000, 0, served="gpt-4o-2024-08-06") == pytest.approx(2.5)


def test_cost_is_unknown_without_price_or_token_counts() -> None:
    prices = {"m": Price(input=1, output=1)}
    assert cost_usd(prices, "other", 10, 10) is None
    assert cost_usd(prices, "m", None, 10) is None


# --- FakeProvider -----------------------------------------------------------------------------


def test_fake_provider_answers_by_case_and_raises_queued_errors() -> None:
    fake = FakeProvider({"a": "A"}, errors={"a": [ProviderError("busy", retryable=True)]})
    waits: list[float] = []
    text = call_with_retries(
        lambda: fake.complete(ask(case_id="a")).text, max_attempts=2, describe="a", sleep=waits.append
    )
    assert text == "A"
    assert len(fake.requests) == 2
    with pytest.raises(ProviderError, match="no answer for case 'b'"):
        fake.complete(ask(case_id="b"))
    fake.close()
    assert fake.closed


def test_fake_provider_accepts_a_function() -> None:
    fake = FakeProvider(lambda r: r.prompt[::-1], served_model="served-1")
    completion = fake.complete(ask("abc"))
    assert (completion.text, completion.model) == ("cba", "served-1")
