"""The ``javascript`` check: promptfoo's JavaScript asserts, run by one long-lived Node.js worker.

Requests and answers are JSON lines over the worker's stdin/stdout. Calls are serialised through one
lock, so a call that never returns only costs its own ``timeout_s``: the worker is then killed (its
whole process group) and the next call starts a fresh one.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalgate.checks.base import CheckContext, clip, result
from evalgate.errors import ConfigError
from evalgate.results import CheckResult

if TYPE_CHECKING:  # spec models load with the suites that use them
    from evalgate.checks.specs_more import JavascriptCheck

# promptfoo's rule: one line is an expression ('output.length < 100'), several lines a function body
_WORKER = r"""
const path = require('path');
const readline = require('readline');
const util = require('util');
// stdout carries the replies: what user code prints (console.log, process.stdout.write) goes to stderr
const reply = process.stdout.write.bind(process.stdout);
const toStderr = (...args) => process.stderr.write(util.format(...args) + '\n');
process.stdout.write = process.stderr.write.bind(process.stderr);
for (const name of ['log', 'info', 'debug', 'warn', 'error', 'trace', 'dir']) console[name] = toStderr;
const compiled = new Map();
function fromFile(file, name) {
  const mod = require(path.resolve(file));
  const fn = name ? mod[name] : (typeof mod === 'function' ? mod : (mod.default || mod.getAssert));
  if (typeof fn !== 'function') {
    throw new Error(`${file} exports no function${name ? ` named '${name}'` : ''}`);
  }
  return fn;
}
function inline(code, arg) {
  const key = arg + '\0' + code;
  if (!compiled.has(key)) {
    const body = code.includes('\n') ? code : `return ${code}`;
    compiled.set(key, new Function(arg, 'context', body));
  }
  return compiled.get(key);
}
const rl = readline.createInterface({input: process.stdin});
rl.on('line', async (line) => {
  let req;
  try { req = JSON.parse(line); } catch (e) { return; }
  let answer;
  try {
    // a vars transform (promptfoo's transformVars) sees 'vars'; checks and output transforms 'output'
    const arg = req.vars !== undefined ? 'vars' : 'output';
    const fn = req.file ? fromFile(req.file, req.name) : inline(req.code, arg);
    let value = await fn(arg === 'vars' ? req.vars : req.output, req.context);
    answer = {ok: true, value: value === undefined ? null : value};
  } catch (e) {
    answer = {ok: false, error: String((e && e.message) || e)};
  }
  answer.id = req.id;
  let text;
  try {
    text = JSON.stringify(answer);
  } catch (e) {
    text = JSON.stringify({ok: false, error: 'result is not JSON', id: req.id});
  }
  reply(text + '\n');
});
"""


_FILE_REF = re.compile(r"^(.*?\.(?:c|m)?[jt]s)(?::([A-Za-z_$][\w$]*))?$")


class JavaScriptError(Exception):
    """The worker could not answer (timeout, crash); the check fails with this reason."""


class NodeWorker:
    """One ``node`` process evaluating check functions; thread-safe, restarted after a timeout or crash."""

    def __init__(self, node: str) -> None:
        self._node = node
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._sent = 0  # requests carry a number; the answer repeats it

    def _start(self) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [self._node, "-e", _WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            start_new_session=os.name == "posix",
        )
        self._lines = queue.Queue()
        lines = self._lines

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, name="evalgate-node", daemon=True).start()
        return proc

    def call(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send one request and wait for its answer; ``JavaScriptError`` on timeout or a dead worker."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._start()
            proc = self._proc
            assert proc.stdin is not None
            self._sent += 1
            number = self._sent
            deadline = time.monotonic() + timeout_s
            try:
                proc.stdin.write(json.dumps({**request, "id": number}) + "\n")
                proc.stdin.flush()
                while True:  # anything but this request's answer (stray output) is skipped
                    line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
                    answer = _answer(line, number)
                    if line is None or answer is not None:
                        break
            except queue.Empty:
                self._stop()
                raise JavaScriptError(f"timed out after {timeout_s:g} s (the worker was restarted)") from None
            except OSError as exc:
                self._stop()
                raise JavaScriptError(f"the Node.js worker died: {exc}") from None
            if line is None or answer is None:
                self._stop()
                raise JavaScriptError("the Node.js worker exited") from None
            return answer

    def _stop(self) -> None:
        from evalgate.providers.command import kill_group

        proc, self._proc = self._proc, None
        if proc is not None:
            kill_group(proc)
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()

    def close(self) -> None:
        """Stop the worker process."""
        with self._lock:
            self._stop()


def _answer(line: str | None, number: int) -> dict[str, Any] | None:
    """The worker's answer to request ``number`` if ``line`` is it, else ``None``."""
    if line is None:
        return None
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) and value.get("id") == number else None


