"""The one redaction step: secrets out of every text that leaves a provider (messages, answers, refusals).

Known secret values (the API key, the GitHub token, header values taken from the environment) are
replaced wherever they occur; credential-shaped values are replaced even when we do not know them, so a
server that echoes some other key (``Authorization: Bearer …``, ``x-api-key: …``) cannot leak it either.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from evalgate.errors import ProviderError
from evalgate.results import Completion

MASK = "***"
# A secret shorter than this would mask ordinary words; real keys and tokens are much longer.
MIN_SECRET_CHARS = 6
# Environment variables that hold credentials in the places evalgate runs (the Action, CI, laptops).
SECRET_ENV_NAMES = (
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "INPUT_GITHUB-TOKEN",
    "INPUT_GITHUB_TOKEN",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
)
_SECRET_NAME = re.compile(r"(TOKEN|API_KEY|SECRET|PASSWORD)$", re.IGNORECASE)

# "Bearer <v>" and "Basic <v>" as in Authorization headers; the value must hold a digit, so prose such as
# "bearer bonds" or "basic idea" stays as written.
_SCHEME_VALUE = re.compile(r"(?i)\b(bearer|basic)(\s+)((?=[^\s]*\d)[A-Za-z0-9._~+/=\-]{8,})")
# "x-api-key: <v>", "api_key=<v>", '"x-api-key": "<v>"' (headers, query strings, JSON echoes).
_NAMED_VALUE = re.compile(
    r"""(?i)\b(x-api-key|api[-_]?key|access[-_]token|x-goog-api-key)(["']?\s*[:=]\s*["']?)([^\s"',;&}]{4,})"""
)
# Key and token shapes of the vendors we talk to, masked even when nobody told us the value.
_TOKEN_SHAPE = re.compile(
    r"\b(sk-[A-Za-z0-9_\-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"
)


@dataclass(frozen=True, slots=True)
class Redactor:
    """Masks the known ``secrets`` and any credential-shaped value in a text."""

    secrets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        usable = {s for s in (x.strip() for x in self.secrets) if len(s) >= MIN_SECRET_CHARS}
        # longest first, so a secret that contains another one is masked whole
        object.__setattr__(self, "secrets", tuple(sorted(usable, key=len, reverse=True)))

    def __call__(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        text = _SCHEME_VALUE.sub(lambda m: f"{m[1]}{m[2]}{MASK}" if m[3] != MASK else m[0], text)
        text = _NAMED_VALUE.sub(lambda m: f"{m[1]}{m[2]}{MASK}", text)
        return _TOKEN_SHAPE.sub(MASK, text)

    def adding(self, secrets: Iterable[str | None]) -> Redactor:
        """This redactor with more known secret values."""
        return Redactor((*self.secrets, *(s for s in secrets if s)))


def secrets_in_env(env: Mapping[str, str]) -> tuple[str, ...]:
    """Values of credential variables: the well-known names, and any ``*_TOKEN``/``*_API_KEY`` name."""
    return tuple(
        value
        for name, value in env.items()
        if value and (name in SECRET_ENV_NAMES or _SECRET_NAME.search(name))
    )


def redactor_for(env: Mapping[str, str], *extra: str | None) -> Redactor:
    """A redactor for the credentials in ``env`` plus ``extra`` values (an API key, header secrets)."""
    return Redactor((*secrets_in_env(env), *(s for s in extra if s)))


def redact_completion(completion: Completion, redact: Redactor) -> Completion:
    """``completion`` with its answer (or refusal) text masked."""
    text = redact(completion.text)
    return completion if text == completion.text else replace(completion, text=text)


def redact_error(exc: ProviderError, redact: Redactor) -> ProviderError:
    """The same error (type, retry advice, status kept) with its message masked."""
    masked = copy.copy(exc)
    masked.args = (redact(str(exc)),)
    return masked
