"""The request fields each vendor API documents, with their types and ranges, for ``model.params``.

A param the vendor does not take (Anthropic has no ``seed`` or ``response_format``) or a value outside its
range (Anthropic's ``temperature`` stops at 1) is rejected by ``validate`` with file:line, before a single
call is paid for. OpenAI-compatible servers (vLLM, Ollama, LiteLLM) take more fields than OpenAI does;
``params_passthrough: true`` skips this check for them.

Sources: OpenAI "Create chat completion" and Anthropic "Messages" API references.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Field:
    """One documented request field: its JSON kinds, an inclusive numeric range or a set of values."""

    kinds: tuple[str, ...]
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable, or None."""
        kind = _kind(value)
        if kind not in self.kinds and not (kind == "integer" and "number" in self.kinds):
            return f"is {_article(kind)}, expected {' or '.join(_article(k) for k in self.kinds)}"
        if self.choices and value not in self.choices:
            return f"is {value!r}, expected one of: {', '.join(self.choices)}"
        below = self.low is not None and value < self.low
        above = self.high is not None and value > self.high
        if kind in ("integer", "number") and (below or above):
            return f"is {value:g}, outside the documented range {_range(self.low, self.high)}"
        return None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return "null" if value is None else type(value).__name__


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _range(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"{low:g} to {high:g}"
    return f">= {low:g}" if low is not None else f"<= {high:g}"


NUMBER, INTEGER, STRING, BOOLEAN, LIST, MAPPING = "number", "integer", "string", "boolean", "list", "mapping"

OPENAI: dict[str, Field] = {
    "temperature": Field((NUMBER,), 0, 2),
    "top_p": Field((NUMBER,), 0, 1),
    "n": Field((INTEGER,), 1, 128),
    "max_tokens": Field((INTEGER,), 1),
    "max_completion_tokens": Field((INTEGER,), 1),
    "presence_penalty": Field((NUMBER,), -2, 2),
    "frequency_penalty": Field((NUMBER,), -2, 2),
    "seed": Field((INTEGER,)),
    "stop": Field((STRING, LIST)),
    "logit_bias": Field((MAPPING,)),
    "logprobs": Field((BOOLEAN,)),
    "top_logprobs": Field((INTEGER,), 0, 20),
    "response_format": Field((MAPPING,)),
    "tools": Field((LIST,)),
    "tool_choice": Field((STRING, MAPPING)),
    "parallel_tool_calls": Field((BOOLEAN,)),
    "reasoning_effort": Field((STRING,), choices=("minimal", "low", "medium", "high")),
    "verbosity": Field((STRING,), choices=("low", "medium", "high")),
    "service_tier": Field((STRING,), choices=("auto", "default", "flex", "scale", "priority")),
    "user": Field((STRING,)),
    "safety_identifier": Field((STRING,)),
    "prompt_cache_key": Field((STRING,)),
    "store": Field((BOOLEAN,)),
    "metadata": Field((MAPPING,)),
    "modalities": Field((LIST,)),
    "audio": Field((MAPPING,)),
    "prediction": Field((MAPPING,)),
    "web_search_options": Field((MAPPING,)),
}

ANTHROPIC: dict[str, Field] = {
    "max_tokens": Field((INTEGER,), 1),
    "temperature": Field((NUMBER,), 0, 1),
    "top_p": Field((NUMBER,), 0, 1),
    "top_k": Field((INTEGER,), 0),
    "stop_sequences": Field((LIST,)),
    "metadata": Field((MAPPING,)),
    "tools": Field((LIST,)),
    "tool_choice": Field((MAPPING,)),
    "thinking": Field((MAPPING,)),
    "service_tier": Field((STRING,), choices=("auto", "standard_only")),
}

# Fields evalgate writes itself: a param would fight it (model, messages) or break parsing (stream).
_OWN = {
    "model": "evalgate sends model.name",
    "messages": "evalgate sends the rendered prompt (and system) as the messages",
    "system": "set model.system (or a case's system) instead",
    "stream": "evalgate reads one whole JSON answer; streaming is not supported",
}

VENDORS: dict[str, tuple[str, dict[str, Field]]] = {
    "openai": ("OpenAI's chat completions API", OPENAI),
    "anthropic": ("Anthropic's messages API", ANTHROPIC),
}


@dataclass(frozen=True, slots=True)
class ParamProblem:
    """A param the vendor would reject: which key, what is wrong, how to fix it."""

    key: str
    message: str
    fix: str


def check_params(provider: str, params: Mapping[str, Any]) -> list[ParamProblem]:
    """Every param of ``params`` that ``provider``'s API does not document, or whose value it would reject."""
    vendor = VENDORS.get(provider)
    if vendor is None:
        return []  # http, command, python, replay: the params are the user's own contract
    api, fields = vendor
    passthrough = "or, for an OpenAI-compatible server that takes it, set params_passthrough: true"
    problems = []
    for key, value in params.items():
        if key in _OWN:
            problems.append(ParamProblem(key, f"'{key}' cannot be a param", _OWN[key]))
            continue
        spec = fields.get(key)
        if spec is None:
            known = ", ".join(sorted(fields))
            problems.append(
                ParamProblem(
                    key, f"{api} has no request field '{key}'", f"use one of: {known}; {passthrough}"
                )
            )
            continue
        why = spec.problem(value)
        if why is not None:
            problems.append(ParamProblem(key, f"'{key}' {why} for {api}", f"fix the value, {passthrough}"))
    return problems
