"""What ``evalgate run`` does before its first model request: guards on start-up, not timing tests.

Start-up to the first model request is measured by ``bench/bench_runner.py`` (README, "Performance").
These tests pin which modules stay out of that path, so a stray top-level import fails here instead of
quietly making every run start later: a fresh interpreter on this checkout, where an audit hook writes
down ``sys.modules`` when the first connection to the model server opens. And work that can wait for
the end of the run (writing the parse cache) does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from evalgate.cli import main
from evalgate.testing import FakeModelServer, prompt_of

ROOT = Path(__file__).resolve().parents[1]

# runs ``evalgate`` with the arguments after the output path; on the first socket connection (the first
# model request) writes the names of the imported modules there, as JSON
_PROBE = """
import json, sys

out = sys.argv[1]

def hook(event, args):
    if event == "socket.connect" and not hook.seen:
        hook.seen = True
        with open(out, "w") as f:
            json.dump(sorted(sys.modules), f)

hook.seen = False
sys.addaudithook(hook)
from evalgate.cli import main

code = main(sys.argv[2:])
if not hook.seen:
    with open(out, "w") as f:
        json.dump(sorted(sys.modules), f)
sys.exit(code)
"""

# not needed to send the first request of a native ``evalgate run``: other commands, the reports
# (written after the run), the promptfoo importer, Jinja2 (only templates beyond plain holes), alerts,
# the JavaScript worker (only JavaScript checks and transforms), the gate's verdict (after the run)
NOT_BEFORE_FIRST_REQUEST = (
    "evalgate.canary",
    "evalgate.canary.cli",
    "evalgate.watchcli",
    "evalgate.report",
    "evalgate.report.json",
    "evalgate.report.markdown",
    "evalgate.report.terminal",
    "evalgate.report.junit",
    "evalgate.promptfoo.importer",
    "evalgate.github",
    "jinja2",
    "jsonschema",
    "urllib.request",
    "evalgate.checks.javascript",
    "evalgate.gate",  # judging the results: after the run (the config needs only evalgate.gateconfig)
    "evalgate.stats",
    "evalgate.checks.specs_more",  # check models of types this suite does not use
    "evalgate.checks.specs_other",
    "evalgate.vendorparams",  # the vendors' params tables: only a config that sets model params
)  # not ``subprocess``: ``asyncio``, which the HTTP providers' calls run on, imports it


def _imported(tmp_path: Path, *args: str) -> tuple[int, set[str], str]:
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(out), *args],
        cwd=tmp_path,
        env={**os.environ, "FAKE_KEY": "k", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, set(json.loads(out.read_text())), done.stdout + done.stderr


def _project(root: Path, base_url: str) -> Path:
    (root / "evals").mkdir()
    (root / "prompts").mkdir()
    (root / "prompts" / "q.md").write_text("Answer briefly: {{ question }}\n")
    (root / "evalgate.yaml").write_text(
        "model: {provider: openai, name: gpt-4o-2024-11-20, api_key_env: FAKE_KEY,"
        f" base_url: '{base_url}'}}\n"
        "prompts: {q: prompts/q.md}\n"
        'suites: ["evals/*.yaml"]\n'
    )
    (root / "evals" / "s.yaml").write_text(
        "cases:\n"
        "  - {id: a, prompt: q, vars: {question: one}, checks: [{type: icontains, value: one}]}\n"
        "  - {id: b, prompt: q, vars: {question: two}, checks: [{type: max_words, value: 40},"
        " {type: regex, pattern: 'o'}]}\n"
    )
    return root / "evalgate.yaml"


def test_run_imports_only_what_the_first_request_needs(tmp_path: Path) -> None:
    with FakeModelServer() as server:
        config = _project(tmp_path, server.openai_base_url)
        code, modules, output = _imported(tmp_path, "run", "--config", str(config), "--quiet")
        assert server.requests, output
    assert code in (0, 1), output
    assert "evalgate.runner" in modules  # the probe saw the run itself, not an early exit
    assert sorted(modules.intersection(NOT_BEFORE_FIRST_REQUEST)) == []


def test_version_imports_neither_pydantic_nor_yaml_nor_other_commands(tmp_path: Path) -> None:
    code, modules, output = _imported(tmp_path, "--version")
    assert code == 0
    assert "evalgate 0." in output
    heavy = {"pydantic", "yaml", "http.client", "evalgate.config", "evalgate.canary.cli", "evalgate.watchcli"}
    assert sorted(modules & heavy) == []


def test_a_command_builds_its_arguments_when_used(tmp_path: Path) -> None:
    """The lazily built parsers still parse: a canary verb's flags are there when it runs."""
    code, modules, output = _imported(tmp_path, "canary", "judge", "--weight", "x", "--since", "1")
    assert code == 2
    assert "argument --weight: invalid int value: 'x'" in output
    assert "evalgate.canary.cli" in modules


def test_the_parse_cache_is_written_after_the_run_not_before_the_first_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KEY", "k")
    parsed = tmp_path / ".evalgate" / "cache" / "parsed"
    on_disk: list[int] = []  # parse-cache entries on disk as each request arrives

    def answer(body: dict[str, Any]) -> str:
        on_disk.append(len(list(parsed.rglob("*.json"))))
        return prompt_of(body)

    with FakeModelServer(answer) as server:
        config = _project(tmp_path, server.openai_base_url)
        assert main(["run", "--config", str(config), "--quiet"]) == 0
        assert set(on_disk) == {0}
        entries = list(parsed.rglob("*.json"))
        assert len(entries) == 1  # the suite's entry, written when the run ended
        written = entries[0].stat().st_mtime_ns
        on_disk.clear()
        assert main(["run", "--config", str(config), "--quiet", "--no-cache"]) == 0
    assert set(on_disk) == {1}
    assert [e.stat().st_mtime_ns for e in parsed.rglob("*.json")] == [written]  # read, not rewritten


def _models_under(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    """``model`` and every model its fields can hold, however deeply nested."""
    if model in seen:
        return seen
    seen.add(model)
    for field in model.model_fields.values():
        pending = [field.annotation]
        while pending:
            annotation = pending.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                _models_under(annotation, seen)
            pending.extend(typing.get_args(annotation))
    return seen


def test_no_model_a_run_builds_has_a_builtin_default_factory() -> None:
    """``default_factory=list`` cost start-up 3 ms: pydantic reads a builtin's signature with tokenize.

    A run builds the config's and the suite's models and the text check models before its first request;
    their empty defaults come from lambdas, whose signatures pydantic reads from the code object.
    """
    from evalgate.checks.specs import MODELS
    from evalgate.config import Config
    from evalgate.suite import CaseSpec, SuiteFile

    models: set[type[BaseModel]] = set()
    for root in (Config, SuiteFile, CaseSpec, *MODELS):
        _models_under(root, models)
    assert {"Config", "GateConfig", "GateWebhook", "SuiteFile", "CaseSpec", "RegexCheck"} <= {
        m.__name__ for m in models
    }
    builtin = (list, dict, set, tuple, frozenset)
    offenders = sorted(
        f"{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if field.default_factory in builtin
    )
    assert offenders == [], "use default_factory=lambda: [] (or {}) on a model a run builds"
