"""JUnit XML parses back with one testcase per case, failures and errors where they belong."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from evalgate.gate import GateConfig, decide
from evalgate.report.junit import render_junit
from evalgate.results import CaseResult, CheckResult, Completion, RunResult, Trial


def make_case(case_id: str, suite: str, status: str, response: str = "fine") -> CaseResult:
    if status == "error":
        return CaseResult(case_id, suite, 7, (Trial(None, (), error="timeout <after> 60 s"),))
    check = CheckResult(
        "contains", status == "passed", 1.0, "ok" if status == "passed" else "missing 'refund'"
    )
    return CaseResult(case_id, suite, 7, (Trial(Completion(response, "m", latency_ms=1500.0), (check,)),))


def render(cases: list[CaseResult]) -> ET.Element:
    run = RunResult(tuple(cases), "openai", "gpt-x", "evalgate.yaml", "2024-05-01T12:00:00", 3.0)
    text = render_junit(run, decide(run.cases, GateConfig()))
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(text.encode())


def test_junit_parses_back_with_matching_counts() -> None:
    root = render(
        [
            make_case("a", "evals/one.yaml", "passed"),
            make_case("b", "evals/one.yaml", "failed"),
            make_case("c", "evals/two.yaml", "error"),
            make_case("d", "evals/two.yaml", "passed"),
        ]
    )
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "1", "1")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["evals/one.yaml", "evals/two.yaml"]
    assert [(s.get("tests"), s.get("failures"), s.get("errors")) for s in suites] == [
        ("2", "1", "0"),
        ("2", "0", "1"),
    ]
    cases = root.findall("testsuite/testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("evals/one.yaml", "a"),
        ("evals/one.yaml", "b"),
        ("evals/two.yaml", "c"),
        ("evals/two.yaml", "d"),
    ]


def test_failures_carry_check_reasons_and_errors_their_message() -> None:
    root = render([make_case("b", "s.yaml", "failed"), make_case("c", "s.yaml", "error")])
    failure = root.find("testsuite/testcase[@name='b']/failure")
    assert failure is not None
    assert failure.get("message") == "missing 'refund'"
    assert failure.text == "contains: missing 'refund'"
    error = root.find("testsuite/testcase[@name='c']/error")
    assert error is not None
    assert error.get("message") == "timeout <after> 60 s"


def test_time_is_in_seconds_and_response_goes_to_system_out() -> None:
    root = render([make_case("a", "s.yaml", "passed", response="Refunds & <returns>")])
    case = root.find("testsuite/testcase")
    assert case is not None
    assert case.get("time") == "1.500"
    assert case.findtext("system-out") == "Refunds & <returns>"


def test_characters_illegal_in_xml_are_stripped_from_model_output() -> None:
    root = render([make_case("a\x00", "s.yaml", "failed", response="bell\x07 nul\x00 esc\x1b[31m ok\ufffe")])
    case = root.find("testsuite/testcase")
    assert case is not None
    assert case.get("name") == "a"
    assert case.findtext("system-out") == "bell nul esc[31m ok"


def test_empty_run_is_an_empty_document() -> None:
    root = render([])
    assert root.get("tests") == "0"
    assert root.findall("testsuite") == []
