"""Anthropic messages API over plain ``requests``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from evalgate.errors import ProviderError
from evalgate.providers._http import VendorProvider
from evalgate.providers._wire import int_or_none
from evalgate.providers.base import ModelRequest
from evalgate.results import Completion

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_KEY_ENV = "ANTHROPIC_API_KEY"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024


class AnthropicProvider(VendorProvider):
    """POSTs ``/v1/messages`` with the prompt as the single user turn."""

    name = "anthropic"
    vendor = "Anthropic"
    default_base_url = DEFAULT_BASE_URL
    path = "/v1/messages"
    default_key_env = DEFAULT_KEY_ENV
    forbidden_hint = "may not have access to this model"
    fixed_headers: ClassVar[Mapping[str, str]] = {"anthropic-version": API_VERSION}

    def _outgoing(self, request: ModelRequest) -> tuple[dict[str, Any], Mapping[str, str], str]:
        """A messages request: ``max_tokens`` (required by the API), the system text, the turns."""
        what = f"Anthropic ({request.model})"
        params = {**self._params, **request.params}
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": params.pop("max_tokens", DEFAULT_MAX_TOKENS),
        }
        system = request.system if request.system is not None else self._system
        if system:
            body["system"] = system
        turns = [{"role": role, "content": text} for role, text in request.history]
        body["messages"] = [*turns, {"role": "user", "content": request.prompt}]
        body.update(params)

        headers = dict(self._headers)
        if self._api_key:
            headers["x-api-key"] = self._api_key
        return body, headers, what

    def _answer(
        self, data: dict[str, Any], request: ModelRequest, latency_ms: float, what: str
    ) -> Completion:
        """The text blocks of the answer, joined."""
        return parse_message(data, request, latency_ms, what=what)


def parse_message(
    data: Mapping[str, Any], request: ModelRequest, latency_ms: float, *, what: str
) -> Completion:
    """Turn an Anthropic message body into a ``Completion``; names what was missing."""
    if data.get("type") == "error":
        # Some proxies answer 200 with an error body; treat it like the status it stands for.
        err = data.get("error")
        detail = err.get("message") if isinstance(err, dict) else None
        kind = err.get("type") if isinstance(err, dict) else None
        retryable = kind in ("overloaded_error", "rate_limit_error", "api_error")
        raise ProviderError(f"{what} returned an error ({kind}): {detail}", retryable=retryable)
    content = data.get("content")
    if not isinstance(content, list):
        raise ProviderError(f"{what} response has no 'content' list (keys: {sorted(data)})", retryable=False)
    texts = [
        block["text"]
        for block in content
        if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)
    ]
    stop = data.get("stop_reason") if isinstance(data.get("stop_reason"), str) else None
    calls = [
        {"type": "tool_use", "name": block.get("name"), "input": block.get("input", {})}
        for block in content
        if isinstance(block, dict) and block.get("type") == "tool_use"
    ]
    if calls and not "".join(texts).strip():
        texts = [json.dumps(calls, ensure_ascii=False)]  # the calls are the answer, as for OpenAI
    if not texts and stop in (None, "end_turn", "stop_sequence"):
        raise ProviderError(
            f"{what} response has no text blocks in 'content' (stop_reason: {stop})", retryable=False
        )
    usage = data.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    served = data.get("model")
    return Completion(
        text="".join(texts),
        model=served if isinstance(served, str) and served else request.model,
        input_tokens=int_or_none(usage.get("input_tokens")),
        output_tokens=int_or_none(usage.get("output_tokens")),
        latency_ms=latency_ms,
        finish_reason=stop,
        refused=stop == "refusal",
    )
