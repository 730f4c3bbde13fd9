"""The values one Action run passes around: its session, the job log and the commit statuses.

``Session`` bundles the inputs, the runner's context and the edges (the GitHub client, the statuses, the
log), so the run, the verdict and the publishing take one value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from evalgate.errors import GitHubError, GitHubPermissionError
from evalgate.ghactions import annotation

if TYPE_CHECKING:
    from evalgate.action_env import ActionInputs, PullRequest, RunnerContext
    from evalgate.github import GitHubClient

State = Literal["pending", "success", "failure", "error"]


@dataclass
class Log:
    """Lines for the job log; warnings become ``::warning`` annotations."""

    warnings: list[str] = field(default_factory=list)

    def info(self, text: str) -> None:
        print(text, flush=True)

    def warn(self, text: str) -> None:
        self.warnings.append(text)
        print(annotation("warning", text), flush=True)


@dataclass
class Statuses:
    """Commit statuses on the PR head; a missing token or a read-only one degrades to warnings."""

    gh: GitHubClient | None
    sha: str
    context: str
    target_url: str | None
    log: Log
    disabled: bool = False

    def set(self, suffix: str, state: State, description: str) -> None:
        if self.gh is None or self.disabled or not self.sha:
            return
        try:
            self.gh.set_status(
                self.sha,
                state=state,
                context=f"{self.context}/{suffix}",
                description=description,
                target_url=self.target_url,
            )
        except GitHubPermissionError as exc:
            self.disabled = True
            self.log.warn(f"cannot set commit statuses with this token (a fork PR?): {exc}")
        except GitHubError as exc:
            self.log.warn(f"could not set the {self.context}/{suffix} status: {exc}")


@dataclass(frozen=True)
class Session:
    """One action run's inputs, context and edges, passed around as one value."""

    inputs: ActionInputs
    ctx: RunnerContext
    workdir: Path
    pr: PullRequest | None
    sha: str
    gh: GitHubClient | None
    statuses: Statuses
    log: Log
    stage2: bool = False  # the fork-safe report stage (workflow_run)
    cache: Path | None = None  # the response and parse caches, outside the workspace


def workspace_path(path: Path, ctx: RunnerContext) -> str:
    """``path`` relative to the workspace, as GitHub names files in a repository; as given when outside."""
    try:
        return path.resolve().relative_to(ctx.workspace).as_posix()
    except ValueError:
        return path.as_posix()
