from __future__ import annotations

from pathlib import Path

from evalgate.cache import DiskCache, cache_key
from evalgate.providers.base import ModelRequest
from evalgate.results import Completion


def _req(**kw: object) -> ModelRequest:
    base: dict[str, object] = {
        "case_id": "a",
        "prompt": "hi",
        "model": "gpt-4o-2024-11-20",
        "params": {"t": 0},
    }
    base.update(kw)
    return ModelRequest(**base)  # type: ignore[arg-type]


def test_key_ignores_case_id_but_not_prompt_model_params_or_system() -> None:
    k = cache_key("openai", _req())
    assert cache_key("openai", _req(case_id="b")) == k
    assert cache_key("openai", _req(prompt="hi!")) != k
    assert cache_key("openai", _req(model="gpt-4o-2024-08-06")) != k
    assert cache_key("openai", _req(params={"t": 1})) != k
    assert cache_key("openai", _req(system="be brief")) != k
    assert cache_key("anthropic", _req()) != k


def test_key_is_stable_across_param_order() -> None:
    assert cache_key("openai", _req(params={"a": 1, "b": 2})) == cache_key(
        "openai", _req(params={"b": 2, "a": 1})
    )


def test_round_trip_marks_hits_cached(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    assert cache.get("ab" * 32) is None
    cache.put(
        "ab" * 32, Completion(text="hello", model="m", input_tokens=3, output_tokens=1, latency_ms=12.5)
    )
    hit = cache.get("ab" * 32)
    assert hit is not None
    assert (hit.text, hit.cached, hit.latency_ms) == ("hello", True, 12.5)
    assert (cache.hits, cache.misses) == (1, 1)


def test_corrupt_entry_is_a_miss_not_a_crash(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    key = "cd" * 32
    (tmp_path / "cd").mkdir()
    (tmp_path / "cd" / f"{key}.json").write_text("{not json")
    assert cache.get(key) is None


def test_mistyped_entry_is_a_miss(tmp_path: Path) -> None:
    import json

    cache = DiskCache(tmp_path)
    key = "ab" + "0" * 62
    for completion in (
        {"text": 5, "model": "m"},
        {"text": "hi", "model": "m", "latency_ms": "fast"},
        {"text": "hi", "model": "m", "fallback": "no"},
        {"text": "hi", "model": ["m"]},
    ):
        path = tmp_path / "ab" / f"{key}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps({"v": 1, "completion": completion}))
        assert cache.get(key) is None, completion
    assert cache.misses == 4
