"""What the Actions runner hands a Docker action: ``INPUT_*`` variables, the event file, command files."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalgate.errors import UsageError
from evalgate.gate import parse_fraction

# events whose payload carries the pull request; a submitted review re-runs the gate (owners' approval)
PR_EVENTS = ("pull_request", "pull_request_target", "pull_request_review")
MAX_EVENT_BYTES = 10 * 1024 * 1024  # GitHub's own event payloads are far smaller
TRUE = ("true", "True", "TRUE")
FALSE = ("false", "False", "FALSE")


def _input(env: Mapping[str, str], name: str, default: str = "") -> str:
    # the runner upper-cases the id and keeps hyphens: github-token -> INPUT_GITHUB-TOKEN
    return env.get(f"INPUT_{name.upper().replace(' ', '_')}", default).strip()


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _input(env, name)
    if raw == "":
        return default
    if raw in TRUE:
        return True
    if raw in FALSE:
        return False
    raise UsageError(
        f"input '{name}' must be true or false, got '{raw}'",
        fix="YAML 1.2 booleans as GitHub reads them: true/True/TRUE or false/False/FALSE",
    )


@dataclass(frozen=True)
class ActionInputs:
    """The action's inputs, validated."""

    config: str = "evalgate.yaml"
    github_token: str | None = None
    threshold: float | None = None
    comment: bool = True
    status_context: str = "ai-eval-gate"
    baseline: str = "auto"
    fail_on_mixed_change: bool = True
    working_directory: str = "."
    event_file: str | None = None
    event_name: str | None = None
    commit: str | None = None
    results: str | None = None
    trusted_label: str = "evalgate:trusted"
    cache_dir: str | None = None


def read_inputs(env: Mapping[str, str]) -> ActionInputs:
    """Parse ``INPUT_*``; a bad value is a ``UsageError`` naming the input and the fix."""
    threshold_raw = _input(env, "threshold")
    threshold = None
    if threshold_raw:
        try:
            threshold = parse_fraction(threshold_raw)
        except ValueError as exc:
            raise UsageError(f"input 'threshold' {exc}, got '{threshold_raw}'") from None
    context = _input(env, "status-context", "ai-eval-gate") or "ai-eval-gate"
    if len(context) > 100:
        raise UsageError("input 'status-context' is longer than 100 characters")
    baseline = _input(env, "baseline", "auto") or "auto"
    commit = _input(env, "commit") or None
    if commit is not None and not (
        7 <= len(commit) <= 64 and all(c in "0123456789abcdef" for c in commit.lower())
    ):
        raise UsageError(f"input 'commit' must be a commit SHA, got '{commit}'")
    return ActionInputs(
        config=_input(env, "config", "evalgate.yaml") or "evalgate.yaml",
        github_token=_input(env, "github-token") or None,
        threshold=threshold,
        comment=_bool(env, "comment", True),
        status_context=context,
        baseline=baseline,
        fail_on_mixed_change=_bool(env, "fail-on-mixed-change", True),
        working_directory=_input(env, "working-directory", ".") or ".",
        event_file=_input(env, "event-file") or None,
        event_name=_input(env, "event-name") or None,
        commit=commit,
        results=_input(env, "results") or None,
        trusted_label=_input(env, "trusted-label", "evalgate:trusted") or "evalgate:trusted",
        cache_dir=_input(env, "cache-dir") or None,
    )


def cache_root(
    inputs: ActionInputs, env: Mapping[str, str], workspace: Path, warn: Callable[[str], None]
) -> Path:
    """Where the Action keeps its response and parse caches: never inside the workspace.

    Everything in the workspace is the pull request's, so a cache there would let it commit answers that
    stand in for the model's. The default is ``$RUNNER_TEMP/evalgate-cache`` (see ``default_cache_dir``);
    a workflow that keeps the cache between runs restores it with ``actions/cache`` and passes that path
    as ``cache-dir``.
    """
    raw = inputs.cache_dir or str(default_cache_dir(env, warn))
    path = Path(raw).expanduser()
    path = (path if path.is_absolute() else workspace / path).resolve()
    if path == workspace or path.is_relative_to(workspace):
        raise UsageError(
            f"input 'cache-dir' ({raw}) lies inside the workspace, where a pull request could commit "
            "cache entries that stand in for model answers",
            fix="use a path outside it, e.g. ${{ runner.temp }}/evalgate-cache (restored with actions/cache)",
        )
    return path


def default_cache_dir(env: Mapping[str, str], warn: Callable[[str], None], *, uid: int | None = None) -> Path:
    """``$RUNNER_TEMP/evalgate-cache``, else this user's ``evalgate-cache-<uid>`` in the system temp dir.

    The runner's temp directory belongs to one job. Without it (a run outside Actions) one shared
    ``/tmp/evalgate-cache`` would let any user on the machine plant answers for everyone else's runs, so
    the fallback is per user, created 0700, and used only if it is a real directory of this user that no
    one else can write to. Otherwise: one warning, and the run gets an empty private directory of its own
    (removed at exit), which is the same as running without a cache.
    """
    if env.get("RUNNER_TEMP"):
        return Path(env["RUNNER_TEMP"]) / "evalgate-cache"
    uid = os.getuid() if uid is None else uid
    path = Path(tempfile.gettempdir()) / f"evalgate-cache-{uid}"
    problem = _not_private(path, uid)
    if problem is None:
        return path
    warn(f"not using the response cache {path}: {problem}; this run starts with an empty private cache")
    fresh = Path(tempfile.mkdtemp(prefix="evalgate-cache-"))
    atexit.register(shutil.rmtree, fresh, True)
    return fresh


