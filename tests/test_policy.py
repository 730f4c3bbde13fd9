"""The path policy, with no git, network or disk: changes and file contents are plain values."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from evalgate.changes import ChangedFile
from evalgate.config import PolicyConfig
from evalgate.errors import ConfigError
from evalgate.policy import (
    DESCRIPTION_CHARS,
    PinSpec,
    PinValue,
    PolicyVerdict,
    classify,
    matches,
    parse_pin_spec,
    pin_value,
)

POLICY = PolicyConfig(
    prompt_paths=["prompts/**", "src/**/*.prompt.md"],
    model_pins=["evalgate.yaml#model.name", "evalgate.yaml#model.fallback", "config.yaml#ai.model"],
)
OLD, NEW = "gpt-4o-2024-08-06", "gpt-4o-2024-11-20"
CONFIG_BASE = f"# app config\nai:\n  model: {OLD}\n  temperature: 0.2\n"
CONFIG_HEAD = f"# app config\nai:\n  model: {NEW}\n  temperature: 0.2\n"


def run(
    changed: list[ChangedFile],
    base: dict[str, str] | None = None,
    head: dict[str, str] | None = None,
    allow: dict[str, str] | None = None,
    policy: PolicyConfig = POLICY,
) -> PolicyVerdict:
    """Classify with in-memory base/head trees, checking that only changed files are read."""
    touched = {f.filename for f in changed} | {f.previous_filename for f in changed if f.previous_filename}

    def reader(tree: dict[str, str]) -> Callable[[str], str | None]:
        def read(path: str) -> str | None:
            assert path in touched, f"read {path}, which the change set does not touch"
            return tree.get(path)

        return read

    verdict = classify(changed, policy, reader(base or {}), reader(head or {}), allow)
    assert len(verdict.description()) <= DESCRIPTION_CHARS
    json.dumps(verdict.to_dict())
    return verdict


def modified(name: str) -> ChangedFile:
    return ChangedFile(name, "modified")


# --- kinds -----------------------------------------------------------------------------------------


def test_prompt_only_passes() -> None:
    changed = [
        modified("prompts/a.md"),
        modified("prompts/b.md"),
        ChangedFile("src/x/y/c.prompt.md", "added"),
    ]
    verdict = run([*changed, modified("README.md")])
    assert verdict.kind == "prompt-only"
    assert verdict.passed
    assert verdict.prompt_files == ("prompts/a.md", "prompts/b.md", "src/x/y/c.prompt.md")
    assert verdict.description() == "prompt-only: 3 prompt files"


def test_pin_only_passes() -> None:
    verdict = run([modified("config.yaml")], {"config.yaml": CONFIG_BASE}, {"config.yaml": CONFIG_HEAD})
    assert verdict.kind == "pin-only"
    assert verdict.passed
    (change,) = verdict.pin_changes
    assert (change.file, change.key, change.before.value, change.after.value) == (
        "config.yaml",
        "ai.model",
        OLD,
        NEW,
    )
    assert change.problem is None
    assert verdict.description() == f"pin-only: ai.model {OLD} → {NEW}"


def test_mixed_fails_and_names_the_pin_change() -> None:
    changed = [modified("prompts/a.md"), modified("src/b.prompt.md"), modified("config.yaml")]
    verdict = run(changed, {"config.yaml": CONFIG_BASE}, {"config.yaml": CONFIG_HEAD})
    assert verdict.kind == "mixed"
    assert not verdict.passed
    assert verdict.description() == f"mixed: 2 prompt files + ai.model {OLD} → {NEW}"
    assert "separate pull requests" in verdict.reasons[0]
    text = verdict.markdown()
    assert f"`ai.model`: `{OLD}` → `{NEW}`" in text
    assert "separate pull requests" in text
    assert "- prompts/a.md" in text


def test_nothing_relevant_is_none() -> None:
    verdict = run([modified("README.md"), modified("src/app.py")])
    assert (verdict.kind, verdict.passed) == ("none", True)
    assert verdict.description() == "no prompt or model-pin changes"
    assert verdict.to_dict()["pin_changes"] == []


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param("k", "mixed: 1 prompt file + k0 a-2024-01-01 → xxx", id="long-values-shortened"),
        pytest.param("k" * 150, "mixed: 1 prompt file + 5 model pins", id="long-keys-counted"),
    ],
)
def test_description_stays_short_with_many_long_pins(key: str, expected: str) -> None:
    long = "x" * 200 + "-2024-01-01"
    base = "\n".join(f"{key}{i}: a-2024-01-01" for i in range(5))
    head = "\n".join(f"{key}{i}: {long}" for i in range(5))
    policy = PolicyConfig(prompt_paths=["prompts/**"], model_pins=[f"m.yaml#{key}{i}" for i in range(5)])
    verdict = run(
        [modified("m.yaml"), modified("prompts/p.md")], {"m.yaml": base}, {"m.yaml": head}, policy=policy
    )
    assert verdict.kind == "mixed"
    assert verdict.description().startswith(expected)
    assert len(verdict.description()) <= DESCRIPTION_CHARS


# --- what counts as a pin change ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(CONFIG_BASE.replace("# app config", "# changed comment"), id="comment"),
        pytest.param(f"ai: {{model: '{OLD}', temperature: 0.2}}\n", id="reformat-flow-style"),
        pytest.param(f'ai:\n    temperature: 0.2\n    model: "{OLD}"\n', id="reorder-and-quote"),
        pytest.param(CONFIG_BASE + "other: 1\n", id="unrelated-key"),
    ],
)
def test_config_edits_that_keep_the_value_are_not_pin_changes(head: str) -> None:
    verdict = run(
        [modified("config.yaml"), modified("prompts/a.md")],
        {"config.yaml": CONFIG_BASE},
        {"config.yaml": head},
    )
    assert verdict.pin_changes == ()
    assert (verdict.kind, verdict.passed) == ("prompt-only", True)


def test_pin_file_outside_the_change_set_is_not_read() -> None:
    # run()'s reader asserts on any read of an unchanged file
    verdict = run([modified("prompts/a.md")], {"config.yaml": CONFIG_BASE}, {"config.yaml": CONFIG_HEAD})
    assert verdict.kind == "prompt-only"


@pytest.mark.parametrize(
    ("base", "head", "before", "after"),
    [
        pytest.param(CONFIG_BASE, "ai:\n  temperature: 0.2\n", "set", "absent", id="key-removed"),
        pytest.param("ai:\n  temperature: 0.2\n", CONFIG_HEAD, "absent", "set", id="key-added"),
        pytest.param(CONFIG_BASE, "ai:\n  model: null\n", "set", "absent", id="set-to-null"),
    ],
)
def test_pin_appearing_or_disappearing_is_a_change(base: str, head: str, before: str, after: str) -> None:
    verdict = run([modified("config.yaml")], {"config.yaml": base}, {"config.yaml": head})
    (change,) = verdict.pin_changes
    assert (change.before.state, change.after.state) == (before, after)
    assert (verdict.kind, verdict.passed) == ("pin-only", True)


def test_pin_file_added_and_removed() -> None:
    added = run([ChangedFile("config.yaml", "added")], {}, {"config.yaml": CONFIG_HEAD})
    assert [c.after.value for c in added.pin_changes] == [NEW]
    assert added.description() == f"pin-only: ai.model (unset) → {NEW}"
    removed = run([ChangedFile("config.yaml", "removed")], {"config.yaml": CONFIG_BASE}, {})
    assert [(c.before.value, c.after.state) for c in removed.pin_changes] == [(OLD, "absent")]


def test_renamed_pin_file_compares_old_name_at_base_with_new_name_at_head() -> None:
    renamed = ChangedFile("config.yaml", "renamed", previous_filename="settings/app.yaml")
    same = run([renamed], {"settings/app.yaml": CONFIG_BASE}, {"config.yaml": CONFIG_BASE + "\n"})
    assert same.kind == "none"
    moved = run([renamed], {"settings/app.yaml": CONFIG_BASE}, {"config.yaml": CONFIG_HEAD})
    assert [(c.before.value, c.after.value) for c in moved.pin_changes] == [(OLD, NEW)]


def test_pin_file_renamed_away_leaves_the_pin_absent() -> None:
    away = ChangedFile("old/config.yaml", "renamed", previous_filename="config.yaml")
    verdict = run([away], {"config.yaml": CONFIG_BASE}, {"old/config.yaml": CONFIG_BASE})
    assert [(c.before.value, c.after.state) for c in verdict.pin_changes] == [(OLD, "absent")]


@pytest.mark.parametrize(
    ("name", "allow", "passed"),
    [
        pytest.param("gpt-4o", None, False, id="bare-family"),
        pytest.param("gpt-4o-latest", None, False, id="alias"),
        pytest.param("llama-local", None, False, id="unversioned-local"),
        pytest.param(
            "llama-local", {"llama-local": "our own weights, versioned by image"}, True, id="allowed"
        ),
        pytest.param(NEW, None, True, id="pinned"),
    ],
)
def test_pin_changed_to_unpinned_value_fails_even_alone(
    name: str, allow: dict[str, str] | None, passed: bool
) -> None:
    head = f"model:\n  provider: openai\n  name: {name}\n"
    verdict = run(
        [modified("evalgate.yaml")],
        {"evalgate.yaml": CONFIG_BASE.replace("ai:", "model:")},
        {"evalgate.yaml": head},
        allow,
    )
    assert verdict.kind == "pin-only"
    assert verdict.passed is passed
    (change,) = verdict.pin_changes
    assert (change.problem is None) is passed
    if not passed:
        assert change.problem
        assert name in change.problem
        assert any(name in reason for reason in verdict.reasons)
        assert verdict.description().endswith("— not a pinned version")
        assert "❌" in verdict.markdown()


def test_unparseable_head_is_a_failing_pin_change() -> None:
    verdict = run([modified("config.yaml")], {"config.yaml": CONFIG_BASE}, {"config.yaml": "ai: [unclosed\n"})
    (change,) = verdict.pin_changes
    assert change.after.state == "unparseable"
    assert change.problem
    assert "does not parse" in change.problem
    assert not verdict.passed
    assert verdict.description() == f"pin-only: ai.model {OLD} → (unparseable) — cannot be checked"


def test_unparseable_base_that_now_parses_is_a_change_without_problem() -> None:
    verdict = run(
        [modified("config.yaml"), modified("prompts/a.md")],
        {"config.yaml": "ai: [\n"},
        {"config.yaml": CONFIG_HEAD},
    )
    assert verdict.kind == "mixed"
    assert verdict.pin_changes[0].problem is None


# --- prompt paths ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "shown"),
    [
        pytest.param(
            ChangedFile("prompts/a.md", "renamed", "drafts/a.md"),
            "drafts/a.md → prompts/a.md",
            id="rename-in",
        ),
        pytest.param(
            ChangedFile("archive/a.md", "renamed", "prompts/a.md"),
            "prompts/a.md → archive/a.md",
            id="rename-out",
        ),
        pytest.param(ChangedFile("prompts/a.md", "removed"), "prompts/a.md", id="removed"),
        pytest.param(ChangedFile("prompts/b.md", "copied", "prompts/a.md"), "prompts/b.md", id="copy-in"),
    ],
)
def test_prompt_file_moves_and_removals_count(change: ChangedFile, shown: str) -> None:
    verdict = run([change])
    assert verdict.kind == "prompt-only"
    assert verdict.prompt_files == (shown,)


def test_copy_out_of_prompts_does_not_count() -> None:
    assert run([ChangedFile("docs/a.md", "copied", "prompts/a.md")]).kind == "none"


@pytest.mark.parametrize(
    ("path", "pattern", "expected"),
    [
        ("src/a.prompt.md", "src/**/*.prompt.md", True),
        ("src/x/y/b.prompt.md", "src/**/*.prompt.md", True),
        ("src/x/b.md", "src/**/*.prompt.md", False),
        ("lib/src/a.prompt.md", "src/**/*.prompt.md", False),
        ("prompts/x", "prompts/**", True),
        ("prompts/deep/er/x.txt", "prompts/**", True),
        ("prompts_old/x", "prompts/**", False),
        ("prompts", "prompts/**", False),
        ("prompts/x", "prompts/", True),
        ("prompts/a.md", "prompts/*.md", True),
        ("prompts/sub/a.md", "prompts/*.md", False),
        ("a.md", "*.md", True),
        ("docs/a.md", "*.md", False),
        ("docs/a.md", "**/*.md", True),
        ("a.md", "**/*.md", True),
        ("p/a1.md", "p/a?.md", True),
        ("p/a/.md", "p/a?.md", False),
        ("p/b.md", "p/[ab].md", True),
        ("p/c.md", "p/[!ab].md", True),
        ("p/a.md", "/p/*.md", True),
        ("p/a+(1).md", "p/a+(1).md", True),
        ("./prompts/x", "prompts/**", True),
    ],
)
def test_glob_semantics(path: str, pattern: str, expected: bool) -> None:
    assert matches(path, [pattern]) is expected


@pytest.mark.parametrize("pattern", ["!prompts/**", "", "p/[z-a].md"])
def test_negated_empty_or_broken_glob_is_a_config_error(pattern: str) -> None:
    with pytest.raises(ConfigError, match="prompt_paths"):
        matches("a", [pattern])


# --- pin specs and values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("config.yaml#ai.model", PinSpec("config.yaml", "ai.model")),
        ("./a/b.json#models.0.name", PinSpec("a/b.json", "models.0.name")),
    ],
)
def test_parse_pin_spec(text: str, spec: PinSpec) -> None:
    assert parse_pin_spec(text) == spec


@pytest.mark.parametrize(
    "text",
    ["config.yaml", "#ai.model", "config.yaml#", "a#b#c", "/etc/x.yaml#a", "../x.yaml#a", "c.yaml#a..b"],
)
def test_bad_pin_spec_is_a_config_error_with_a_fix(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_pin_spec(text)
    assert info.value.where == "policy.model_pins"
    assert info.value.fix
    assert "config.yaml#ai.model" in info.value.fix


@pytest.mark.parametrize(
    ("filename", "text", "key", "expected"),
    [
        ("a.yaml", "models:\n  - name: m-2024-01-01\n", "models.0.name", PinValue("set", "m-2024-01-01")),
        ("a.yaml", "models: []\n", "models.0.name", PinValue("absent")),
        ("a.yml", "", "ai.model", PinValue("absent")),
        ("a.json", '{"ai": {"model": "gpt-4o-2024-11-20"}}', "ai.model", PinValue("set", NEW)),
        ("a.toml", '[ai]\nmodel = "gpt-4o-2024-11-20"\n', "ai.model", PinValue("set", NEW)),
        ("a.toml", "[ai]\nversion = 3\nbeta = true\n", "ai.version", PinValue("set", "3")),
        ("Modelfile", "ai:\n  model: x-1.2\n", "ai.model", PinValue("set", "x-1.2")),
        ("a.yaml", "ai: scalar\n", "ai.model", PinValue("absent")),
        ("a.yaml", "ai:\n  7: m-1.0\n", "ai.7", PinValue("set", "m-1.0")),
        ("a.yaml", "ai: [a, b]\n", "ai.--1", PinValue("absent")),
        ("a.yaml", "ai: [a, b]\n", "ai.²", PinValue("absent")),
        ("a.yaml", "ai:\n  model: {b: 1, a: 2}\n", "ai.model", PinValue("set", '{"a": 2, "b": 1}')),
        ("a.yaml", "\ufeffai:\n  model: m\n", "ai.model", PinValue("set", "m")),
    ],
)
def test_pin_value_reads_each_format(filename: str, text: str, key: str, expected: PinValue) -> None:
    assert pin_value(text, filename, key) == expected


@pytest.mark.parametrize(("filename", "text"), [("a.json", "{"), ("a.toml", "ai = "), ("a.yaml", "a: b: c")])
def test_pin_value_reports_parse_errors(filename: str, text: str) -> None:
    value = pin_value(text, filename, "ai.model")
    assert value.state == "unparseable"
    assert value.error


def test_pin_value_of_missing_file_is_absent() -> None:
    assert pin_value(None, "a.yaml", "ai.model") == PinValue("absent")


@pytest.mark.parametrize(
    ("filename", "base", "head"),
    [
        ("m.json", '{"ai": {"model": "%s", "t": 1}}', '{\n  "ai": {"t": 1, "model": "%s"}\n}\n'),
        ("m.toml", '[ai]\nmodel = "%s"\nt = 1\n', '# pins\n[ai]\nt = 1\nmodel = "%s"\n'),
    ],
)
def test_json_and_toml_pin_files(filename: str, base: str, head: str) -> None:
    policy = PolicyConfig(prompt_paths=["prompts/**"], model_pins=[f"{filename}#ai.model"])
    same = run([modified(filename)], {filename: base % OLD}, {filename: head % OLD}, policy=policy)
    assert same.kind == "none"
    changed = run([modified(filename)], {filename: base % OLD}, {filename: head % NEW}, policy=policy)
    assert [(c.before.value, c.after.value) for c in changed.pin_changes] == [(OLD, NEW)]


# --- rendering ------------------------------------------------------------------------------------------


def test_markdown_makes_hostile_file_names_and_values_inert() -> None:
    hostile = "prompts/<!-- evalgate -->[x](http://evil)*@admin*\n# Title|`tick`.md"
    head_value = "evil``\n<script>-2024-01-01"
    changed = [ChangedFile(hostile, "added"), modified("config.yaml")]
    verdict = run(
        changed, {"config.yaml": CONFIG_BASE}, {"config.yaml": f"ai:\n  model: {json.dumps(head_value)}\n"}
    )
    text = verdict.markdown()
    assert "<!--" not in text
    assert "[x](" not in text
    assert "@admin" not in text
    assert "\n# Title" not in text
    assert "```evil`` <script>-2024-01-01```" in text  # a code span longer than any backtick run
    assert all(
        line == "" or not line.startswith("#") or line.startswith("### ") for line in text.splitlines()
    )


def test_prompt_files_are_sorted_by_their_name_in_head() -> None:
    changed = [modified("prompts/b.md"), ChangedFile("prompts/a.md", "renamed", "zz/a.md")]
    assert run(changed).prompt_files == ("zz/a.md → prompts/a.md", "prompts/b.md")
