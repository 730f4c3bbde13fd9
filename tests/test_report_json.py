"""The JSON report: versioned, schema-valid, and readable back into the same values."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from evalgate import __version__
from evalgate.errors import ConfigError
from evalgate.gate import GateConfig, compare, decide
from evalgate.report import json as report_json
from evalgate.report.json import (
    EncodedCases,
    _read_valid,
    _split_by_case,
    from_json_dict,
    load_json,
    render_json,
    report_schema,
    to_json_dict,
)
from evalgate.report.schemacheck import compile_schema
from evalgate.results import CaseResult, CheckResult, Completion, GateVerdict, RunResult, Trial


def make_run() -> RunResult:
    """A run with every shape a case can take: repeats, errors, fallbacks, cache hits, missing costs."""
    ok = CheckResult("contains", True, 1.0, "found 'refund'")
    bad = CheckResult("regex", False, 0.25, "no match for '^Dear'")
    cases = (
        CaseResult(
            "tc_001",
            "evals/support.yaml",
            3,
            (Trial(Completion("Refunds take 5 days.", "gpt-x", 12, 7, 812.5, 0.0004, cached=True), (ok,)),),
            tags=("refunds",),
        ),
        CaseResult(
            "tc_002",
            "evals/support.yaml",
            9,
            (
                Trial(Completion("ünïcødé 🙂 <b>", "gpt-x", None, None, 1200.0, None), (ok, bad)),
                Trial(Completion("second", "gpt-y", 3, 4, 900.0, 0.001, fallback=True), (ok,)),
            ),
            tags=("refunds", "tone"),
            required=True,
            min_pass=2,
        ),
        CaseResult("tc_003", "evals/other.yaml", 1, (Trial(None, (), error="HTTP 500 after 5 attempts"),)),
        CaseResult("tc_004", "evals/other.yaml", 5, ()),
    )
    return RunResult(cases, "openai", "gpt-x", "evalgate.yaml", "2024-05-01T12:00:00Z", 12.5, ("a note",))


def rendered() -> tuple[RunResult, GateVerdict, dict[str, Any]]:
    run = make_run()
    verdict = decide(run.cases, GateConfig(threshold=0.5))
    return run, verdict, to_json_dict(run, verdict, compare(run.cases, run.cases[:2]))


def test_round_trip_rebuilds_equal_run_and_verdict() -> None:
    run, verdict, data = rendered()
    assert from_json_dict(data) == (run, verdict)


def test_round_trip_through_text() -> None:
    run, verdict, _ = rendered()
    assert load_json(render_json(run, verdict)) == (run, verdict)


def test_rendered_report_validates_against_the_schema() -> None:
    Draft202012Validator.check_schema(report_schema())
    run, verdict, data = rendered()
    Draft202012Validator(report_schema()).validate(json.loads(json.dumps(data)))
    Draft202012Validator(report_schema()).validate(json.loads(render_json(run, verdict)))


def test_report_has_versioned_summary_fields() -> None:
    _, verdict, data = rendered()
    assert data["schema_version"] == 1
    assert data["tool"] == {"name": "evalgate", "version": __version__}
    assert (data["passed"], data["total"], data["metric"]) == (1, 4, "cases")
    assert data["gate"] == {"passed": False, "reasons": list(verdict.reasons)}
    assert data["totals"]["errors"] == 2
    assert data["totals"]["fallback_cases"] == 1
    assert data["totals"]["cost_usd"] == pytest.approx(0.0014)
    assert data["comparison"]["new"] == ["tc_003", "tc_004"]


def test_case_summary_describes_the_representative_trial() -> None:
    _, _, data = rendered()
    first, second, third, fourth = data["cases"]
    assert (first["cached"], first["model"], first["trials"], first["trials_passed"]) == (True, "gpt-x", 1, 1)
    assert second["status"] == "failed"
    assert second["response"] == "ünïcødé 🙂 <b>"
    assert [c["type"] for c in second["checks"]] == ["contains", "regex"]
    assert (second["fallback"], second["latency_ms"], second["trials_passed"]) == (True, 1050.0, 1)
    assert (third["status"], third["error"], third["response"]) == (
        "error",
        "HTTP 500 after 5 attempts",
        None,
    )
    assert fourth["error"] == "no trials were run"


def test_render_json_is_ascii() -> None:
    run, verdict, _ = rendered()
    assert render_json(run, verdict).isascii()


@pytest.mark.parametrize(
    "answer",
    [
        "ünïcødé 🙂 and 𝄞 beyond the BMP",
        "a lone surrogate \ud800 from a model's JSON",  # what json.loads makes of an escaped one
        'controls \x00 \x1f, line separators \u2028 \u2029, quotes " and backslashes \\',
    ],
)
def test_any_text_survives_the_round_trip(answer: str) -> None:
    """The fast encoder and parser agree with ``json`` on every string a model can send."""
    case = CaseResult("c", "s.yaml", 1, (Trial(Completion(answer, "gpt-x", 1, 1, 5.0, 0.001), ()),))
    run = RunResult(
        cases=(case,), provider="openai", model="gpt-x", config_path="c.yaml", started_at="t", duration_s=1.0
    )
    verdict = decide(run.cases, GateConfig(threshold=0.5))
    text = render_json(run, verdict)
    assert text.isascii()
    assert json.loads(text)["cases"][0]["response"] == answer
    back, _ = load_json(text)
    assert back.cases[0].response == answer


def test_unknown_schema_version_is_a_config_error() -> None:
    _, _, data = rendered()
    data["schema_version"] = 2
    with pytest.raises(ConfigError, match="unsupported report schema_version 2") as info:
        from_json_dict(data, source="base.json")
    assert str(info.value).startswith("base.json: schema_version: ")


def test_json_nested_too_deeply_is_a_config_error_not_a_crash() -> None:
    """A baseline artifact or shard file of 200 kB of brackets: exit 2 with the file, not RecursionError."""
    with pytest.raises(ConfigError, match="nested too deeply") as info:
        load_json("[" * 100_000 + "]" * 100_000, source="base.json")
    assert info.value.file == "base.json"


def test_malformed_report_names_the_bad_field() -> None:
    _, _, data = rendered()
    data["cases"][1]["trial_results"][0]["checks"][0]["passed"] = "yes"
    with pytest.raises(ConfigError, match="not a valid evalgate report") as info:
        from_json_dict(data, source="shard-2.json")
    assert "cases[1].trial_results[0].checks[0].passed" in str(info.value)


def test_report_that_is_not_an_object_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="expected a JSON object, got list"):
        from_json_dict([])


def test_invalid_json_text_reports_its_line() -> None:
    with pytest.raises(ConfigError, match=r"^r\.json:2: not valid JSON"):
        load_json('{\n "schema_version": 1,,\n}', source="r.json")


def _mutations(doc: Any) -> Iterator[Any]:
    """Copies of ``doc`` with one value replaced by each JSON kind, one key dropped or one key added."""
    kinds: list[Any] = [None, True, 0, -1, 1.0, 1.5, "passed", [], {}]

    def walk(node: Any, path: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        yield path
        if isinstance(node, dict):
            for key, value in node.items():
                yield from walk(value, (*path, key))
        elif isinstance(node, list) and node:
            yield from walk(node[0], (*path, 0))  # the items of a list share one schema

    def at(root: Any, path: tuple[Any, ...]) -> Any:
        for part in path:
            root = root[part]
        return root

    for path in list(walk(doc, ())):
        if not path:
            continue
        for kind in kinds:
            copy = json.loads(json.dumps(doc))
            at(copy, path[:-1])[path[-1]] = kind
            yield copy
        parent = at(doc, path[:-1])
        if isinstance(parent, dict):
            copy = json.loads(json.dumps(doc))
            del at(copy, path[:-1])[path[-1]]
            yield copy
        node = at(doc, path)
        if isinstance(node, dict):
            copy = json.loads(json.dumps(doc))
            at(copy, path)["unexpected"] = 1
            yield copy


def test_the_shipped_schema_compiles_to_the_fast_checker() -> None:
    # if this fails, a schema change used a keyword schemacheck does not know: teach it, or reading
    # reports back falls back to jsonschema (correct, but about a hundred times slower)
    compile_schema(report_schema())


def test_the_fast_checker_agrees_with_jsonschema_on_every_single_change_to_a_report() -> None:
    check = compile_schema(report_schema())
    validator = Draft202012Validator(report_schema())
    _, _, data = rendered()
    data["retries"] = {"429": 2, "fallback": 1}
    data["cases"][0]["prompt"] = "Greet Ann"
    data["cases"][0]["vars"] = {"name": "Ann"}
    tried = disagreed = 0
    for doc in _mutations(data):
        tried += 1
        if check(doc) != validator.is_valid(doc):
            disagreed += 1
            print(json.dumps(doc)[:400])
    assert tried > 500
    assert disagreed == 0


def test_reading_case_by_case_agrees_with_jsonschema_on_every_single_change_to_a_report() -> None:
    """The report is checked apart from its cases, then case by case: valid exactly as a whole."""
    validator = Draft202012Validator(report_schema())
    _, _, data = rendered()
    data["retries"] = {"429": 2, "fallback": 1}
    data["cases"][0]["prompt"] = "Greet Ann"
    tried = disagreed = 0
    for doc in _mutations(data):
        docs = [doc]
        if isinstance(doc.get("cases"), list) and doc["cases"]:  # the changed case read last, too
            docs.append({**doc, "cases": doc["cases"][1:] + doc["cases"][:1]})
        for one in docs:
            tried += 1
            if (_read_valid(one) is not None) != validator.is_valid(one):
                disagreed += 1
                print(json.dumps(one)[:400])
    assert tried > 900
    assert disagreed == 0


def test_a_bad_case_after_good_ones_is_explained_like_any_other() -> None:
    run, verdict, _ = rendered()
    data = json.loads(render_json(run, verdict))
    data["cases"][3]["trial_results"] = [{"completion": None, "checks": [], "error": 5}]
    with pytest.raises(ConfigError, match=r"5 is not of type 'string', 'null'") as info:
        load_json(json.dumps(data), source="shard.json")
    assert str(info.value).startswith(
        "shard.json: cases[3].trial_results[0].error: not a valid evalgate report"
    )


def test_a_schema_whose_cases_are_not_plain_is_checked_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = report_schema()
    assert _split_by_case(schema) is not None
    cases = {**schema["properties"]["cases"], "description": "changed"}
    assert _split_by_case({**schema, "properties": {**schema["properties"], "cases": cases}}) is None
    assert _split_by_case({**schema, "$defs": {}}) is None  # the case it names is not there
    # such a schema reads reports as before: the whole report checked, then rebuilt
    monkeypatch.setattr(report_json, "_checks_by_case", lambda: None)
    run, verdict, _ = rendered()
    assert load_json(render_json(run, verdict)) == (run, verdict)
    data = json.loads(render_json(run, verdict))
    data["cases"][2]["line"] = -1
    with pytest.raises(ConfigError, match=r"cases\[2\]\.line: .*-1 is less than the minimum of 0"):
        load_json(json.dumps(data))


def test_an_invalid_report_is_explained_by_jsonschema_even_when_the_fast_checker_rejects_it() -> None:
    _, _, data = rendered()
    data["cases"][0]["line"] = -3
    with pytest.raises(ConfigError, match=r"-3 is less than the minimum of 0") as info:
        from_json_dict(data, source="base.json")
    assert "cases[0].line" in str(info.value)


def test_render_json_streams_exactly_the_text_of_the_whole_dict() -> None:
    run, verdict, _ = rendered()
    comparison = compare(run.cases, run.cases[:2])
    expected = json.dumps(to_json_dict(run, verdict, comparison), separators=(",", ":")) + "\n"
    assert render_json(run, verdict, comparison) == expected
    readiness = [{"check": "pins", "ok": True}]
    expected = json.dumps(to_json_dict(run, verdict, None, readiness), separators=(",", ":")) + "\n"
    assert render_json(run, verdict, None, readiness) == expected


def test_cases_encoded_as_they_finished_give_the_same_report_and_a_replaced_case_is_encoded_anew() -> None:
    run, verdict, _ = rendered()
    expected = render_json(run, verdict)
    encoded = EncodedCases()
    for case in run.cases[:3]:  # the last one never finished: it is encoded when the report is written
        encoded(case)
    assert render_json(run, verdict, encoded=encoded) == expected
    # a case object that is not the one encoded (e.g. rebuilt after the run) is never given stale text
    changed = replace(run.cases[0], tags=("changed",))
    other = replace(run, cases=(changed, *run.cases[1:]))
    text = render_json(other, verdict, encoded=encoded)
    assert text == render_json(other, verdict)
    assert json.loads(text)["cases"][0]["tags"] == ["changed"]


_NULL = {"type": "null"}
_INT = {"type": "integer"}
_NUM = {"type": "number"}
_OBJ = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}


@pytest.mark.parametrize(
    "options",
    [[_NULL, _OBJ], [_OBJ, _NULL], [_NULL, _NULL, _INT], [_NULL, _INT, _NUM], [_INT, _NUM], [_NULL, {}]],
    ids=["null-or-object", "object-or-null", "two-nulls", "null-int-number", "int-number", "null-or-any"],
)
@pytest.mark.parametrize("value", [None, 3, 2.5, {"a": 1}, {"b": 1}, "text"])
def test_one_of_agrees_with_jsonschema(options: list[Any], value: Any) -> None:
    """The null shortcut of oneOf gives jsonschema's answer for every mix of options and value."""
    schema = {"oneOf": options}
    assert compile_schema(schema)(value) is Draft202012Validator(schema).is_valid(value)
