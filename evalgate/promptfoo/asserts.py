"""promptfoo assertions as evalgate checks: one table, used by the importer, CSV cases and error hints."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from evalgate.errors import ConfigError

# promptfoo type -> evalgate check type, for the types that carry over one to one (value -> value).
SAME_VALUE: dict[str, str] = {
    "equals": "equals",
    "contains": "contains",
    "icontains": "icontains",
    "contains-any": "contains_any",
    "icontains-any": "icontains_any",
    "contains-all": "contains_all",
    "icontains-all": "icontains_all",
    "starts-with": "starts_with",
    "finish-reason": "finish_reason",
}
GRADERS: dict[str, str] = {
    "llm-rubric": "the response meets this rubric: {value}",
    "model-graded-closedqa": "the response meets this criterion: {value}",
    "g-eval": "the response meets this criterion: {value}",
    "factuality": (
        "the response is factually consistent with this reference answer; it may add detail but must not "
        "contradict it: {value}"
    ),
    "model-graded-factuality": (
        "the response is factually consistent with this reference answer; it may add detail but must not "
        "contradict it: {value}"
    ),
    "answer-relevance": "the response is relevant to the user's input and answers it directly",
}
# the score a grader must reach when the assertion sets no threshold (promptfoo's grader says pass/fail;
# a judge score of 0.5 is that line)
GRADER_THRESHOLD = {"g-eval": 0.7, "answer-relevance": 0.7}
_RAG = "RAG context metrics are not built in; use llm_judge with the context in the rubric"
NOT_SUPPORTED: dict[str, str] = {
    "python": "Python asserts are converted by 'evalgate import promptfoo' (a generated adapter module); "
    "in a CSV read natively, write a 'python' check (module:function)",
    "webhook": "posts outputs to a service of your own; a 'python' check can make that call",
    "moderation": "needs a moderation API that is not an evalgate provider",
    "perplexity": "needs token logprobs, which evalgate providers do not return",
    "perplexity-score": "needs token logprobs, which evalgate providers do not return",
    "classifier": "needs a HuggingFace classifier provider",
    "select-best": "compares outputs across prompts; evalgate scores each output on its own",
    "max-score": "compares outputs across prompts; evalgate scores each output on its own",
    "human": "needs a person to grade in promptfoo's viewer",
    "rouge-n": "n-gram metrics are not built in; a 'python' check can compute them",
    "bleu": "n-gram metrics are not built in; a 'python' check can compute them",
    "gleu": "n-gram metrics are not built in; a 'python' check can compute them",
    "meteor": "n-gram metrics are not built in; a 'python' check can compute them",
    "context-faithfulness": _RAG,
    "context-recall": _RAG,
    "context-relevance": _RAG,
    "is-sql": "SQL parsing is not built in",
    "is-xml": "XML checks are not built in; a 'regex' or 'python' check can stand in",
    "contains-xml": "XML checks are not built in; a 'regex' or 'python' check can stand in",
    "is-html": "HTML checks are not built in",
    "contains-html": "HTML checks are not built in",
    "pi": "needs the Pi Labs scoring API",
    "guardrails": "needs a guardrails provider",
    "trace-span-count": "needs OpenTelemetry traces",
    "trace-span-duration": "needs OpenTelemetry traces",
}
# promptfoo spellings users type, for "did you mean" hints on unknown check types
SPELLINGS: dict[str, str] = {
    **SAME_VALUE,
    **{f"not-{k}": f"not_{v}" for k, v in SAME_VALUE.items()},
    **dict.fromkeys(GRADERS, "llm_judge"),
    "regex": "regex",
    "not-regex": "not_regex",
    "is-json": "is_json",
    "contains-json": "is_json (extract: true)",
    "javascript": "javascript",
    "similar": "similar",
    "levenshtein": "levenshtein",
    "latency": "latency_ms",
    "cost": "cost_usd",
    "is-valid-openai-tools-call": "is_valid_tool_call",
    "is-valid-openai-function-call": "is_valid_tool_call",
    "is-valid-function-call": "is_valid_tool_call",
    "word-count": "min_words / max_words",
    "python": "python",
}
_SHORTHAND_TYPES = sorted(
    {*SAME_VALUE, *GRADERS, *NOT_SUPPORTED, "regex", "is-json", "contains-json", "javascript", "similar"}
    | {"levenshtein", "latency", "cost", "is-valid-openai-tools-call", "is-valid-openai-function-call"},
    key=len,
    reverse=True,
)
_SHORTHAND = re.compile(
    r"^(not-)?(" + "|".join(map(re.escape, _SHORTHAND_TYPES)) + r")(?:\((\d+(?:\.\d+)?)\))?(?::([\s\S]*))?$"
)
_LIST_TYPES = {"contains-any", "icontains-any", "contains-all", "icontains-all"}
_KNOWN_KEYS = {"type", "value", "threshold", "weight", "metric", "provider", "transform", "config"}
_KNOWN_KEYS |= {"rubricPrompt", "description"}


class Unsupported(Exception):
    """An assertion evalgate cannot run; ``str()`` says why and what to do instead."""


@dataclass
class Converted:
    """The checks an assertion became, tags for its ``metric``, and what was dropped on the way."""

    checks: list[dict[str, Any]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    grader: Any = None
    rubric_prompt: Any = None  # promptfoo's rubricPrompt, resolved by the converter


def shorthand(text: str) -> dict[str, Any]:
    """promptfoo's ``type:value`` shorthand (CSV ``__expected`` cells) as an assertion mapping."""
    for prefix in ("javascript:", "fn:", "eval:"):
        if text.startswith(prefix):
            return {"type": "javascript", "value": text[len(prefix) :].strip()}
    for prefix in ("grade:", "llm-rubric:"):
        if text.startswith(prefix):
            return {"type": "llm-rubric", "value": text[len(prefix) :]}
    if text.startswith("python:") or (text.startswith("file://") and ".py" in text):
        return {"type": "python", "value": text.split(":", 1)[1].strip()}
    if text.startswith("file://") and (".js" in text or ".ts" in text):
        return {"type": "javascript", "value": text}
    found = _SHORTHAND.match(text)
    if found is None:
        return {"type": "equals", "value": text}
    negate, kind, number, value = found.groups()
    out: dict[str, Any] = {"type": f"{negate or ''}{kind}", "value": value}
    if kind in _LIST_TYPES:
        out["value"] = [v.strip() for v in (value or "").split(",") if v.strip()]
    elif number is not None:
        out["threshold"] = float(number)
    if value is None:
        del out["value"]
    return out


