"""Hints for unknown names: the nearest evalgate name, and what a promptfoo spelling is called here."""

from __future__ import annotations

import difflib

from evalgate.promptfoo.asserts import SPELLINGS

# promptfoo keys -> where the same thing lives in evalgate
KEY_SPELLINGS = {
    "assert": "checks",
    "tests": "cases (in a suite file)",
    "defaultTest": "defaults (in a suite file)",
    "providers": "model (and judge for graders)",
    "provider": "model",
    "metric": "name (and the case's tags)",
    "options": "defaults / judge",
    "transform": "transform (on a case, the suite's defaults or a check)",
    "transformVars": "transform_vars (on a case or the suite's defaults)",
    "evaluateOptions": "runner",
    "outputPath": "--json / --junit / --markdown on the command line",
    "sharing": "no equivalent",
    "redteam": "no equivalent (red-team configs are not evaluation suites)",
}
IMPORT_TIP = "a promptfoo config? run 'evalgate import promptfoo FILE' or 'evalgate run --config FILE'"


def type_hint(tag: str, expected: list[str]) -> str:
    """``did you mean 'not_contains'? (promptfoo's 'not-contains' is 'not_contains' here)``."""
    parts = []
    close = difflib.get_close_matches(tag.replace("-", "_").lower(), expected, n=1, cutoff=0.6)
    if close:
        parts.append(f"did you mean '{close[0]}'?")
    promptfoo = SPELLINGS.get(tag)
    if promptfoo is not None:
        parts.append(f"promptfoo's '{tag}' is '{promptfoo}' here")
    parts.append(f"known types: {', '.join(sorted(expected))}")
    return "; ".join(parts)


def key_hint(key: str, allowed: list[str]) -> str | None:
    """The nearest allowed key and, for a promptfoo key, its evalgate home; ``None`` when neither."""
    parts = []
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        parts.append(f"did you mean '{close[0]}'?")
    if key in KEY_SPELLINGS:
        parts.append(f"promptfoo's '{key}' is {KEY_SPELLINGS[key]} here;")
    if key in ("providers", "tests", "defaultTest"):
        parts.append(f"{IMPORT_TIP};")
    return " ".join(parts) or None
