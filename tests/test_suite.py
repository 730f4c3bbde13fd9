from __future__ import annotations

from pathlib import Path

import pytest

from evalgate.errors import ConfigError, UsageError
from evalgate.evaluation import Selection, in_shard, parse_shard, select
from evalgate.suite import load_suite, load_suites


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_cases_keep_their_line_and_defaults(tmp_path: Path) -> None:
    suite = _write(
        tmp_path / "evals" / "s.yaml",
        """\
defaults:
  tags: [smoke]
  checks: [{type: max_words, value: 50}]
cases:
  - id: one
    input: hi
    checks: [{type: contains, value: hi}]
  - id: two
    input: yo
    tags: [extra]
    repeat: 3
    checks: [{type: contains, value: yo}]
""",
    )
    cases = load_suite(suite, display="evals/s.yaml")
    assert [(c.id, c.line) for c in cases] == [("one", 5), ("two", 8)]
    assert cases[1].spec.tags == ["smoke", "extra"]
    assert [c.type for c in cases[0].spec.checks] == ["max_words", "contains"]
    assert cases[1].min_pass == 3  # repeat without min_pass means every trial must pass


def test_errors_in_a_case_point_at_the_case_line(tmp_path: Path) -> None:
    suite = _write(
        tmp_path / "s.yaml",
        "cases:\n  - id: ok\n    input: a\n    checks: [{type: contains, value: a}]\n  - id: bad\n"
        "    input: b\n    checks:\n      - {type: max_chars, value: -1}\n",
    )
    with pytest.raises(ConfigError) as info:
        load_suite(suite, display="s.yaml")
    assert str(info.value).startswith("s.yaml:8: cases[1].checks[0]")


def test_suites_are_discovered_sorted_and_once(tmp_path: Path) -> None:
    for name in ("b", "a"):
        _write(
            tmp_path / "evals" / f"{name}.yaml",
            f"cases:\n  - {{id: {name}, input: x, checks: [{{type: contains, value: x}}]}}\n",
        )
    cases = load_suites(["evals/*.yaml", "evals/a.yaml"], tmp_path)
    assert [(c.id, c.suite) for c in cases] == [("a", "evals/a.yaml"), ("b", "evals/b.yaml")]


def test_shards_partition_the_cases_exactly() -> None:
    ids = [f"case_{i}" for i in range(500)]
    shards = [[i for i in ids if in_shard(i, (k, 4))] for k in range(1, 5)]
    assert sorted(i for s in shards for i in s) == sorted(ids)
    assert all(60 < len(s) < 190 for s in shards)


@pytest.mark.parametrize("text", ["0/2", "3/2", "x", "1/0", "1-2"])
def test_bad_shard_specs_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_shard(text)


def test_select_by_tag_and_case(tmp_path: Path) -> None:
    _write(
        tmp_path / "s.yaml",
        "cases:\n"
        "  - {id: a, input: x, tags: [t1], checks: [{type: contains, value: x}]}\n"
        "  - {id: b, input: x, tags: [t2], checks: [{type: contains, value: x}]}\n",
    )
    cases = load_suite(tmp_path / "s.yaml")
    assert [c.id for c in select(cases, Selection(tags=("t2",)))] == ["b"]
    assert [c.id for c in select(cases, Selection(case_ids=("a",)))] == ["a"]
    with pytest.raises(UsageError):
        select(cases, Selection(case_ids=("zzz",)))


def test_parse_cache_returns_the_same_cases_and_lines(tmp_path: Path) -> None:
    suite = _write(
        tmp_path / "s.yaml",
        "# leading comment\ncases:\n  - id: a\n    input: x\n    checks: [{type: contains, value: x}]\n"
        "  - id: b\n    input: y\n    checks: [{type: regex, pattern: 'y+'}]\n",
    )
    cache = tmp_path / "cache"
    first = load_suite(suite, display="s.yaml", cache_dir=cache)
    assert len(list((cache / "parsed").rglob("*.json"))) == 1
    second = load_suite(suite, display="s.yaml", cache_dir=cache)
    assert [(c.id, c.line, c.spec) for c in first] == [(c.id, c.line, c.spec) for c in second]
    assert [c.line for c in second] == [3, 6]


def test_cached_doc_still_finds_deep_lines_lazily(tmp_path: Path) -> None:
    from evalgate.yamlsrc import load_yaml_file

    path = _write(tmp_path / "d.yaml", "a:\n  - b: 1\n    c:\n      d: 2\n")
    load_yaml_file(path, cache_dir=tmp_path / "c")
    doc = load_yaml_file(path, cache_dir=tmp_path / "c")
    assert doc.data == {"a": [{"b": 1, "c": {"d": 2}}]}
    assert doc.line_of(("a", 0, "c", "d")) == 4


def test_yaml_that_json_cannot_hold_is_not_cached(tmp_path: Path) -> None:
    from evalgate.yamlsrc import load_yaml_file

    path = _write(tmp_path / "d.yaml", "when: 2024-01-02\n1: int key\n")
    doc = load_yaml_file(path, cache_dir=tmp_path / "c")
    assert not (tmp_path / "c").exists()
    assert 1 in doc.data
