"""``canary plan`` checks the edges before anyone waits for a rollout: the source answers and the router
can read the current weight. One attempt each, no retries: a plan is run by a person (or a workflow's
first job) who wants to know now.

A missing or unreadable request-log file is a configuration error (exit 2: the path is wrong or the app
logs elsewhere); a URL that does not answer, a command that fails or a router that cannot be read is an
infrastructure error (exit 3).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

from evalgate.canary.plan import RolloutPlan, format_duration
from evalgate.errors import ConfigError


def probe(plan: RolloutPlan, *, config: Path, env: Mapping[str, str], now: float | None = None) -> list[str]:
    """Ask the router for its weight and the source for the last look's records; lines to print."""
    from evalgate.canary.routers import build_router
    from evalgate.canary.sources import JsonlFileSource, build_source

    base_dir = config.resolve().parent
    source = build_source(
        dict(plan.source.model_dump()),
        base_dir=base_dir,
        env=env,
        metrics=plan.metrics,
        live_checks=plan.live_checks,
    )
    if isinstance(source, JsonlFileSource):
        _readable(source.path, config)
    until = time.time() if now is None else now
    look = next((s.look_every for s in plan.stages if not s.final), 300.0)
    seen = source.observe(until - look, until)
    n_s, n_c = seen.counts.get("stable", 0), seen.counts.get("canary", 0)
    router = build_router(
        dict(plan.router.model_dump()),
        base_dir=base_dir,
        env=env,
        stable=plan.target.stable,
        candidate=plan.target.candidate,
    )
    weight = router.get_weight()
    return [
        f"source {source.name}: answers, {n_c:,}/{n_s:,} records (canary/stable) in the last "
        f"{format_duration(look)}" + ("" if n_s + n_c else ": is the app logging?"),
        f"router {router.name}: reads the current weight, {weight}%",
    ]


def _line(config: Path) -> int | None:
    from evalgate.yamlsrc import load_yaml_file

    try:
        return load_yaml_file(config).line_of(("canary", "source", "path"))
    except (ConfigError, OSError):
        return None


def _readable(path: Path, config: Path) -> None:
    if not path.exists():
        raise ConfigError(
            f"the request log {path} does not exist",
            file=str(config),
            line=_line(config),
            where="canary.source.path",
            fix="point source.path at the file the app appends request records to (relative to the config "
            "file), or start the app first; `canary plan --no-probe` only prints the sample sizes",
        )
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ConfigError(
            f"the request log {path} is not a readable file",
            file=str(config),
            line=_line(config),
            where="canary.source.path",
            fix="make it readable by the user running evalgate",
        )
