from __future__ import annotations

import pytest

from evalgate.config import Config
from evalgate.errors import ConfigError
from evalgate.fielderrors import dotted
from evalgate.yamlsrc import parse_yaml, validate


def test_line_of_follows_mapping_and_sequence_paths() -> None:
    doc = parse_yaml("a:\n  b:\n    - x\n    - y\n", "f.yaml")
    assert doc.line_of(("a", "b", 1)) == 4
    assert doc.line_of(("a", "missing")) == 2


def test_dotted_renders_indexes_in_brackets() -> None:
    assert dotted(("cases", 3, "checks", 0, "pattern")) == "cases[3].checks[0].pattern"


def test_duplicate_keys_are_rejected_with_both_lines() -> None:
    with pytest.raises(ConfigError) as info:
        parse_yaml("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert info.value.line == 3
    assert "line 1" in str(info.value)


def test_validation_lists_several_problems_sorted_by_line() -> None:
    doc = parse_yaml(
        "model: {provider: openai, name: gpt-4o-2024-11-20, bogus: 1}\ngate: {threshold: 3}\n", "c.yaml"
    )
    with pytest.raises(ConfigError) as info:
        validate(Config, doc)
    text = str(info.value)
    assert text.startswith("c.yaml:1: model.bogus: unknown key 'bogus'")
    assert "c.yaml:2: gate.threshold" in text


def test_unknown_key_message_lists_allowed_keys() -> None:
    doc = parse_yaml(
        "model: {provider: openai, name: gpt-4o-2024-11-20}\nrunner: {concurency: 4}\n", "c.yaml"
    )
    with pytest.raises(ConfigError) as info:
        validate(Config, doc)
    assert "did you mean 'concurrency'" in str(info.value)
    assert "allowed keys: cache, cache_dir, concurrency" in str(info.value)
