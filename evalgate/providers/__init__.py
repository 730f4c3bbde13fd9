"""The provider registry: one factory per ``model.provider`` value, chosen explicitly."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from evalgate.config import ModelConfig
from evalgate.errors import ConfigError
from evalgate.providers._wire import is_loopback
from evalgate.providers.base import ModelRequest, Provider
from evalgate.redact import secrets_in_env

if TYPE_CHECKING:
    from evalgate.providers._http import VendorProvider

__all__ = ["PROVIDERS", "BuildContext", "ModelRequest", "Provider", "ProviderFactory", "build_provider"]


# where the vendors' own SDKs (and promptfoo) look for a base URL when none is configured
BASE_URL_ENVS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_BASE_URL", "OPENAI_API_BASE"),
    "anthropic": ("ANTHROPIC_BASE_URL",),
}


@dataclass(frozen=True)
class BuildContext:
    """What a factory may need besides the model config."""

    base_dir: Path
    concurrency: int
    env: Mapping[str, str]

    def base_url(self, cfg: ModelConfig) -> str | None:
        """``cfg.base_url`` with ``${NAME}`` filled in, else the vendor's conventional variable
        (``OPENAI_BASE_URL`` / ``OPENAI_API_BASE``, ``ANTHROPIC_BASE_URL``), else ``None`` (the default)."""
        from evalgate.providers.http import expand_env

        if cfg.base_url:
            return expand_env(cfg.base_url, self.env, where="model.base_url")
        for name in BASE_URL_ENVS.get(cfg.provider, ()):
            value = self.env.get(name, "").strip()
            if value:
                return value
        return None

    def api_key(self, cfg: ModelConfig, default_env: str) -> str | None:
        """The key from ``cfg.api_key_env`` (or the vendor default); ``None`` only for loopback servers."""
        name = cfg.api_key_env or default_env
        value = self.env.get(name, "").strip()
        if value:
            return value
        if is_loopback(self.base_url(cfg)):
            return None  # local OpenAI-compatible servers (vLLM, Ollama, our fake) usually want no key
        raise ConfigError(
            f"environment variable {name} is not set",
            where="model.api_key_env" if cfg.api_key_env else f"model (provider '{cfg.provider}')",
            fix=(
                f"export {name}=... locally; in GitHub Actions pass it from a secret "
                f"(env: {name}: ${{{{ secrets.{name} }}}}); "
                "or set model.api_key_env to the variable holding the key"
            ),
        )

    def headers(self, cfg: ModelConfig) -> dict[str, str]:
        """``cfg.headers`` with ``${NAME}`` references filled in from the environment."""
        from evalgate.providers.http import expand_env

        return {k: expand_env(v, self.env, where=f"model.headers.{k}") for k, v in cfg.headers.items()}


ProviderFactory = Callable[[ModelConfig, BuildContext], Provider]
T = TypeVar("T")


def _need(value: T | None, cfg: ModelConfig, key: str) -> T:
    # The config validator already requires these; this keeps hand-built configs honest too.
    if value is None:
        raise ConfigError(f"provider '{cfg.provider}' needs '{key}'", where=f"model.{key}")
    return value


def _vendor(cls: type[VendorProvider], cfg: ModelConfig, ctx: BuildContext) -> Provider:
    from evalgate.providers.http import ENV_REF

    # header values filled from the environment are credentials too
    header_secrets = [ctx.env.get(n) for v in cfg.headers.values() for n in ENV_REF.findall(v)]
    return cls(
        secrets=[*secrets_in_env(ctx.env), *header_secrets],
        api_key=ctx.api_key(cfg, cls.default_key_env),
        base_url=ctx.base_url(cfg),
        key_env=cfg.api_key_env or cls.default_key_env,
        timeout_s=cfg.timeout_s,
        concurrency=ctx.concurrency,
        params=cfg.params,
        system=cfg.system,
        headers=ctx.headers(cfg),
    )


def _openai(cfg: ModelConfig, ctx: BuildContext) -> Provider:
    from evalgate.providers.openai import OpenAIProvider

    return _vendor(OpenAIProvider, cfg, ctx)


def _anthropic(cfg: ModelConfig, ctx: BuildContext) -> Provider:
    from evalgate.providers.anthropic import AnthropicProvider

    return _vendor(AnthropicProvider, cfg, ctx)


def _http(cfg: ModelConfig, ctx: BuildContext) -> Provider:
    from evalgate.providers.http import HTTPProvider

    return HTTPProvider(
        url=_need(cfg.base_url, cfg, "base_url"),
        request_template=_need(cfg.request, cfg, "request"),
        response_path=_need(cfg.response_path, cfg, "response_path"),
        headers=cfg.headers,
        env=ctx.env,
        timeout_s=cfg.timeout_s,
        concurrency=ctx.concurrency,
        system=cfg.system,
    )


def _command(cfg: ModelConfig, ctx: BuildContext) -> Provider:
    from evalgate.providers.command import CommandProvider

    return CommandProvider(
        argv=_need(cfg.command, cfg, "command"), base_dir=ctx.base_dir, env=ctx.env, timeout_s=cfg.timeout_s
    )


def _python(cfg: ModelConfig, ctx: BuildContext) -> Provider:
    from evalgate.providers.python import PythonProvider

    return PythonProvider(
        function=_need(cfg.function, cfg, "function"),
        base_dir=ctx.base_dir,
        params=cfg.params,
        system=cfg.system,
    )


def _replay(cfg: ModelConfig, ctx: BuildContext) -> Provider:
    from evalgate.providers.replay import ReplayProvider

    responses = _need(cfg.responses, cfg, "responses")
    return ReplayProvider(path=(ctx.base_dir / responses).resolve(), display_path=responses)


PROVIDERS: dict[str, ProviderFactory] = {
    "openai": _openai,
    "anthropic": _anthropic,
    "http": _http,
    "command": _command,
    "python": _python,
    "replay": _replay,
}


def build_provider(
    cfg: ModelConfig, *, base_dir: Path, concurrency: int = 8, env: Mapping[str, str] | None = None
) -> Provider:
    """Build the provider ``cfg.provider`` names; ``ConfigError`` (exit 2) for missing keys or files."""
    factory = PROVIDERS.get(cfg.provider)
    if factory is None:
        raise ConfigError(
            f"unknown provider '{cfg.provider}'",
            where="model.provider",
            fix=f"use one of: {', '.join(PROVIDERS)}",
        )
    ctx = BuildContext(base_dir=base_dir, concurrency=concurrency, env=os.environ if env is None else env)
    return factory(cfg, ctx)
