"""Gathering what the readiness table needs from the outside: GitHub's other checks and the canary setup."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from evalgate.errors import EvalgateError, GitHubError
from evalgate.readiness import CodeCheck, Facts

if TYPE_CHECKING:
    from evalgate.evaluation import Project
    from evalgate.github import GitHubClient

PROBE_WINDOW_S = 3600.0  # the observability probe asks the canary source for the last hour


def gather(
    project: Project,
    *,
    gh: GitHubClient | None,
    sha: str | None,
    status_context: str,
    run_url: str | None,
    warn: Callable[[str], None],
) -> Facts:
    """The facts for ``readiness.assess``; a GitHub or canary failure is evidence, never a crash."""
    config = project.loaded.config
    code: list[CodeCheck] | None = None
    if gh is not None and sha:
        try:
            code = gh.code_checks(sha, skip_context=f"{status_context}/", skip_url=run_url)
        except GitHubError as exc:
            warn(f"readiness: could not list the head commit's other checks: {exc}")
    rollback, observability = _canary(project)
    return Facts(
        check_kinds={c.id: [check.type for check in c.spec.checks] for c in project.cases},
        tag_thresholds=dict(config.gate.tags),
        require=tuple(config.gate.require),
        code_checks=code,
        rollback=rollback,
        observability=observability,
    )


def _canary(project: Project) -> tuple[str | None, str | None]:
    """(rollback, observability): None when there is no canary, '' when fine, else why not."""
    if project.loaded.config.canary is None:
        return None, None
    from evalgate.canary.plan import load_plan
    from evalgate.canary.sources import build_source

    try:
        plan = load_plan(project.loaded.path)
    except EvalgateError as exc:
        return str(exc), "cannot be asked: the canary plan does not load"
    try:
        source = build_source(
            dict(plan.source.model_dump()),
            base_dir=project.loaded.root,
            env=os.environ,
            metrics=plan.metrics,
            live_checks=plan.live_checks,
        )
        now = time.time()
        seen = source.observe(now - PROBE_WINDOW_S, now)
    except EvalgateError as exc:
        return "", "did not answer: " + str(exc).splitlines()[0][:300]
    except OSError as exc:
        return "", f"did not answer: {type(exc).__name__}: {exc}"[:300]
    if not any(seen.counts.values()):
        # an empty answer proves nothing: a log path with a typo looks exactly like this
        return "", f"answered with no requests in the last {PROBE_WINDOW_S / 3600:.0f} h"
    return "", ""
