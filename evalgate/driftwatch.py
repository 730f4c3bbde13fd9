"""``evalgate drift``: fetch the last good report, judge the new one, keep the issue, keep the baseline.

The I/O half of the drift watch (``evalgate.drift`` is the pure half). The baseline comes from a local
file, the newest artifact of a good drift run (Actions artifacts API) or a file on a branch; the issue
goes through ``WatchClient``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from evalgate.compare import NotComparable, Rules, RunComparison, compare_runs
from evalgate.drift import (
    Finding,
    assess,
    closing_comment,
    failing_reasons,
    issue_body,
    issue_title,
    marker,
    read_history,
    row_for,
)
from evalgate.errors import ConfigError, InfrastructureError, UsageError
from evalgate.gate import Metric, as_metric
from evalgate.ghactions import DEFAULT_TOKEN_LOGIN
from evalgate.merge import read_report, read_report_text
from evalgate.report import load_json
from evalgate.results import GateVerdict, RunResult

if TYPE_CHECKING:
    from evalgate.githubwatch import WatchClient


@dataclass(frozen=True)
class DriftOptions:
    """Where the reports come from and what to do on GitHub."""

    report: Path
    config_name: str
    rules: Rules
    metric: Metric | None = None
    baseline: Path | None = None
    baseline_artifact: str | None = None
    baseline_branch: str | None = None
    branch: str | None = None  # the branch whose runs count (artifacts); default: the default branch
    issue: bool = False
    labels: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    author: str | None = DEFAULT_TOKEN_LOGIN
    run_url: str | None = None
    save_baseline: Path | None = None
    commit: str | None = None  # this run's commit (GITHUB_SHA)


@dataclass
class DriftOutcome:
    """What happened, for the exit code, the step outputs and the summary."""

    finding: Finding
    comparison: RunComparison | None
    baseline_label: str
    issue_url: str | None = None
    issue_action: str = "none"
    base_commit: str | None = None
    notes: list[str] = field(default_factory=list)


def baseline_path(config_name: str) -> str:
    """Where a config's last good report lives on the baseline branch."""
    safe = config_name.replace("/", "__").replace("\\", "__")
    return f"evalgate-drift/{safe}.json"


def fetch_baseline(
    opts: DriftOptions,
    client: WatchClient | None,
    say: Callable[[str], None],
    commit: list[str] | None = None,
) -> tuple[RunResult | None, str]:
    """The last good report (or ``None`` on the first run) and a label saying where it came from.

    ``commit`` receives the commit the baseline was made at, when the source knows it (an artifact does).
    """
    commit = [] if commit is None else commit
    if opts.baseline is not None:
        if not opts.baseline.is_file():
            say(f"evalgate: no baseline at {opts.baseline}; this is the first run")
            return None, "none yet"
        run, _ = read_report(opts.baseline)
        return run, str(opts.baseline)
    if client is None:
        return None, "none yet"
    if opts.baseline_branch:
        path = baseline_path(opts.config_name)
        text = client.file_at(path, opts.baseline_branch)
        if text is None:
            say(f"evalgate: no {path} on branch {opts.baseline_branch}; this is the first run")
            return None, "none yet"
        run, _ = load_json(text, source=f"{opts.baseline_branch}:{path}")
        return run, f"{path} on branch {opts.baseline_branch}"
    if opts.baseline_artifact:
        branch = opts.branch or client.default_branch()
        artifact = client.latest_artifact(opts.baseline_artifact, branch)
        if artifact is None:
            say(f"evalgate: no artifact {opts.baseline_artifact} from {branch}; this is the first run")
            return None, "none yet"
        files = client.download_artifact(artifact)
        reports = sorted(name for name in files if name.endswith(".json"))
        if len(reports) != 1:
            raise InfrastructureError(
                f"artifact {opts.baseline_artifact} ({artifact.get('id')}) holds {len(reports)} JSON files; "
                "expected the one report a good drift run uploads"
            )
        run, _ = load_json(
            files[reports[0]].decode("utf-8"), source=f"artifact {opts.baseline_artifact}/{reports[0]}"
        )
        created = str(artifact.get("created_at") or "")
        sha = (artifact.get("workflow_run") or {}).get("head_sha")
        if isinstance(sha, str) and sha:
            say(f"evalgate: last good run was at commit {sha[:12]}")
            commit.append(sha)
        return run, f"artifact {opts.baseline_artifact} of {created[:16].replace('T', ' ')} (UTC)"
    return None, "none yet"


