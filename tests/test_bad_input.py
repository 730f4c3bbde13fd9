"""A corpus of malformed configs and suites: each must fail with exit 2 and one clear message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from evalgate.cli import main

CORPUS = sorted((Path(__file__).parent / "data" / "bad").glob("*.yaml"))


def _materialize(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 20


@pytest.mark.parametrize("entry", CORPUS, ids=[p.stem for p in CORPUS])
def test_bad_input_gets_exit_2_and_a_located_message(
    entry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec: dict[str, Any] = yaml.safe_load(entry.read_text(encoding="utf-8"))
    _materialize(tmp_path, spec.get("files") or {})
    for name in spec.get("env_remove", []):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)

    code = main(spec["command"])

    out, err = capsys.readouterr()
    expect = spec["expect"]
    assert code == expect["exit"], f"stdout={out!r} stderr={err!r}"
    assert "Traceback" not in err
    for phrase in expect.get("says", []):
        assert phrase in err, f"{phrase!r} not in {err!r}"
    if "file" in expect:
        location = expect["file"] + (f":{expect['line']}" if "line" in expect else "")
        assert location in err, f"{location!r} not in {err!r}"