def _not_private(path: Path, uid: int) -> str | None:
    """Why ``path`` must not hold this user's cache, or None (creating it 0700 when missing)."""
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        return f"it cannot be created ({exc.strerror})"
    info = os.lstat(path)  # lstat: a symlink planted by someone else is refused, not followed
    if not stat.S_ISDIR(info.st_mode):
        return "it is not a directory"
    if info.st_uid != uid:
        return f"it belongs to another user (uid {info.st_uid})"
    if info.st_mode & 0o022:
        return f"others can write to it (mode {stat.S_IMODE(info.st_mode):o})"
    return None


@dataclass(frozen=True)
class PullRequest:
    """The parts of a pull_request event the action needs."""

    number: int
    head_sha: str
    base_sha: str
    head_repo: str | None = None
    base_repo: str | None = None
    labels: tuple[str, ...] = ()

    @property
    def from_fork(self) -> bool:
        return bool(self.head_repo and self.base_repo and self.head_repo != self.base_repo)


@dataclass(frozen=True)
class RunnerContext:
    """The workflow run around the action."""

    workspace: Path
    event_name: str
    event: dict[str, Any]
    sha: str
    repository: str | None
    api_url: str
    server_url: str
    run_id: str | None
    output: Path | None
    summary: Path | None

    @property
    def run_url(self) -> str | None:
        if not (self.repository and self.run_id):
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    def blob_url(self, sha: str, path: str, line: int | None = None) -> str | None:
        """A link to a file at a commit, e.g. the suite line of a failing case."""
        if not self.repository:
            return None
        anchor = f"#L{line}" if line else ""
        return f"{self.server_url}/{self.repository}/blob/{sha}/{path}{anchor}"

    @property
    def pull_request(self) -> PullRequest | None:
        """The PR this run is about, from a pull_request(-like) event."""
        pr = self.event.get("pull_request")
        if not isinstance(pr, dict) or self.event_name not in PR_EVENTS:
            return None
        try:
            return PullRequest(
                number=int(pr["number"]),
                head_sha=str(pr["head"]["sha"]),
                base_sha=str(pr["base"]["sha"]),
                head_repo=(pr["head"].get("repo") or {}).get("full_name"),
                base_repo=(pr["base"].get("repo") or {}).get("full_name"),
            )
        except (KeyError, TypeError, ValueError):
            raise UsageError(
                "the pull_request event has no number/head.sha/base.sha",
                fix="pass the event file of a pull_request run (event-file input)",
            ) from None


def read_context(env: Mapping[str, str], inputs: ActionInputs) -> RunnerContext:
    """The runner's env vars and event file.

    On ``workflow_run`` (the fork-safe report stage) only the runner's own event counts: ``event-file``
    and ``event-name`` came from the PR's run and are ignored, since a fork writes whatever it likes there.
    Elsewhere they override the current run's event, as before.
    """
    workspace = Path(env.get("GITHUB_WORKSPACE") or ".").resolve()
    stage2 = env.get("GITHUB_EVENT_NAME") == "workflow_run"
    event_path_raw = (None if stage2 else inputs.event_file) or env.get("GITHUB_EVENT_PATH")
    event: dict[str, Any] = {}
    if event_path_raw:
        event_path = Path(event_path_raw)
        if not event_path.is_absolute():
            event_path = workspace / event_path
        try:
            if event_path.stat().st_size > MAX_EVENT_BYTES:
                raise UsageError(
                    f"the event file is larger than {MAX_EVENT_BYTES // 2**20} MB", file=str(event_path)
                )
            loaded = json.loads(event_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(
                "event file not found",
                file=str(event_path),
                fix="download the artifact holding the event file before this step",
            ) from None
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read the event file: {exc}", file=str(event_path)) from None
        if isinstance(loaded, dict):
            event = loaded
    server = (env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    api = (env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")
    output = env.get("GITHUB_OUTPUT")
    summary = env.get("GITHUB_STEP_SUMMARY")
    return RunnerContext(
        workspace=workspace,
        event_name=(None if stage2 else inputs.event_name) or env.get("GITHUB_EVENT_NAME", ""),
        event=event,
        sha=env.get("GITHUB_SHA", ""),
        repository=env.get("GITHUB_REPOSITORY") or None,
        api_url=api,
        server_url=server,
        run_id=env.get("GITHUB_RUN_ID") or None,
        output=Path(output) if output else None,
        summary=Path(summary) if summary else None,
    )