def shorthand_check(text: str, *, file: str, line: int) -> dict[str, Any]:
    """A CSV ``__expected`` cell as one evalgate check mapping; unsupported types are ``ConfigError``."""
    try:
        converted = convert_assert(shorthand(text))
    except Unsupported as exc:
        raise ConfigError(str(exc), file=file, line=line, where="__expected") from None
    if len(converted.checks) != 1:
        raise ConfigError(f"'{text}' is not one check", file=file, line=line, where="__expected")
    return converted.checks[0]


def _threshold(a: dict[str, Any], default: float | None) -> float | None:
    value = a.get("threshold", default)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _text(value: Any) -> Any:
    """Numbers as text, as promptfoo compares them (``contains: 24.01``, ``contains-any: [-3.625]``)."""
    if isinstance(value, list):
        return [_text(v) for v in value]
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def convert_assert(a: dict[str, Any]) -> Converted:
    """One promptfoo assertion as evalgate checks; ``Unsupported`` when there is no faithful equivalent."""
    kind = str(a.get("type", ""))
    out = Converted()
    negate = kind.startswith("not-")
    base = kind[4:] if negate else kind
    value = a.get("value")
    check: dict[str, Any]
    if kind == "assert-set":
        if a.get("threshold") is not None:
            raise Unsupported(
                "assert-set with a threshold: list its checks on the case and set a case threshold"
            )
        for inner in a.get("assert") or []:
            sub = convert_assert(inner)
            out.checks += sub.checks
            out.tags += sub.tags
            out.dropped += sub.dropped
        return out
    if base in NOT_SUPPORTED:
        raise Unsupported(f"'{kind}' is not supported: {NOT_SUPPORTED[base]}")
    if base in SAME_VALUE:
        check = {"type": SAME_VALUE[base], "value": _text(value)}
        if isinstance(value, dict | list) and base == "equals":
            import json

            check["value"] = json.dumps(value)
    elif base == "regex":
        check = {"type": "regex", "pattern": str(value)}
    elif base in ("is-json", "contains-json"):
        extract = base == "contains-json"
        if isinstance(value, dict):
            check = {"type": "json_schema", "schema": value, "extract": extract}
        elif isinstance(value, str) and value.strip():
            check = {"type": "json_schema", "schema_file": value.removeprefix("file://"), "extract": extract}
        else:
            check = {"type": "is_json", "extract": extract}
    elif base == "javascript":
        check = {"type": "javascript", "value": str(value)}
        if a.get("threshold") is not None:
            check["threshold"] = _threshold(a, None)
    elif base in GRADERS:
        if negate:
            raise Unsupported(f"'{kind}': write the negated rubric as an llm_judge check")
        rubric = GRADERS[base].format(value=value if value is not None else "")
        check = {
            "type": "llm_judge",
            "rubric": rubric,
            "threshold": _threshold(a, GRADER_THRESHOLD.get(base, 0.5)),
        }
        if a.get("provider") is not None:
            out.grader = a["provider"]
    elif base == "similar":
        check = {"type": "similar", "value": value, "threshold": _threshold(a, 0.75)}
    elif base == "levenshtein":
        check = {"type": "levenshtein", "value": _text(value), "max": int(_threshold(a, 5.0) or 5)}
    elif base in ("latency", "cost"):
        limit = _threshold(a, None)
        if limit is None:
            raise Unsupported(f"'{kind}' needs a threshold (the limit)")
        check = {"type": "latency_ms" if base == "latency" else "cost_usd", "max": limit}
    elif base in ("is-valid-openai-tools-call", "is-valid-openai-function-call", "is-valid-function-call"):
        check = {"type": "is_valid_tool_call"}
    elif base == "word-count":
        if isinstance(value, dict):
            low, high = value.get("min"), value.get("max")
        else:
            low = high = value
        checks = []
        if low is not None:
            checks.append({"type": "min_words", "value": int(low)})
        if high is not None:
            checks.append({"type": "max_words", "value": int(high)})
        if not checks:
            raise Unsupported("'word-count' needs a number or {min, max}")
        out.checks = checks
        return _extras(a, out, negate=negate)
    else:
        hint = f" (evalgate: {SPELLINGS[kind]})" if kind in SPELLINGS else ""
        raise Unsupported(f"unknown assertion type '{kind}'{hint}")
    if negate:
        check["type"] = f"not_{check['type']}"
    out.checks = [check]
    return _extras(a, out, negate=negate)


