"""Checks on the response text itself: substrings, equality, patterns and size."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evalgate.checks.base import CheckContext, quote, result
from evalgate.results import CheckResult

if TYPE_CHECKING:
    from evalgate.checks.specs import (
        ContainsCheck,
        EqualsCheck,
        IContainsCheck,
        MaxCharsCheck,
        MaxWordsCheck,
        NotContainsCheck,
        NotIContainsCheck,
        RegexCheck,
        StartsWithCheck,
    )
    from evalgate.checks.specs_more import (
        ContainsAllCheck,
        ContainsAnyCheck,
        IContainsAllCheck,
        IContainsAnyCheck,
        MinCharsCheck,
        MinWordsCheck,
    )

LISTED = 3  # how many missing/forbidden values a reason names before summarising the rest


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:LISTED])
    return shown if len(items) <= LISTED else f"{shown} and {len(items) - LISTED} more"


def _find_all(needles: tuple[str, ...], text: str, fold: bool) -> list[int]:
    if fold:
        text = text.casefold()
        return [text.find(n.casefold()) for n in needles]
    return [text.find(n) for n in needles]


def _contains(spec: ContainsCheck | IContainsCheck, ctx: CheckContext, fold: bool) -> CheckResult:
    needles = spec.needles
    positions = _find_all(needles, ctx.response, fold)
    missing = [quote(n) for n, at in zip(needles, positions, strict=True) if at < 0]
    score = 1 - len(missing) / len(needles)
    if not missing:
        reason = (
            f"contains {quote(needles[0])}" if len(needles) == 1 else f"contains all {len(needles)} values"
        )
        return result(spec.label, True, score, reason)
    found = f" ({len(needles) - len(missing)} of {len(needles)} found)" if len(needles) > 1 else ""
    return result(spec.label, False, score, f"missing {_listing(missing)}{found}")


def _not_contains(spec: NotContainsCheck | NotIContainsCheck, ctx: CheckContext, fold: bool) -> CheckResult:
    needles = spec.needles
    positions = _find_all(needles, ctx.response, fold)
    found = [f"{quote(n)} at char {at}" for n, at in zip(needles, positions, strict=True) if at >= 0]
    score = 1 - len(found) / len(needles)
    if not found:
        reason = f"does not contain {quote(needles[0])}" if len(needles) == 1 else "no forbidden values found"
        return result(spec.label, True, score, reason)
    return result(spec.label, False, score, f"found forbidden {_listing(found)}")


def check_contains(spec: ContainsCheck, ctx: CheckContext) -> CheckResult:
    """Every value appears, case-sensitively; score is the fraction found."""
    return _contains(spec, ctx, fold=False)


def check_icontains(spec: IContainsCheck, ctx: CheckContext) -> CheckResult:
    """Every value appears, ignoring case; score is the fraction found."""
    return _contains(spec, ctx, fold=True)


def check_not_contains(spec: NotContainsCheck, ctx: CheckContext) -> CheckResult:
    """No value appears, case-sensitively; score is the fraction absent."""
    return _not_contains(spec, ctx, fold=False)


def check_not_icontains(spec: NotIContainsCheck, ctx: CheckContext) -> CheckResult:
    """No value appears, ignoring case; score is the fraction absent."""
    return _not_contains(spec, ctx, fold=True)


def check_equals(spec: EqualsCheck, ctx: CheckContext) -> CheckResult:
    """The response equals the value, optionally stripped and case-folded."""
    got, want = ctx.response, spec.value
    if spec.strip:
        got, want = got.strip(), want.strip()
    same = got.casefold() == want.casefold() if spec.ignore_case else got == want
    if same:
        return result(spec.label, True, 1.0, f"equals {quote(spec.value)}")
    return result(spec.label, False, 0.0, f"expected {quote(want)}, got {quote(got)}")


def check_starts_with(spec: StartsWithCheck, ctx: CheckContext) -> CheckResult:
    """The response, ignoring leading whitespace, starts with the value."""
    text = ctx.response.lstrip()
    if text.startswith(spec.value):
        return result(spec.label, True, 1.0, f"starts with {quote(spec.value)}")
    head = quote(text[: max(len(spec.value), 20)])
    return result(spec.label, False, 0.0, f"starts with {head}, not {quote(spec.value)}")


def check_regex(spec: RegexCheck, ctx: CheckContext) -> CheckResult:
    """The pattern is found in (or, with fullmatch, matches all of) the response."""
    pattern = spec.compiled()
    shown = as_written(spec.pattern)
    if spec.match == "fullmatch":
        if pattern.fullmatch(ctx.response):
            return result(spec.label, True, 1.0, f"fully matches {shown}")
        return result(spec.label, False, 0.0, f"does not fully match {shown}")
    found = pattern.search(ctx.response)
    if found:
        return result(
            spec.label, True, 1.0, f"matches {shown} at char {found.start()}: {quote(found.group())}"
        )
    return result(spec.label, False, 0.0, f"no match for {shown}")


def as_written(pattern: str, limit: int = 80) -> str:
    """A regex in quotes exactly as the suite wrote it: repr() would double every backslash."""
    flat = " ".join(pattern.split())
    return f"'{flat if len(flat) <= limit else flat[: limit - 3] + '...'}'"


def _at_most(label: str, count: int, limit: int, unit: str) -> CheckResult:
    if count <= limit:
        return result(label, True, 1.0, f"{count} {unit} <= {limit}")
    return result(label, False, limit / count, f"{count} {unit} > {limit}")


def check_max_words(spec: MaxWordsCheck, ctx: CheckContext) -> CheckResult:
    """At most ``value`` whitespace-separated words; score is limit/count when over."""
    return _at_most(spec.label, len(ctx.response.split()), spec.value, "words")


def check_max_chars(spec: MaxCharsCheck, ctx: CheckContext) -> CheckResult:
    """At most ``value`` characters, not counting surrounding whitespace; score is limit/count when over."""
    return _at_most(spec.label, len(ctx.response.strip()), spec.value, "chars")


def _any_or_all(
    spec: ContainsAnyCheck | IContainsAnyCheck | ContainsAllCheck | IContainsAllCheck,
    ctx: CheckContext,
    *,
    fold: bool,
    every: bool,
) -> CheckResult:
    needles = tuple(spec.value)
    positions = _find_all(needles, ctx.response, fold)
    found = [n for n, at in zip(needles, positions, strict=True) if at >= 0]
    missing = [quote(n) for n, at in zip(needles, positions, strict=True) if at < 0]
    if every:
        score = len(found) / len(needles)
        if not missing:
            return result(spec.label, True, score, f"contains all {len(needles)} values")
        return result(
            spec.label, False, score, f"missing {_listing(missing)} ({len(found)} of {len(needles)})"
        )
    if found:
        return result(spec.label, True, 1.0, f"contains {quote(found[0])}")
    return result(spec.label, False, 0.0, f"contains none of {_listing(missing)}")


def check_contains_any(spec: ContainsAnyCheck, ctx: CheckContext) -> CheckResult:
    """At least one value appears, case-sensitively."""
    return _any_or_all(spec, ctx, fold=False, every=False)


def check_icontains_any(spec: IContainsAnyCheck, ctx: CheckContext) -> CheckResult:
    """At least one value appears, ignoring case."""
    return _any_or_all(spec, ctx, fold=True, every=False)


def check_contains_all(spec: ContainsAllCheck, ctx: CheckContext) -> CheckResult:
    """Every value appears, case-sensitively; score is the fraction found."""
    return _any_or_all(spec, ctx, fold=False, every=True)


def check_icontains_all(spec: IContainsAllCheck, ctx: CheckContext) -> CheckResult:
    """Every value appears, ignoring case; score is the fraction found."""
    return _any_or_all(spec, ctx, fold=True, every=True)


def _at_least(label: str, count: int, limit: int, unit: str) -> CheckResult:
    if count >= limit:
        return result(label, True, 1.0, f"{count} {unit} >= {limit}")
    return result(label, False, count / limit, f"{count} {unit} < {limit}")


def check_min_words(spec: MinWordsCheck, ctx: CheckContext) -> CheckResult:
    """At least ``value`` words; score is count/limit when under."""
    return _at_least(spec.label, len(ctx.response.split()), spec.value, "words")


def check_min_chars(spec: MinCharsCheck, ctx: CheckContext) -> CheckResult:
    """At least ``value`` characters, not counting surrounding whitespace."""
    return _at_least(spec.label, len(ctx.response.strip()), spec.value, "chars")