def run_drift(
    opts: DriftOptions,
    client: WatchClient | None,
    say: Callable[[str], None],
    *,
    branch_client: WatchClient | None = None,
) -> DriftOutcome:
    """Judge the report against the last good one; open, update or close the issue; keep the baseline.

    ``branch_client`` (a token with ``contents: write``) reads and writes the baseline branch when the
    issue token may only write issues; without it ``client`` does both.
    """
    text = read_report_text(opts.report)  # kept as written: a good run's text becomes the next baseline
    run, verdict = load_json(text, source=str(opts.report))
    if run.cases and all(c.status == "error" for c in run.cases):
        raise InfrastructureError(
            f"every case in {opts.report} failed to get a model answer (first: {run.cases[0].error}); "
            "that is an outage, not drift: the issue and the baseline are left alone"
        )
    if (opts.issue or opts.baseline_branch or opts.baseline_artifact) and client is None:
        raise UsageError("--issue, --baseline-branch and --baseline-artifact need GitHub access")
    base_commit: list[str] = []
    source = branch_client if opts.baseline_branch and branch_client else client
    base, label = fetch_baseline(opts, source, say, base_commit)
    comparison = None
    if base is not None:
        metric = opts.metric or as_metric(verdict.metric)
        try:
            comparison = compare_runs(base, run, metric=metric, rules=opts.rules)
        except NotComparable as exc:
            raise ConfigError(
                f"the report and the last good report ({label}) are not comparable: {exc}",
                fix="when the suite is replaced, delete the baseline so the next good run starts a new one",
            ) from None
    finding = assess(comparison, verdict)
    outcome = DriftOutcome(finding, comparison, label, base_commit=base_commit[0] if base_commit else None)
    if opts.issue and client is not None:
        _keep_issue(opts, client, run, verdict, comparison, outcome)
    if finding.good:
        _keep_baseline(opts, branch_client or client, text, outcome, say)
    return outcome


def _keep_issue(
    opts: DriftOptions,
    client: WatchClient,
    run: RunResult,
    verdict: GateVerdict,
    comparison: RunComparison | None,
    outcome: DriftOutcome,
) -> None:
    finding = outcome.finding
    existing = client.find_issue(marker(opts.config_name), opts.author)
    if existing is None and finding.kind in ("ok", "first"):
        return
    rows = read_history(existing.body) if existing is not None else []
    rows = [row_for(run, verdict, comparison, finding, opts.run_url), *rows]
    failing = comparison.cases.newly_failing + comparison.cases.flaky if comparison is not None else ()
    body = issue_body(
        opts.config_name,
        run,
        comparison,
        finding,
        rows,
        baseline=outcome.baseline_label,
        commits=(outcome.base_commit, opts.commit),
        reasons=failing_reasons(run, failing),
    )
    if existing is None:
        title = issue_title(opts.config_name, run.model, finding, comparison)
        made, _ = client.create_issue(
            title,
            body,
            marker=marker(opts.config_name),
            author=opts.author,
            labels=opts.labels,
            assignees=opts.assignees,
        )
        outcome.issue_url, outcome.issue_action = made.url, "opened"
        return
    client.edit_issue(existing.number, body=body)
    outcome.issue_url, outcome.issue_action = existing.url, "updated"
    if finding.good:  # back within the margin; an identity change is named in the comment
        client.comment(existing.number, closing_comment(run, comparison, rows, opts.run_url))
        client.edit_issue(existing.number, state="closed", reason="completed")
        outcome.issue_action = "closed"


def _keep_baseline(
    opts: DriftOptions,
    client: WatchClient | None,
    text: str,
    outcome: DriftOutcome,
    say: Callable[[str], None],
) -> None:
    if opts.save_baseline is not None:
        opts.save_baseline.parent.mkdir(parents=True, exist_ok=True)
        opts.save_baseline.write_text(text, encoding="utf-8")
        outcome.notes.append(f"saved this report as the next baseline: {opts.save_baseline}")
    if opts.baseline_branch and client is not None:
        branch = opts.baseline_branch
        if client.branch_sha(branch) is None:
            source = client.default_branch()
            sha = client.branch_sha(source)
            if sha is None:
                raise InfrastructureError(f"cannot create branch {branch}: no commit on {source}")
            client.create_branch(branch, sha)
            say(f"evalgate: created branch {branch} for drift baselines")
        path = baseline_path(opts.config_name)
        client.write_file(
            path, text, message=f"evalgate drift: new baseline for {opts.config_name}", branch=branch
        )
        outcome.notes.append(f"saved this report as the next baseline: {path} on branch {branch}")
