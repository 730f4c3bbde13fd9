"""promptfoo provider ids (``openai:chat:gpt-4o``) as evalgate model sections."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# OpenAI-compatible vendors promptfoo knows by prefix: base URL and the key's environment variable
COMPATIBLE: dict[str, tuple[str, str]] = {
    "groq": ("https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    "mistral": ("https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "deepseek": ("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    "togetherai": ("https://api.together.xyz/v1", "TOGETHER_API_KEY"),
    "fireworks": ("https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
    "perplexity": ("https://api.perplexity.ai", "PERPLEXITY_API_KEY"),
    "xai": ("https://api.x.ai/v1", "XAI_API_KEY"),
    "ollama": ("http://localhost:11434/v1", ""),
    "localai": ("http://localhost:8080/v1", ""),
}
# request parameters that mean the same in promptfoo's provider config and the vendor APIs
PARAMS = {
    "temperature": "temperature",
    "max_tokens": "max_tokens",
    "top_p": "top_p",
    "seed": "seed",
    "stop": "stop",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "response_format": "response_format",
    "tools": "tools",
    "tool_choice": "tool_choice",
    "max_completion_tokens": "max_completion_tokens",
    "reasoning_effort": "reasoning_effort",
}
_IGNORED_CONFIG = {"apiKey", "apiKeyEnvar", "apiBaseUrl", "apiHost", "basePath", "label", "id"}


class UnsupportedProvider(Exception):
    """A provider evalgate cannot call; ``str()`` says why."""


@dataclass
class Model:
    """An evalgate model section built from one promptfoo provider, and what did not carry over."""

    section: dict[str, Any]
    tools: list[Any] | None = None
    dropped: list[str] = field(default_factory=list)


def tools_for(provider: str, tools: list[Any]) -> list[Any]:
    """Tool definitions in ``provider``'s wire shape (OpenAI ``function``, Anthropic ``input_schema``)."""
    out = []
    for tool in tools:
        if not isinstance(tool, dict):
            out.append(tool)
            continue
        inner = tool.get("function")
        fn: dict[str, Any] = inner if isinstance(inner, dict) else tool
        name, description = fn.get("name"), fn.get("description")
        schema = fn.get("parameters") or fn.get("input_schema") or {"type": "object", "properties": {}}
        if provider == "anthropic":
            shaped: dict[str, Any] = {"name": name, "input_schema": schema}
        else:
            shaped = {"type": "function", "function": {"name": name, "parameters": schema}}
        if description:
            (shaped if provider == "anthropic" else shaped["function"])["description"] = description
        out.append(shaped)
    return out


def parse_model_flag(text: str) -> dict[str, Any]:
    """``--model openai:gpt-4o-2024-11-20`` (or ``anthropic:messages:NAME``) as a model section."""
    return convert_provider(text).section


def _split(provider_id: str) -> tuple[str, str]:
    vendor, _, rest = provider_id.partition(":")
    if not rest:
        raise UnsupportedProvider(f"'{provider_id}' names no model (write vendor:model)")
    for kind in ("chat:", "messages:", "completion:"):
        if rest.startswith(kind):
            rest = rest[len(kind) :]
    return vendor, rest


def convert_provider(raw: Any, base: Path | None = None) -> Model:
    """One entry of promptfoo's ``providers:`` (a string or ``{id, config}``) as a model section."""
    config: dict[str, Any] = {}
    if isinstance(raw, dict):
        if "id" not in raw and len(raw) == 1:  # {"openai:gpt-4o": {config: ...}}
            (provider_id, body), *_ = raw.items()
            raw = {"id": provider_id, **(body if isinstance(body, dict) else {})}
        provider_id = str(raw.get("id", ""))
        config = raw.get("config") if isinstance(raw.get("config"), dict) else {}
    elif isinstance(raw, str):
        provider_id = raw
    else:
        raise UnsupportedProvider(f"a provider must be a string or {{id, config}}, found {raw!r}")
    if provider_id.startswith(("file://", "python:", "exec:", "http://", "https://")) or provider_id in (
        "echo",
        "sequence",
        "webhook",
    ):
        raise UnsupportedProvider(
            f"'{provider_id}' runs your own code or endpoint; use evalgate's python, command or http provider"
        )
    vendor, name = _split(provider_id)
    if vendor in ("openai", "anthropic"):
        section: dict[str, Any] = {"provider": vendor, "name": name}
    elif vendor in COMPATIBLE:
        base_url, key_env = COMPATIBLE[vendor]
        section = {"provider": "openai", "name": name, "base_url": base_url}
        if key_env:
            section["api_key_env"] = key_env
    else:
        raise UnsupportedProvider(
            f"'{provider_id}': evalgate speaks the OpenAI and Anthropic APIs (and OpenAI-compatible "
            "servers); point an openai model with base_url at a compatible endpoint"
        )
    model = Model(section=section)
    api_base = config.get("apiBaseUrl") or config.get("apiHost")
    if isinstance(api_base, str) and api_base:
        section["base_url"] = api_base if api_base.startswith("http") else f"https://{api_base}"
    if isinstance(config.get("apiKeyEnvar"), str):
        section["api_key_env"] = config["apiKeyEnvar"]
    params = {PARAMS[k]: v for k, v in config.items() if k in PARAMS}
    if "max_tokens" in params and vendor == "anthropic":
        params["max_tokens"] = int(params["max_tokens"])
    if params:
        section["params"] = params
    tools = config.get("tools")
    params.pop("tools", None)
    if not params:
        section.pop("params", None)
    if isinstance(tools, str) and tools.startswith("file://") and base is not None:
        path = base / tools.removeprefix("file://")
        if path.is_file():
            tools = yaml.safe_load(path.read_text(encoding="utf-8"))
        else:
            model.dropped.append(f"provider '{provider_id}': tools file '{tools}' not found")
            tools = None
    if isinstance(tools, list):
        model.tools = tools
        params["tools"] = tools_for(section["provider"], tools)
        section["params"] = params
    for key in sorted(set(config) - set(PARAMS) - _IGNORED_CONFIG):
        model.dropped.append(f"provider '{provider_id}': config '{key}' is not carried over")
    if isinstance(config.get("apiKey"), str):
        default_env = "ANTHROPIC_API_KEY" if vendor == "anthropic" else "OPENAI_API_KEY"
        model.dropped.append(
            f"provider '{provider_id}': an inline apiKey is not carried over; export the key in "
            f"{section.get('api_key_env') or default_env}"
        )
    return model
