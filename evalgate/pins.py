"""Model pins: a deployed model name must name one immutable version, never a moving alias."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# "-preview" right after a four-digit snapshot (OpenAI's gpt-4-1106-preview) names a frozen snapshot,
# not a moving alias; the family's version rule below still decides whether the digits are a date.
_ALIAS = re.compile(
    r"(^|[-:/@._])latest$|(^|(?<!\d{4})[-:/@._])(preview|stable|current|default)$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Family:
    """A provider's naming rule: names matching ``match`` must carry a version matching ``version``."""

    vendor: str
    match: re.Pattern[str]
    version: re.Pattern[str]
    form: str
    example: str


FAMILIES: tuple[Family, ...] = (
    Family(
        "OpenAI",
        re.compile(r"^(ft:)?(gpt-|chatgpt-|o\d|text-embedding-|davinci|babbage)", re.IGNORECASE),
        # -YYYY-MM-DD, or the older -MMDD snapshots (gpt-4-0613, gpt-3.5-turbo-0125, gpt-4-1106-preview)
        re.compile(r"-\d{4}-\d{2}-\d{2}(:|$)|-(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(-preview)?(:|$)"),
        "-YYYY-MM-DD or -MMDD",
        "gpt-4o-2024-11-20",
    ),
    Family(
        "Anthropic",
        re.compile(r"^(anthropic\.|[a-z-]+\.anthropic\.)?claude-", re.IGNORECASE),
        re.compile(r"-\d{8}(-v\d+(:\d+)?)?$"),
        "-YYYYMMDD",
        "claude-3-5-sonnet-20241022",
    ),
    Family(
        "Google",
        re.compile(r"^(models/)?gemini-", re.IGNORECASE),
        re.compile(r"-\d{3}$|-\d{2}-\d{2}$|-\d{4}-\d{2}-\d{2}$"),
        "-NNN (or a dated preview)",
        "gemini-1.5-pro-002",
    ),
    Family(
        "Mistral",
        re.compile(r"^(mistral|codestral|pixtral|ministral|open-mistral|open-mixtral)", re.IGNORECASE),
        re.compile(r"-\d{4}$|-v\d+(\.\d+)*$|-\d{4}-\d{2}-\d{2}$"),
        "-YYMM",
        "mistral-large-2411",
    ),
)

# anything else must at least look versioned: a date, a digest, a semantic version or a numbered revision
_GENERIC_VERSION = re.compile(
    r"\d{4}-\d{2}-\d{2}|(^|[^\d])\d{8}($|[^\d])|@sha256:[0-9a-f]{16,}|[-:@_]v?\d+\.\d+(\.\d+)?($|[-:])|-\d{3,4}$"
)


@dataclass(frozen=True, slots=True)
class PinProblem:
    """Why a model name is not a pin, with a suggestion."""

    name: str
    reason: str
    fix: str


def check_pin(name: str, allow: Mapping[str, str] | None = None) -> PinProblem | None:
    """``None`` when ``name`` is a pinned version (or explicitly allowed), else the problem."""
    if allow and name in allow:
        return None
    stripped = name.strip()
    if not stripped:
        return PinProblem(name, "the model name is empty", "write a pinned version such as gpt-4o-2024-11-20")
    if _ALIAS.search(stripped):
        return PinProblem(
            name,
            f"'{name}' is a moving alias: the provider can change what it points to without any change here",
            "pin the dated version it currently points to",
        )
    for family in FAMILIES:
        if family.match.search(stripped):
            if family.version.search(stripped):
                return None
            return PinProblem(
                name,
                f"'{name}' is a bare {family.vendor} model family without a version ({family.form})",
                f"pin a dated version, e.g. {family.example}",
            )
    if _GENERIC_VERSION.search(stripped):
        return None
    return PinProblem(
        name,
        f"'{name}' does not name a fixed version (no date, digest or version number)",
        "pin a versioned name, or add it to 'pins.allow' with a reason (e.g. a local model you control)",
    )


def allow_map(entries: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Model name -> reason, for ``check_pin``."""
    return dict(entries)
