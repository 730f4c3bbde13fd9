"""JUnit XML: one <testsuite> per suite file and one <testcase> per case, for CI test-report viewers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from evalgate.gate import case_detail, fmt_pct
from evalgate.report.escape import clean, xml_safe
from evalgate.results import CaseResult, GateVerdict, RunResult

_MESSAGE_CHARS = 500


def render_junit(run: RunResult, verdict: GateVerdict) -> str:
    """The run as a JUnit XML document (UTF-8 declaration, illegal XML characters stripped)."""
    by_suite: dict[str, list[CaseResult]] = {}
    for case in run.cases:
        by_suite.setdefault(case.suite, []).append(case)

    root = ET.Element("testsuites", _counts("evalgate", run.cases))
    root.set("time", _seconds(run.duration_s * 1000))
    for suite, cases in by_suite.items():
        node = ET.SubElement(root, "testsuite", _counts(suite, cases))
        node.set("timestamp", xml_safe(run.started_at))
        node.set("time", _seconds(sum(_case_ms(c) for c in cases)))
        props = ET.SubElement(node, "properties")
        for name, value in (
            ("provider", run.provider),
            ("model", run.model),
            ("gate", "passed" if verdict.passed else "failed"),
            ("pass_rate", fmt_pct(verdict.value)),
            ("threshold", fmt_pct(verdict.threshold)),
            ("metric", verdict.metric),
        ):
            ET.SubElement(props, "property", name=f"evalgate.{name}", value=xml_safe(value))
        for case in cases:
            _testcase(node, case)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _testcase(parent: ET.Element, case: CaseResult) -> None:
    node = ET.SubElement(
        parent,
        "testcase",
        name=xml_safe(case.id),
        classname=xml_safe(case.suite),
        file=xml_safe(case.suite),
        line=str(case.line),
        time=_seconds(_case_ms(case)),
    )
    status = case.status
    if status == "error":
        error = ET.SubElement(node, "error", type="evalgate.error", message=_message(case_detail(case)))
        error.text = xml_safe(case.error or "")
    elif status == "unchecked":
        ET.SubElement(node, "skipped", message="no checks: output collected only")
    elif status == "failed":
        failing = [c for c in case.checks if not c.passed]
        summary = "; ".join(c.reason or f"check '{c.type}' failed" for c in failing) or case_detail(case)
        failure = ET.SubElement(node, "failure", type="evalgate.check", message=_message(summary))
        lines = [f"{c.type}: {c.reason}" for c in failing]
        if len(case.trials) > 1:
            lines.append(f"{case.trials_passed} of {len(case.trials)} trials passed, {case.min_pass} needed")
        failure.text = xml_safe("\n".join(lines) or summary)
    response = case.response
    if response:
        ET.SubElement(node, "system-out").text = xml_safe(response)


def _counts(name: str, cases: Sequence[CaseResult]) -> dict[str, str]:
    statuses = [c.status for c in cases]
    return {
        "name": xml_safe(name),
        "tests": str(len(statuses)),
        "failures": str(statuses.count("failed")),
        "errors": str(statuses.count("error")),
        "skipped": str(statuses.count("unchecked")),
    }


def _case_ms(case: CaseResult) -> float:
    """Time spent on a case: every trial's latency, not their mean."""
    return sum(t.completion.latency_ms for t in case.trials if t.completion is not None)


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.3f}"


def _message(text: str) -> str:
    return xml_safe(clean(text, _MESSAGE_CHARS))
