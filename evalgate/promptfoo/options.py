"""promptfoo's test ``options`` (on a test or on ``defaultTest``): which carry over, and why the rest do not.

promptfoo merges them as ``{...defaultTest.options, ...test.options}``, so a test's own value wins.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

NO_DEFAULT_CHECKS = "_no_default_checks"  # marks a converted case whose test sets disableDefaultAsserts

# converted (or, for disableConversationVar, nothing to do: evalgate defines no '_conversation' var)
HANDLED = {
    "provider",
    "transform",
    "postprocess",
    "transformVars",
    "rubricPrompt",
    "prefix",
    "suffix",
    "disableVarExpansion",
    "disableDefaultAsserts",
    "disableConversationVar",
}
WHY = {
    "storeOutputAs": "(one test's output as a later test's var) is not carried over: evalgate's cases are "
    "independent calls; write the earlier turn into a chat prompt file",
    "runSerially": "is not carried over for one test: evalgate runs cases concurrently (set it on "
    "defaultTest, or runner.concurrency: 1, to run every case one at a time)",
    "factuality": "(scores per factuality category) is not carried over: the factuality judge passes answers "
    "that agree with or add to the reference and fails contradictions",
}


def option(name: str, test: dict[str, Any], defaults: dict[str, Any]) -> Any:
    """The value of option ``name`` for a test: its own, else defaultTest's."""
    return test[name] if name in test else defaults.get(name)


def note_unsupported(
    options: dict[str, Any], note: Callable[[str], None], where: str, *, default_test: bool = False
) -> None:
    """Note every option that does not carry over, with the reason when there is a known one."""
    handled = HANDLED | ({"runSerially"} if default_test else set())
    kind = "defaultTest option" if default_test else "test option"
    for key in sorted(set(options) - handled):
        why = WHY.get(key, "is not carried over")
        note(f"{where}{kind} '{key}' {why}")


def split_default_checks(
    defaults: dict[str, Any], cases: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """When a test turns defaultTest's asserts off, they move from the suite defaults onto every other case.

    The suite's ``defaults.checks`` apply to every case, so a case could not opt out of them.
    """
    if not any(case.get(NO_DEFAULT_CHECKS) for case in cases):
        for case in cases:
            case.pop(NO_DEFAULT_CHECKS, None)
        return defaults, cases
    checks = defaults.get("checks", [])
    tags = defaults.get("tags", [])
    out = []
    for case in cases:
        if case.pop(NO_DEFAULT_CHECKS, None):
            out.append(case)
            continue
        case = dict(case)
        if checks:
            case["checks"] = copy.deepcopy(checks) + case.get("checks", [])
        if tags:
            case["tags"] = list(dict.fromkeys([*tags, *case.get("tags", [])]))
        out.append(case)
    rest = {k: v for k, v in defaults.items() if k not in ("checks", "tags")}
    return rest, out
