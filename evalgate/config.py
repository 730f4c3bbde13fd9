"""The ``evalgate.yaml`` schema (pydantic v2) and its loader."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from evalgate.errors import ConfigError
from evalgate.fielderrors import dotted
from evalgate.gateconfig import GateConfig
from evalgate.strict import Strict
from evalgate.yamlsrc import YamlDoc, load_yaml_file, validate

ProviderName = Literal["openai", "anthropic", "http", "command", "python", "replay"]


class Price(Strict):
    """USD per million tokens."""

    input: Annotated[float, Field(ge=0)]
    output: Annotated[float, Field(ge=0)]


class ModelConfig(Strict):
    """Which model answers, and how to reach it."""

    provider: ProviderName
    name: Annotated[str, Field(min_length=1)]
    base_url: str | None = None
    api_key_env: str | None = None
    params: dict[str, Any] = Field(default_factory=lambda: {})
    # skip the check of params against the vendor's documented request fields (OpenAI-compatible servers
    # such as vLLM take more, e.g. top_k or repetition_penalty)
    params_passthrough: bool = False
    fallback: str | None = None
    responses: str | None = None
    system: str | None = None
    embeddings: Annotated[str, Field(min_length=1)] | None = None  # the embedding model, for similar checks
    timeout_s: Annotated[float, Field(gt=0)] = 60.0
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    # provider: http
    headers: dict[str, str] = Field(default_factory=lambda: {})
    request: dict[str, Any] | None = None
    response_path: str | None = None
    # provider: command
    command: list[str] | None = None
    # provider: python
    function: str | None = None

    @model_validator(mode="after")
    def _provider_fields(self) -> ModelConfig:
        need: dict[str, tuple[str, str]] = {
            "replay": ("responses", "a YAML/JSON file mapping case id to response text"),
            "command": ("command", "the program and its arguments as a list, e.g. [python, app.py]"),
            "python": ("function", "'module:function' taking the prompt and returning the answer"),
            "http": ("request", "a JSON body template with {{ prompt }} where the prompt goes"),
        }
        if self.provider in need:
            key, what = need[self.provider]
            if getattr(self, key) in (None, [], ""):
                raise ValueError(f"provider '{self.provider}' needs '{key}': {what}")
        if self.provider == "http" and not self.base_url:
            raise ValueError("provider 'http' needs 'base_url': the URL to POST the request to")
        if self.provider == "http" and not self.response_path:
            raise ValueError("provider 'http' needs 'response_path', e.g. 'choices.0.text'")
        if self.function is not None and ":" not in self.function:
            raise ValueError(f"function '{self.function}' must look like 'package.module:function'")
        return self


class RateLimit(Strict):
    """The provider's limits for this key: attempts are paced to stay under them."""

    requests_per_minute: Annotated[float, Field(gt=0)] | None = None
    tokens_per_minute: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _something(self) -> RateLimit:
        if self.requests_per_minute is None and self.tokens_per_minute is None:
            raise ValueError("set requests_per_minute, tokens_per_minute or both")
        return self


class RunnerConfig(Strict):
    concurrency: Annotated[int, Field(ge=1, le=256)] = 8
    cache_dir: str = ".evalgate/cache"
    cache: bool = True
    rate_limit: RateLimit | None = None
    # after this many model calls in a row fail for a provider-wide reason (each after its retries), no
    # more are sent and the run stops, exit 3; 0 never stops
    max_consecutive_failures: Annotated[int, Field(ge=0, le=1_000_000)] = 10


class PinAllow(Strict):
    """An explicit exception to the pin rule, e.g. for a local model with no versioned names."""

    model: Annotated[str, Field(min_length=1)]
    reason: Annotated[str, Field(min_length=3)]


class PinsConfig(Strict):
    allow: list[PinAllow] = Field(default_factory=lambda: [])


class PolicyConfig(Strict):
    """Which files are prompts and where model pins live (used by the GitHub Action)."""

    prompt_paths: list[str] = Field(default_factory=lambda: ["prompts/**"])
    model_pins: list[str] = Field(
        default_factory=lambda: ["evalgate.yaml#model.name", "evalgate.yaml#model.fallback"]
    )


class Config(Strict):
    """A whole ``evalgate.yaml``."""

    model: ModelConfig
    judge: ModelConfig | None = None
    prompts: dict[str, str] = Field(default_factory=lambda: {})
    suites: Annotated[list[str], Field(min_length=1)] = Field(default_factory=lambda: ["evals/*.yaml"])
    gate: GateConfig = Field(default_factory=GateConfig)
    runner: RunnerConfig = Field(default_factory=RunnerConfig)
    prices: dict[str, Price] = Field(default_factory=lambda: {})
    pins: PinsConfig = Field(default_factory=PinsConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    canary: dict[str, Any] | None = None

    @field_validator("prompts")
    @classmethod
    def _prompt_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"prompt name '{name}' may hold only letters, digits, '-' and '_'")
        return value


class LoadedConfig(BaseModel):
    """A validated config with where it came from, so relative paths resolve against its folder."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    config: Config
    path: Path
    doc: YamlDoc

    @property
    def file(self) -> str:
        """The path as the user should see it in messages."""
        try:
            return str(self.path.relative_to(Path.cwd()))
        except ValueError:
            return str(self.path)

    def error(self, message: str, loc: tuple[int | str, ...], fix: str | None = None) -> ConfigError:
        """A ``ConfigError`` pointing at ``loc`` inside this config file."""
        return ConfigError(message, file=self.file, line=self.doc.line_of(loc), where=dotted(loc), fix=fix)

    @property
    def root(self) -> Path:
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        return (self.root / relative).resolve()


def load_config(path: str | os.PathLike[str]) -> LoadedConfig:
    """Read and validate ``evalgate.yaml``; raises ``ConfigError`` naming file and line."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            "config file not found",
            file=str(p),
            fix="run 'evalgate init' to create one, or pass --config PATH",
        )
    doc = load_yaml_file(p)
    config = validate(Config, doc, file=str(p))
    _check_vendor_params(config, doc, str(p))
    return LoadedConfig(config=config, path=p.resolve(), doc=doc)


def _check_vendor_params(config: Config, doc: YamlDoc, file: str) -> None:
    """Params the vendor's API would reject fail here, at their line, not on every call."""
    sections = [
        (section, cfg)
        for section, cfg in (("model", config.model), ("judge", config.judge))
        if cfg is not None and cfg.params and not cfg.params_passthrough
    ]
    if not sections:
        return  # no params: the vendors' tables (two dataclasses, 40 entries) stay unloaded
    from evalgate.vendorparams import check_params

    errors = []
    for section, cfg in sections:
        for problem in check_params(cfg.provider, cfg.params):
            loc = (section, "params", problem.key)
            errors.append(
                ConfigError(
                    problem.message, file=file, line=doc.line_of(loc), where=dotted(loc), fix=problem.fix
                )
            )
    if errors:
        first = errors[0]
        if len(errors) > 1:
            first.args = ("\n".join(e.render() for e in errors),)
        raise first