def _extras(a: dict[str, Any], out: Converted, *, negate: bool) -> Converted:
    weight = a.get("weight")
    if isinstance(weight, int | float) and not isinstance(weight, bool) and weight != 1:
        for check in out.checks:
            check["weight"] = float(weight)
    metric = a.get("metric")
    if isinstance(metric, str) and metric.strip():
        out.tags.append(metric.strip())
        for check in out.checks:
            check["name"] = metric.strip()
    if isinstance(a.get("transform"), str) and a["transform"].strip():
        for check in out.checks:
            check["transform"] = a["transform"].strip()
    if a.get("rubricPrompt") is not None:
        out.rubric_prompt = a["rubricPrompt"]
    for key in ("config",):
        if a.get(key) is not None:
            out.dropped.append(f"assertion '{a.get('type')}': '{key}' is not carried over")
    unknown = sorted(set(a) - _KNOWN_KEYS)
    if unknown:
        out.dropped.append(f"assertion '{a.get('type')}': unknown keys {', '.join(unknown)}")
    return out


_PARSE = "if (typeof output === 'string') { try { output = JSON.parse(output); } catch (e) {} }\n"


def parsed_output_js(code: str) -> str:
    """A JavaScript assert that first parses the answer as JSON, as promptfoo does for json_schema answers."""
    return _PARSE + (code if "\n" in code else f"return {code}")
