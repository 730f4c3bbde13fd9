"""Suites and configs are YAML 1.2 core scalars, and a hostile YAML file cannot stall the loader."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from evalgate import suite as suite_module
from evalgate import yamlsrc
from evalgate.errors import ConfigError
from evalgate.evaluation import load_project, plan
from evalgate.yamlsrc import load_yaml_file, parse_yaml

REPO = Path(__file__).resolve().parents[1]

# 9 levels of 9 aliases each: 9^9 (387 million) strings when expanded, ~500 bytes on disk
LAUGHS = (
    "".join(
        f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
        for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
    )
    + "cases: [*i]\n"
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Yes", "Yes"),
        ("no", "no"),
        ("off", "off"),
        ("On", "On"),
        ("y", "y"),
        ("0123", "0123"),
        ("1:30", "1:30"),
        ("2024-01-02", "2024-01-02"),
        ("true", True),
        ("False", False),
        ("~", None),
        ("null", None),
        ("", None),
        ("12", 12),
        ("-7", -7),
        ("0", 0),
        ("0x1F", 31),
        ("0o17", 15),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("'0123'", "0123"),
    ],
)
def test_scalars_follow_yaml_1_2_core(text: str, value: Any) -> None:
    assert parse_yaml(f"v: {text}\n", "f.yaml").data == {"v": value}


def test_merge_keys_still_work() -> None:
    doc = parse_yaml("base: &b {x: 1}\nt:\n  <<: *b\n  y: 2\n", "f.yaml")
    assert doc.data["t"] == {"x": 1, "y": 2}


def _project(root: Path, suite: str) -> Path:
    (root / "evals").mkdir(parents=True, exist_ok=True)
    (root / "prompts").mkdir(exist_ok=True)
    (root / "prompts" / "p.md").write_text("answer={{ answer }} code={{ code }} flag={{ flag }}\n")
    (root / "evals" / "s.yaml").write_text(suite)
    config = root / "evalgate.yaml"
    config.write_text(
        "model: {provider: replay, name: app-1.0.0, responses: r.yaml}\n"
        "prompts: {p: prompts/p.md}\nsuites: [evals/*.yaml]\n"
    )
    return config


def test_suite_vars_stay_the_strings_that_were_written(tmp_path: Path) -> None:
    config = _project(
        tmp_path,
        "cases:\n  - id: c\n    prompt: p\n    vars: {answer: Yes, code: 0123, flag: off}\n"
        "    checks: [{type: contains, value: x}]\n",
    )
    project = load_project(config)
    [planned] = plan(project, project.cases)
    assert planned.prompt.strip() == "answer=Yes code=0123 flag=off"


def test_billion_laughs_is_refused_quickly_with_exit_2(tmp_path: Path) -> None:
    config = _project(tmp_path, LAUGHS)
    assert len(LAUGHS) < 600
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "evalgate", "validate", "--config", str(config)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,  # today's loader walks the 387 million nodes for minutes
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "evals/s.yaml:" in proc.stderr
    assert "too many aliases" in proc.stderr
    assert time.monotonic() - started < 30


def test_an_alias_inside_its_own_node_is_refused() -> None:
    with pytest.raises(ConfigError, match="too many aliases: an alias refers to the node that contains it"):
        parse_yaml("a: &a [1, *a]\n", "f.yaml")


def test_a_few_aliases_are_fine() -> None:
    doc = parse_yaml("d: &d {x: 1}\nl: [*d, *d, *d]\n", "f.yaml")
    assert doc.data["l"] == [{"x": 1}] * 3


def test_oversized_file_is_refused_before_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsrc, "MAX_FILE_BYTES", 100)
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * 200 + "\n")
    with pytest.raises(ConfigError, match="the limit is 100") as info:
        load_yaml_file(path)
    assert info.value.file == str(path)


def test_too_many_cases_in_one_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(suite_module, "MAX_CASES_PER_FILE", 2)
    case = "  - {id: c%d, input: x, checks: [{type: contains, value: x}]}\n"
    config = _project(tmp_path, "cases:\n" + "".join(case % i for i in range(3)))
    with pytest.raises(ConfigError, match="3 cases in one file; the limit is 2") as info:
        load_project(config)
    assert info.value.line == 2
