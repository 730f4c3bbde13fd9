"""The model APIs' wire formats as ``FakeModelServer`` speaks them: its routes, the bodies of OpenAI
chat-completions, Anthropic messages and embeddings answers and errors, and the deterministic tokens,
prompts and embeddings behind them. Pure functions: no server, no state.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    """A responder's answer with more than text: why the model stopped, or a refusal.

    ``reason`` is sent verbatim as OpenAI ``finish_reason`` or Anthropic ``stop_reason`` (``length``,
    ``content_filter``, ``max_tokens``, ``tool_use``, ``refusal``...). ``refusal`` fills OpenAI's
    ``message.refusal`` (with ``content: null``); ``text=None`` sends no text at all.
    """

    text: str | None
    reason: str | None = None
    refusal: str | None = None


Responder = Callable[[dict[str, Any]], str | Answer]

OPENAI_PATHS = ("/v1/chat/completions", "/chat/completions")
ANTHROPIC_PATHS = ("/v1/messages",)
EMBEDDING_PATHS = ("/v1/embeddings", "/embeddings")
EMBEDDING_SIZE = 64
ToolCaller = Callable[[dict[str, Any]], list[dict[str, Any]] | None]
_OPENAI_ERROR_TYPES = {401: "invalid_request_error", 429: "requests", 500: "server_error"}
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def count_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: about four characters per token, at least one."""
    return max(1, (len(text) + 3) // 4)


def prompt_of(body: Mapping[str, Any]) -> str:
    """The text of the last user message in an OpenAI or Anthropic request body."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


def echo(body: dict[str, Any]) -> str:
    """The default responder: a deterministic answer derived from the prompt."""
    return f"echo: {prompt_of(body)}"


def openai_answer(
    serial: int,
    model: str,
    answer: Answer,
    prompt_tokens: int,
    answer_tokens: int,
    fingerprint: str = "fp_evalgate_fake",
) -> dict[str, Any]:
    """An OpenAI chat completion carrying ``answer``."""
    return {
        "id": f"chatcmpl-fake{serial:06d}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text, "refusal": answer.refusal},
                "logprobs": None,
                "finish_reason": answer.reason or "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": answer_tokens,
            "total_tokens": prompt_tokens + answer_tokens,
        },
        "system_fingerprint": fingerprint,
    }


def anthropic_answer(
    serial: int, model: str, answer: Answer, prompt_tokens: int, answer_tokens: int
) -> dict[str, Any]:
    """An Anthropic message carrying ``answer``."""
    return {
        "id": f"msg_fake{serial:06d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [] if answer.text is None else [{"type": "text", "text": answer.text}],
        "stop_reason": answer.reason or "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": prompt_tokens, "output_tokens": answer_tokens},
    }


def openai_tool_answer(
    serial: int, model: str, calls: Sequence[dict[str, Any]], fingerprint: str
) -> dict[str, Any]:
    """An OpenAI chat completion that answers with ``calls`` (OpenAI's tool-call format)."""
    payload = openai_answer(serial, model, Answer(""), 1, 1, fingerprint)
    choice = payload["choices"][0]
    choice["message"]["content"] = None
    choice["message"]["tool_calls"] = calls
    choice["finish_reason"] = "tool_calls"
    return payload


def anthropic_tool_answer(serial: int, model: str, calls: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """An Anthropic message whose content is ``calls`` (given in OpenAI's format) as ``tool_use`` blocks."""
    reply = anthropic_answer(serial, model, Answer(""), 1, 1)
    reply["content"] = [
        {
            "type": "tool_use",
            "id": f"toolu_{i}",
            "name": c["function"]["name"],
            "input": json.loads(c["function"].get("arguments") or "{}"),
        }
        for i, c in enumerate(calls)
    ]
    reply["stop_reason"] = "tool_use"
    return reply


def embed_text(text: str) -> list[float]:
    """A deterministic stand-in for an embedding model: hashed, case-folded word counts.

    Texts that share words point the same way, so cosine similarity behaves like a (crude) real one.
    """
    import hashlib

    vector = [0.0] * EMBEDDING_SIZE
    for word in "".join(c if c.isalnum() else " " for c in text.casefold()).split():
        digest = hashlib.sha256(word.encode("utf-8")).digest()
        vector[digest[0] % EMBEDDING_SIZE] += 1.0 if digest[1] % 2 else 0.5
    return vector


def embeddings_answer(body: dict[str, Any]) -> dict[str, Any]:
    """The embeddings of a request's ``input`` (a string or a list of them), OpenAI-shaped."""
    raw = body["input"]
    texts = [raw] if isinstance(raw, str) else [str(t) for t in raw]
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": embed_text(t)} for i, t in enumerate(texts)
        ],
        "model": body["model"],
        "usage": {"prompt_tokens": sum(count_tokens(t) for t in texts), "total_tokens": 0},
    }


def error_body(status: int, message: str, *, anthropic: bool) -> dict[str, Any]:
    """The error body the Anthropic or the OpenAI API sends with ``status``."""
    if anthropic:
        kind = _ANTHROPIC_ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    kind = _OPENAI_ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    code = {401: "invalid_api_key", 429: "rate_limit_exceeded", 404: "model_not_found"}.get(status)
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}
