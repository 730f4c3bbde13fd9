"""Any JSON-over-HTTP model endpoint: a request template in, an answer at a dotted path out."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from evalgate.errors import ConfigError, ProviderError
from evalgate.providers._http import HTTPProviderBase
from evalgate.providers._wire import check_url, int_or_none
from evalgate.providers.base import ModelRequest
from evalgate.results import Completion

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
PLACEHOLDER_NAMES = ("prompt", "model", "system")
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(value: str, env: Mapping[str, str], *, where: str) -> str:
    """Replace ``${NAME}`` with the environment variable; ``ConfigError`` when it is not set."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(
                f"environment variable {name} is not set",
                where=where,
                fix=f"export {name} (in CI, pass it from a secret), or remove '${{{name}}}'",
            )
        return env[name]

    return ENV_REF.sub(sub, value)


def check_template(template: Any, path: str = "model.request") -> None:
    """Fail at load time on placeholders the renderer does not know, e.g. a typo like ``{{ promt }}``."""
    if isinstance(template, str):
        for match in PLACEHOLDER.finditer(template):
            if match.group(1) not in PLACEHOLDER_NAMES:
                known = ", ".join(f"{{{{ {n} }}}}" for n in PLACEHOLDER_NAMES)
                raise ConfigError(
                    f"unknown placeholder '{match.group(0)}'", where=path, fix=f"use one of: {known}"
                )
    elif isinstance(template, Mapping):
        for key, value in template.items():
            check_template(value, f"{path}.{key}")
    elif isinstance(template, list):
        for index, value in enumerate(template):
            check_template(value, f"{path}[{index}]")


def render_template(template: Any, values: Mapping[str, str]) -> Any:
    """Substitute placeholders inside every string of a JSON-like structure.

    Substitution happens on Python strings before JSON encoding, so quotes and newlines in the prompt
    are escaped by the encoder rather than breaking the body.
    """
    if isinstance(template, str):
        return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)
    if isinstance(template, Mapping):
        return {key: render_template(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [render_template(value, values) for value in template]
    return template


def extract_path(data: Any, path: str) -> Any:
    """Follow ``a.0.b`` through dicts and lists; ``KeyError`` with a readable reason when it breaks."""
    current = data
    walked: list[str] = []
    for part in path.split("."):
        here = ".".join([*walked, part])
        if isinstance(current, list):
            try:
                index = int(part)
            except ValueError:
                raise KeyError(f"'{here}': expected a list index, found '{part}'") from None
            if not -len(current) <= index < len(current):
                raise KeyError(f"'{here}': index out of range (list of {len(current)})")
            current = current[index]
        elif isinstance(current, dict):
            if part not in current:
                raise KeyError(f"'{here}' is missing")
            current = current[part]
        else:
            raise KeyError(f"'{'.'.join(walked)}' is a {type(current).__name__}, not an object or list")
        walked.append(part)
    return current


class HTTPProvider(HTTPProviderBase):
    """POSTs a rendered JSON template to ``base_url`` and reads the answer at ``response_path``."""

    name = "http"

    def __init__(
        self,
        *,
        url: str,
        request_template: Mapping[str, Any],
        response_path: str,
        headers: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float = 60.0,
        concurrency: int = 8,
        system: str | None = None,
    ) -> None:
        env = env or {}
        # Header values that came from the environment are secrets (tokens); keep them out of messages.
        secrets = [
            env[name]
            for value in (headers or {}).values()
            for name in ENV_REF.findall(value)
            if env.get(name)
        ]
        self.url = check_url(url, what="http base_url")
        super().__init__(url=self.url, secrets=secrets)
        check_template(dict(request_template))
        self._template = dict(request_template)
        self._response_path = response_path
        self._timeout_s = timeout_s
        self._system = system
        self._headers = {
            key: expand_env(value, env, where=f"model.headers.{key}")
            for key, value in (headers or {}).items()
        }

    def __repr__(self) -> str:
        return f"HTTPProvider(url={self.url!r}, response_path={self._response_path!r})"

    def _outgoing(self, request: ModelRequest) -> tuple[dict[str, Any], Mapping[str, str], str]:
        """The template rendered with the prompt, model and system text."""
        what = f"HTTP endpoint ({request.model})"
        system = request.system if request.system is not None else self._system
        body = render_template(
            self._template, {"prompt": request.prompt, "model": request.model, "system": system or ""}
        )
        return body, self._headers, what

    def _answer(
        self, data: dict[str, Any], request: ModelRequest, latency_ms: float, what: str
    ) -> Completion:
        """The answer at ``response_path``, and the usage when the body has OpenAI's or Anthropic's."""
        try:
            value = extract_path(data, self._response_path)
        except KeyError as exc:
            raise ProviderError(
                f"{what} response has no answer at response_path '{self._response_path}': {exc.args[0]}; "
                f"top-level keys received: {sorted(data)}",
                retryable=False,
            ) from None
        if value is None:
            raise ProviderError(
                f"{what} response has null at response_path '{self._response_path}'", retryable=False
            )
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        usage = data.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        served = data.get("model")
        return Completion(
            text=text,
            model=served if isinstance(served, str) and served else request.model,
            input_tokens=int_or_none(usage.get("prompt_tokens", usage.get("input_tokens"))),
            output_tokens=int_or_none(usage.get("completion_tokens", usage.get("output_tokens"))),
            latency_ms=latency_ms,
        )
