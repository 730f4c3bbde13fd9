"""Gate changes and owners, pure: the bar's sections, case flags and checks, approvals and review dates."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from evalgate.changes import Review
from evalgate.config import Config
from evalgate.gatechange import config_changes, gate_changes, stricter_cases, trusted_config
from evalgate.gateowners import approved_by, judge_gate_change, review_warning
from evalgate.suite import Case, load_suite

HEAD = "a" * 40


def _config(**over: object) -> Config:
    return Config.model_validate({"model": {"provider": "openai", "name": "gpt-4o-2024-08-06"}, **over})


def _cases(tmp_path: Path, text: str, name: str = "s.yaml") -> list[Case]:
    path = tmp_path / name
    path.write_text(text)
    return load_suite(path, display="evals/s.yaml")


BASE_SUITE = """\
cases:
  - id: a
    input: hi
    required: true
    tags: [safety]
    repeat: 4
    min_pass: 4
    checks:
      - {type: max_words, value: 10}
      - {type: contains, value: hello}
  - id: b
    input: bye
    checks: [{type: icontains, value: bye}]
"""


def test_the_bar_comes_from_the_base_and_every_difference_is_listed() -> None:
    base = _config(gate={"threshold": 0.9, "owners": ["alice"]}, policy={"prompt_paths": ["prompts/**"]})
    head = _config(
        gate={"threshold": 0.0, "owners": ["mallory"]}, policy={"prompt_paths": []}, suites=["x/*.yaml"]
    )
    trusted = trusted_config(base, head)
    assert trusted.gate == base.gate
    assert trusted.policy == base.policy
    assert trusted.suites == ["x/*.yaml"]  # what is evaluated stays the head's
    changed = {c.where: (c.old, c.new) for c in config_changes(base, head)}
    assert changed["gate.threshold"] == ("0.9", "0.0")
    assert changed["gate.owners"] == ('["alice"]', '["mallory"]')
    assert changed["policy.prompt_paths"] == ('["prompts/**"]', "[]")
    assert trusted_config(None, head) is head


def test_unchanged_config_and_cases_are_no_gate_change(tmp_path: Path) -> None:
    cases = _cases(tmp_path, BASE_SUITE)
    assert not gate_changes(_config(), _config(), cases, cases)
    assert gate_changes(None, _config(), [], cases).introduced


@pytest.mark.parametrize(
    ("edit", "kind", "old", "new"),
    [
        (("    required: true\n", ""), "unrequired", "required: true", "required: false"),
        (("    min_pass: 4\n", "    min_pass: 3\n"), "loosened", "min_pass 4 of 4", "min_pass 3 of 4"),
        (("    tags: [safety]\n", ""), "loosened", "tags safety", "(removed from the case)"),
        (
            ("{type: max_words, value: 10}", "{type: max_words, value: 20}"),
            "loosened",
            '{"type": "max_words", "value": 10}',
            '{"type": "max_words", "value": 20}',
        ),
        (
            ("      - {type: contains, value: hello}\n", ""),
            "check removed",
            '{"type": "contains", "value": "hello"}',
            "(removed)",
        ),
        (
            ("value: hello}", "value: hi}"),
            "check changed",
            '{"type": "contains", "value": "hello"}',
            '{"type": "contains", "value": "hi"}',
        ),
    ],
)
def test_a_loosened_case_is_a_gate_change(
    tmp_path: Path, edit: tuple[str, str], kind: str, old: str, new: str
) -> None:
    base = _cases(tmp_path, BASE_SUITE, "base.yaml")
    head = _cases(tmp_path, BASE_SUITE.replace(*edit), "head.yaml")
    config = _config(gate={"tags": {"safety": 1.0}})
    (change,) = gate_changes(config, config, base, head).changes
    assert (change.kind, change.where, change.old, change.new) == (kind, "a", old, new)
    # judged by the stricter definition: the base's checks and repeats, required if either says so
    (a, _) = stricter_cases(base, head, ["safety"])
    assert a.spec.required
    assert a.min_pass == 4
    assert [c.model_dump() for c in a.spec.checks] == [c.model_dump() for c in base[0].spec.checks]


def test_a_tightened_check_and_a_new_case_are_not_gate_changes(tmp_path: Path) -> None:
    base = _cases(tmp_path, BASE_SUITE, "base.yaml")
    tighter = (
        BASE_SUITE.replace("value: 10}", "value: 5}") + "  - {id: c, input: new, checks: [{type: is_json}]}\n"
    )
    head = _cases(tmp_path, tighter, "head.yaml")
    assert not gate_changes(_config(), _config(), base, head)


def test_a_deleted_case_points_at_the_base(tmp_path: Path) -> None:
    base = _cases(tmp_path, BASE_SUITE, "base.yaml")
    head = _cases(tmp_path, BASE_SUITE.split("  - id: b\n")[0], "head.yaml")
    (change,) = gate_changes(_config(), _config(), base, head).changes
    assert (change.kind, change.where, change.new, change.on_base) == ("removed", "b", "(deleted)", True)
    assert (change.suite, change.line) == ("evals/s.yaml", 11)


def test_only_an_owner_approval_on_the_head_counts() -> None:
    owners = ["Alice", "carol"]
    assert approved_by([Review("alice", "APPROVED", HEAD)], owners, HEAD) == "alice"
    assert approved_by([Review("alice", "APPROVED", "b" * 40)], owners, HEAD) is None
    assert approved_by([Review("mallory", "APPROVED", HEAD)], owners, HEAD) is None
    later = [Review("alice", "APPROVED", HEAD), Review("alice", "CHANGES_REQUESTED", HEAD)]
    assert approved_by(later, owners, HEAD) is None
    commented = [Review("alice", "APPROVED", HEAD), Review("alice", "COMMENTED", HEAD)]
    assert approved_by(commented, owners, HEAD) == "alice"


def test_a_gate_change_needs_owners_to_exist(tmp_path: Path) -> None:
    changes = gate_changes(_config(gate={"threshold": 0.9}), _config(gate={"threshold": 0.5}), [], [])
    verdict = judge_gate_change(changes, [], [Review("alice", "APPROVED", HEAD)], HEAD, alone=True)
    assert not verdict.passed
    assert "names no gate.owners" in verdict.reasons[0]
    assert judge_gate_change(changes, ["alice"], [Review("alice", "APPROVED", HEAD)], HEAD, alone=True).passed


def test_review_date_warns_after_90_days() -> None:
    today = datetime.date(2026, 11, 30)
    assert review_warning(datetime.date(2026, 9, 1), ["alice"], today) is None
    warning = review_warning(datetime.date(2026, 8, 1), ["alice"], today)
    assert warning is not None
    assert warning.startswith("threshold last reviewed 121 days ago by alice")
    assert review_warning(None, ["alice"], today) is None