_worker: NodeWorker | None = None
_worker_lock = threading.Lock()


def node_path() -> str:
    """The ``node`` executable, or a ``ConfigError`` saying how to get it."""
    node = shutil.which(os.environ.get("EVALGATE_NODE", "node"))
    if node is None:
        raise ConfigError(
            "javascript checks need Node.js, and 'node' is not on PATH",
            fix="install Node.js 18+ (GitHub's runners and the Action's image have it), "
            "or set EVALGATE_NODE to its path",
        )
    return node


def worker() -> NodeWorker:
    """The process-wide worker, started on first use."""
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = NodeWorker(node_path())
            atexit.register(_worker.close)
        return _worker


def _source(spec: JavascriptCheck, base_dir: Path) -> dict[str, Any]:
    return source_of(spec.value, base_dir)


def source_of(value: str, base_dir: Path) -> dict[str, Any]:
    """The worker's request fields for inline code, or for a ``file://x.js[:fn]`` file."""
    code = value.strip()
    if not code.startswith("file://"):
        return {"code": code}
    ref = code.removeprefix("file://")
    found = _FILE_REF.match(ref)
    file, name = (found.group(1), found.group(2)) if found else (ref, None)
    path = (base_dir / file).resolve()
    if not path.is_file():
        raise ConfigError(
            f"javascript file '{file}' not found", fix="paths are relative to the suite's folder"
        )
    return {"file": str(path), "name": name or None}


def prepare_javascript(spec: JavascriptCheck, base_dir: Path) -> None:
    """Fail early (validate, plan) when Node.js or the referenced file is missing."""
    node_path()
    _source(spec, base_dir)


def _interpret(spec: JavascriptCheck, value: Any) -> CheckResult:
    label = spec.label
    if isinstance(value, bool):
        return result(label, value, float(value), f"returned {str(value).lower()}")
    if isinstance(value, int | float) and math.isfinite(value):
        passed = value >= spec.threshold if spec.threshold is not None else value > 0
        bar = f">= {spec.threshold:g}" if spec.threshold is not None else "> 0"
        return result(label, passed, float(value), f"score {value:g} {'' if passed else 'not '}{bar}")
    if isinstance(value, dict) and "pass" in value:
        passed = bool(value["pass"])
        score = value.get("score")
        number = (
            float(score) if isinstance(score, int | float) and not isinstance(score, bool) else float(passed)
        )
        if spec.threshold is not None and "score" in value:
            passed = passed and number >= spec.threshold
        reason = value.get("reason")
        shown = clip(str(reason)) if reason else f"returned pass={str(passed).lower()}"
        return result(label, passed, number, shown)
    return result(
        label,
        False,
        0.0,
        f"returned {clip(json.dumps(value), 60)}; return a boolean, a number or {{pass, score, reason}}",
    )


def output_of(ctx: CheckContext) -> Any:
    """The answer as promptfoo's scripts see it: the text, or the parsed tool calls."""
    # like promptfoo, an answer made of tool calls reaches JavaScript as the parsed calls
    if ctx.completion.finish_reason in ("tool_calls", "tool_use"):
        try:
            return json.loads(ctx.response)
        except json.JSONDecodeError:
            pass
    return ctx.response


def request_for(code: str, ctx: CheckContext) -> dict[str, Any]:
    return {
        **source_of(code, ctx.base_dir),
        "output": output_of(ctx),
        "context": {"vars": dict(ctx.vars), "prompt": ctx.prompt, "test": {"vars": dict(ctx.vars)}},
    }


def check_javascript(spec: JavascriptCheck, ctx: CheckContext) -> CheckResult:
    """Run the JavaScript; an exception, a timeout or a wrong return type fails the check with the reason."""
    request = request_for(spec.value, ctx)
    try:
        answer = worker().call(request, spec.timeout_s)
    except JavaScriptError as exc:
        return result(spec.label, False, 0.0, f"javascript {exc}")
    if not answer.get("ok"):
        return result(spec.label, False, 0.0, f"javascript threw: {clip(str(answer.get('error')))}")
    return _interpret(spec, answer.get("value"))
