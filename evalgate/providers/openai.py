"""OpenAI chat completions over plain ``requests`` (also fits OpenAI-compatible servers)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from evalgate.errors import ProviderError
from evalgate.providers._http import VendorProvider
from evalgate.providers._wire import int_or_none, json_object, post_json, status_error
from evalgate.providers.base import ModelRequest
from evalgate.redact import redact_error
from evalgate.results import Completion

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"


class OpenAIProvider(VendorProvider):
    """POSTs ``/chat/completions`` with one optional system message and one user message."""

    name = "openai"
    vendor = "OpenAI"
    default_base_url = DEFAULT_BASE_URL
    path = "/chat/completions"
    default_key_env = DEFAULT_KEY_ENV
    forbidden_hint = "may not have access to this model or project"

    def _outgoing(self, request: ModelRequest) -> tuple[dict[str, Any], Mapping[str, str], str]:
        """A chat completion request: the optional system message, earlier turns, then the prompt."""
        what = f"OpenAI ({request.model})"
        system = request.system if request.system is not None else self._system
        messages: list[dict[str, str]] = []
        if system:
            messages.append({"role": "system", "content": system})
        messages += [{"role": role, "content": text} for role, text in request.history]
        messages.append({"role": "user", "content": request.prompt})
        body: dict[str, Any] = {"model": request.model, "messages": messages}
        body.update(self._params)
        body.update(request.params)

        headers = dict(self._headers)
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return body, headers, what

    def _answer(
        self, data: dict[str, Any], request: ModelRequest, latency_ms: float, what: str
    ) -> Completion:
        return parse_chat_completion(data, request, latency_ms, what=what)

    def embed(self, model: str, texts: Sequence[str]) -> list[list[float]]:
        """One embedding vector per text from ``/embeddings`` (for ``similar`` checks)."""
        what = f"OpenAI embeddings ({model})"
        headers = dict(self._headers)
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        try:
            response, _ = post_json(
                self._transport_for(f"{self.base_url}/embeddings"),
                body={"model": model, "input": list(texts)},
                headers=headers,
                timeout_s=self._timeout_s,
                what=what,
            )
            if not response.ok:
                raise status_error(response, what=what, hints=self._hints)
            return parse_embeddings(json_object(response, what=what), len(texts), what=what)
        except ProviderError as exc:
            raise redact_error(exc, self._redact) from None


def parse_embeddings(data: Mapping[str, Any], count: int, *, what: str) -> list[list[float]]:
    """The vectors of an OpenAI embeddings body, in input order; names what is malformed."""
    items = data.get("data")
    if not isinstance(items, list) or len(items) != count:
        raise ProviderError(f"{what} response has no 'data' list of {count} embeddings", retryable=False)
    ordered = sorted(items, key=lambda item: item.get("index", 0) if isinstance(item, dict) else 0)
    vectors = []
    for item in ordered:
        vector = item.get("embedding") if isinstance(item, dict) else None
        if not isinstance(vector, list) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in vector
        ):
            raise ProviderError(
                f"{what} response has an embedding that is not a list of numbers", retryable=False
            )
        vectors.append([float(x) for x in vector])
    return vectors


def parse_chat_completion(
    data: Mapping[str, Any], request: ModelRequest, latency_ms: float, *, what: str
) -> Completion:
    """Turn an OpenAI chat-completion body into a ``Completion``; names the first missing field."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise ProviderError(f"{what} response has no 'choices' (keys: {sorted(data)})", retryable=False)
    first = choices[0]
    message = first.get("message") if isinstance(first, dict) else None
    if not isinstance(message, dict):
        raise ProviderError(f"{what} response has no 'choices[0].message'", retryable=False)
    finish = first.get("finish_reason") if isinstance(first.get("finish_reason"), str) else None
    content = message.get("content")
    refusal = message.get("refusal")
    refused = isinstance(refusal, str) and bool(refusal)
    if refused:
        text = str(refusal)  # a refusal is the model's answer: the checks (e.g. 'refusal') judge it
    elif isinstance(content, str) and content:
        text = content
    elif isinstance(message.get("tool_calls"), list) and message["tool_calls"]:
        # like promptfoo, the tool calls are the output; is_valid_tool_call checks them
        text = json.dumps(message["tool_calls"], ensure_ascii=False)
    elif isinstance(content, str):
        text = content
    elif content is None and finish in ("length", "content_filter", "tool_calls", "function_call"):
        text = ""  # nothing usable came back, and finish_reason says why; the report shows it
    else:
        raise ProviderError(
            f"{what} response has no text in 'choices[0].message.content' (finish_reason: {finish})",
            retryable=False,
        )
    usage = data.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    served = data.get("model")
    fingerprint = data.get("system_fingerprint")
    return Completion(
        text=text,
        model=served if isinstance(served, str) and served else request.model,
        input_tokens=int_or_none(usage.get("prompt_tokens")),
        output_tokens=int_or_none(usage.get("completion_tokens")),
        latency_ms=latency_ms,
        finish_reason=finish,
        refused=refused,
        system_fingerprint=fingerprint if isinstance(fingerprint, str) and fingerprint else None,
    )
