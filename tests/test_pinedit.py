"""``evalgate pin show|set``: value-level edits that keep each file's formatting and comments."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from evalgate.cli import main
from evalgate.errors import ConfigError
from evalgate.pinedit import apply, replace_value

CONFIG = """\
# the eval gate's config
model:
  provider: replay          # offline
  name: gpt-4o-2024-11-20   # the primary pin
  fallback: gpt-4o-mini-2024-07-18
  responses: answers.yaml
judge: {provider: replay, name: "gpt-4o-2024-11-20", responses: answers.yaml}
policy:
  model_pins:
    - evalgate.yaml#model.name
    - evalgate.yaml#model.fallback
    - evalgate.yaml#judge.name
    - app/settings.toml#ai.model
    - app/deploy.json#models.0.name
    - app/other.yaml#llm.model
"""
TOML = """\
title = "app"   # not a pin

[ai]
# pinned by the eval gate
model = "gpt-4o-2024-11-20"  # keep in sync
temperature = 0.2
"""
JSON = '{\n  "models": [\n    {"name": "gpt-4o-2024-11-20", "weight": 1},\n    {"name": "other"}\n  ]\n}\n'
OTHER = "llm:\n  model: 'gpt-4o-mini-2024-07-18'   # a different model: not the primary pin\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "evalgate.yaml").write_text(CONFIG)
    (tmp_path / "app" / "settings.toml").write_text(TOML)
    (tmp_path / "app" / "deploy.json").write_text(JSON)
    (tmp_path / "app" / "other.yaml").write_text(OTHER)
    return tmp_path


def test_pin_set_changes_only_the_primary_pin_values(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project)
    assert main(["pin", "set", "gpt-4o-2025-03-12"]) == 0
    config = (project / "evalgate.yaml").read_text()
    # every byte but the values is kept: comments, padding, quoting style, the fallback
    assert config == CONFIG.replace("name: gpt-4o-2024-11-20", "name: gpt-4o-2025-03-12").replace(
        'name: "gpt-4o-2024-11-20"', 'name: "gpt-4o-2025-03-12"'
    )
    assert (project / "app" / "settings.toml").read_text() == TOML.replace("2024-11-20", "2025-03-12")
    assert (project / "app" / "deploy.json").read_text() == JSON.replace("2024-11-20", "2025-03-12")
    assert (project / "app" / "other.yaml").read_text() == OTHER
    out = capsys.readouterr().out
    assert "changed evalgate.yaml#model.name: gpt-4o-2024-11-20 → gpt-4o-2025-03-12" in out
    assert "kept evalgate.yaml#model.fallback: gpt-4o-mini-2024-07-18" in out
    assert "kept app/other.yaml#llm.model" in out


def test_pin_show_lists_every_location_and_marks_the_primary(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project)
    (project / "app" / "other.yaml").unlink()
    assert main(["pin", "show"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["evalgate.yaml#model.name", "gpt-4o-2024-11-20", "(primary)"]
    assert lines[1].split() == ["evalgate.yaml#model.fallback", "gpt-4o-mini-2024-07-18"]
    assert lines[-1].split() == ["app/other.yaml#llm.model", "(unset)"]
    assert main(["pin", "show", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["primary"] == "gpt-4o-2024-11-20"
    assert [p["primary"] for p in data["pins"]] == [True, False, True, True, True, False]


def test_pin_paths_resolve_against_the_git_top_level(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    monkeypatch.chdir(project / "app")
    assert main(["pin", "set", "--config", "../evalgate.yaml", "gpt-4o-2025-03-12"]) == 0
    assert "2025-03-12" in (project / "app" / "settings.toml").read_text()
    capsys.readouterr()


def test_pin_set_dry_run_writes_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project)
    assert main(["pin", "set", "gpt-4o-2025-03-12", "--dry-run"]) == 0
    assert (project / "evalgate.yaml").read_text() == CONFIG
    assert "would change app/settings.toml#ai.model" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "message"),
    [("gpt-4o", "bare OpenAI model family"), ("gpt-4o-latest", "moving alias")],
)
def test_pin_set_refuses_an_unpinned_name(
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    message: str,
) -> None:
    monkeypatch.chdir(project)
    assert main(["pin", "set", name]) == 2
    assert message in capsys.readouterr().err
    assert (project / "evalgate.yaml").read_text() == CONFIG


def test_pin_set_without_a_location_holding_the_pin_is_a_usage_error(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project)
    text = CONFIG.split("policy:")[0] + "policy:\n  model_pins: [app/other.yaml#llm.model]\n"
    (project / "evalgate.yaml").write_text(text)
    assert main(["pin", "set", "gpt-4o-2025-03-12"]) == 2
    err = capsys.readouterr().err
    assert "no policy.model_pins location holds the current pin 'gpt-4o-2024-11-20'" in err
    assert "app/other.yaml#llm.model" in err


def test_pin_set_to_the_current_pin_changes_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project)
    assert main(["pin", "set", "gpt-4o-2024-11-20"]) == 0
    assert "nothing to change" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("a:\n  b: x-2024-01-01\n", "a.b", "a:\n  b: y-2025-01-01\n"),
        ("a: {b: 'x-2024-01-01', c: 1}\n", "a.b", "a: {b: 'y-2025-01-01', c: 1}\n"),
        ("list:\n  - name: x-2024-01-01\n", "list.0.name", "list:\n  - name: y-2025-01-01\n"),
        ("a:\r\n  b: x-2024-01-01 # c\r\n", "a.b", "a:\r\n  b: y-2025-01-01 # c\r\n"),
        ("\ufeffa: x-2024-01-01\n", "a", "\ufeffa: y-2025-01-01\n"),
    ],
)
def test_yaml_value_edits_keep_everything_else(text: str, key: str, expected: str) -> None:
    assert replace_value(text, "f.yaml", key, "y-2025-01-01") == expected


def test_a_plain_yaml_value_that_would_change_type_is_quoted() -> None:
    assert replace_value("m: old-2024-01-01\n", "f.yaml", "m", "1.5") == "m: '1.5'\n"
    assert replace_value("m: old-2024-01-01\n", "f.yaml", "m", "a: b") == "m: 'a: b'\n"


def test_toml_literal_strings_and_dotted_keys() -> None:
    text = "ai.model = 'x-2024-01-01'\n[other]\nmodel = 'x-2024-01-01'\n"
    assert replace_value(text, "s.toml", "ai.model", "y-2025") == text.replace("x-2024-01-01", "y-2025", 1)


@pytest.mark.parametrize(
    ("text", "filename", "key", "message"),
    [
        ("a:\n  b: [1, 2]\n", "f.yaml", "a.b", "holds a mapping or a list"),
        ("a:\n  b: |\n    x\n", "f.yaml", "a.b", "block scalar"),
        ("a: 1\n", "f.yaml", "b", "not in the file"),
        ('[ai]\nmodel = """x"""\n', "s.toml", "ai.model", "no 'key = \"string\"' line"),
    ],
)
def test_edits_that_cannot_be_done_safely_are_refused(
    text: str, filename: str, key: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        replace_value(text, filename, key, "y-2025-01-01")


def test_a_yaml_anchor_is_refused_because_aliases_share_it() -> None:
    text = "a: &m x-2024-01-01\nb: *m\n"
    with pytest.raises(ConfigError, match="anchor or alias"):
        replace_value(text, "f.yaml", "b", "y-2025-01-01")
    with pytest.raises(ConfigError, match="anchor or alias"):
        apply(text, "f.yaml", ["a"], "y-2025-01-01", others=["b"])


def test_a_config_below_the_repository_root_gets_a_hint_and_root_works(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # the pin locations are written relative to the config's folder, but pins resolve from the git root
    outer = project / "outer"
    shutil.copytree(project, outer / "bot", ignore=shutil.ignore_patterns("outer"))
    subprocess.run(["git", "init", "-q", str(outer)], check=True)
    monkeypatch.chdir(outer / "bot")
    assert main(["pin", "set", "gpt-4o-2025-03-12"]) == 2
    assert "e.g. bot/evalgate.yaml#model.name (or pass --root bot)" in capsys.readouterr().err
    assert main(["pin", "set", "gpt-4o-2025-03-12", "--root", "."]) == 0
    assert "changed app/settings.toml#ai.model" in capsys.readouterr().out
