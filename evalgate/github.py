"""The GitHub REST client: the only module that imports PyGithub.

Every call goes through ``evalgate.retry`` (PyGithub's own retries and request pacing are off) and every
failure comes out as ``GitHubError``, or ``GitHubPermissionError`` when the token may not write here
(``githuberrors`` decides which, from the status, headers and body, and names the permission to grant).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from types import TracebackType
from typing import Literal, Self, TypeVar, get_args

import requests
import urllib3

from evalgate.changes import ChangedFile, PullInfo, Review
from evalgate.errors import GitHubError
from evalgate.githuberrors import CONTENTS, DEPLOYMENTS, PULL_REQUESTS, STATUSES, github_error
from evalgate.readiness import CodeCheck
from evalgate.retry import call_with_retries

try:
    from github import Auth, Github, GithubException
    from github.ContentFile import ContentFile
    from github.GithubObject import NotSet
    from github.IssueComment import IssueComment
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("evalgate's GitHub integration needs PyGithub: pip install 'evalgate[github]'") from exc

T = TypeVar("T")
StatusState = Literal["pending", "success", "failure", "error"]
DeploymentState = Literal["error", "failure", "inactive", "in_progress", "queued", "pending", "success"]

MAX_COMMENT_CHARS = 65_536
MAX_DESCRIPTION_CHARS = 140
MAX_PULL_FILES = 3_000  # pulls/{n}/files silently stops listing here


class GitHubClient:
    """A thin, retrying client for the few GitHub REST calls evalgate makes; writes are sequential."""

    def __init__(
        self,
        token: str,
        *,
        api_url: str,
        repository: str,
        max_attempts: int = 5,
        sleep: Callable[[float], None] | None = None,
        user_agent: str = "ai-eval-gate",
        timeout: int = 30,
    ) -> None:
        owner, _, name = repository.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"repository must look like 'owner/name', got {repository!r}")
        if not api_url.startswith(("http://", "https://")):
            raise ValueError(f"api_url must be an http(s) URL such as $GITHUB_API_URL, got {api_url!r}")
        if not token:
            raise ValueError("a GitHub token is required (map `github-token: ${{ github.token }}`)")
        self.repository = repository
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._github = Github(
            auth=Auth.Token(token),
            base_url=api_url.rstrip("/"),
            timeout=timeout,
            user_agent=user_agent,
            per_page=100,
            retry=None,  # evalgate.retry is the one policy; urllib3 retries would hide waits from it
            # PyGithub's pacing calls time.sleep directly; we write a handful of times per run, one at a
            # time, and a secondary rate limit is answered with retry-after, which our policy honours.
            seconds_between_requests=None,
            seconds_between_writes=None,
            lazy=True,  # no GET for objects we only need the URL of
        )
        self._repo = self._github.get_repo(repository)

    def close(self) -> None:
        """Close the underlying HTTP connections."""
        self._github.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # commit statuses

    def set_status(
        self,
        sha: str,
        *,
        state: StatusState,
        context: str,
        description: str,
        target_url: str | None = None,
    ) -> None:
        """Post a commit status for ``sha`` (the PR head, not the merge commit); long descriptions are cut."""
        if state not in get_args(StatusState):
            raise ValueError(f"state must be one of {', '.join(get_args(StatusState))}, got {state!r}")
        commit = self._repo.get_commit(sha)
        text = _truncate(description, MAX_DESCRIPTION_CHARS)
        url = target_url or NotSet
        describe = f"set status {context!r}={state} on {sha[:12]}"
        self._write(
            describe,
            lambda: commit.create_status(state, target_url=url, description=text, context=context),
            STATUSES,
        )

    # the sticky comment

    def upsert_comment(self, number: int, body: str, *, marker: str, author: str | None = None) -> str:
        """Edit our comment on PR ``number`` in place, or create it when there is none; returns its URL.

        Ours is a comment whose body starts with ``marker`` (``body`` gets it prepended when missing); a
        comment quoting the marker further down does not count. If several start with it (two runs racing),
        the oldest is edited and the others are left alone, so later runs keep converging on one. ``author``
        (e.g. ``github-actions[bot]``) also requires that login. An identical body is not re-written. Every
        attempt re-lists first, so retrying a create whose response was lost edits it, never duplicates it.
        """
        marker = marker.strip()
        if not marker or "\n" in marker:
            raise ValueError(f"marker must be one non-empty line such as '<!-- evalgate -->', got {marker!r}")
        if not body.startswith(marker):
            body = f"{marker}\n{body}"
        if len(body) > MAX_COMMENT_CHARS:
            raise ValueError(
                f"comment body is {len(body)} characters; GitHub allows {MAX_COMMENT_CHARS} "
                "(truncate it before posting)"
            )
        issue = self._repo.get_issue(number)
        describe = f"upsert comment on #{number}"

        def attempt() -> str:
            comments = self._guard(f"list comments on #{number}", lambda: list(issue.get_comments()))
            ours = next((c for c in comments if _is_ours(c, marker, author)), None)
            if ours is None:
                made = self._guard(
                    f"create comment on #{number}", lambda: issue.create_comment(body), needs=PULL_REQUESTS
                )
                return made.html_url
            if ours.body != body:
                self._guard(f"edit comment {ours.id}", lambda: ours.edit(body), needs=PULL_REQUESTS)
            return ours.html_url

        return call_with_retries(
            attempt, max_attempts=self._max_attempts, describe=describe, sleep=self._sleep
        )

    # reads

    def pull_files(self, number: int) -> list[ChangedFile]:
        """Every file PR ``number`` changes; fails closed when GitHub cannot list them all (> 3,000)."""
        pull = self._repo.get_pull(number)
        changed = self._read(f"get pull request #{number}", lambda: pull.changed_files)
        if changed > MAX_PULL_FILES:
            raise _too_many(number, changed)
        files = self._read(f"list files of #{number}", lambda: list(pull.get_files()))
        # Exactly 3,000 listed is complete only if GitHub counted exactly 3,000.
        if len(files) > MAX_PULL_FILES or (len(files) == MAX_PULL_FILES and changed != MAX_PULL_FILES):
            raise _too_many(number, max(changed, len(files)))
        return [ChangedFile(f.filename, f.status, f.previous_filename or None) for f in files]

    def file_at(self, path: str, ref: str) -> str | None:
        """The UTF-8 text of ``path`` at ``ref`` via the contents API; ``None`` when it is not there."""
        path = path.strip("/")
        describe = f"read {path}@{ref[:12]}"

        def fetch() -> ContentFile | list[ContentFile] | None:
            try:
                return self._guard(describe, lambda: self._repo.get_contents(path, ref=ref))
            except GitHubError as exc:
                if exc.status == 404:
                    return None
                raise

        found = call_with_retries(
            fetch, max_attempts=self._max_attempts, describe=describe, sleep=self._sleep
        )
        if found is None:
            return None
        if isinstance(found, list) or found.type != "file":
            kind = "directory" if isinstance(found, list) else found.type
            raise GitHubError(f"{describe}: is a {kind}, not a file", status=200)
        if found.encoding != "base64":
            # Files over 1 MB come back with encoding "none" and no content.
            raise GitHubError(f"{describe}: too large for the contents API ({found.size} bytes)", status=200)
        try:
            return found.decoded_content.decode("utf-8")
        except UnicodeDecodeError:
            raise GitHubError(f"{describe}: not UTF-8 text", status=200) from None

    def token_login(self) -> str | None:
        """The login the token acts as (``GET /user``); ``None`` when it may not ask (``GITHUB_TOKEN``)."""
        try:
            return self._read("get the token's user", lambda: self._github.get_user().login)
        except GitHubError as exc:
            if exc.status in (401, 403, 404):
                return None  # an installation token has no user: GitHub answers 403 here
            raise

    def pull(self, number: int) -> PullInfo:
        """PR ``number`` as GitHub sees it now: head and base SHAs, state, repositories and labels."""
        pull = self._repo.get_pull(number)

        def fetch() -> PullInfo:
            head_repo = pull.head.repo.full_name if pull.head.repo is not None else None
            base_repo = pull.base.repo.full_name if pull.base.repo is not None else None
            return PullInfo(
                number=number,
                head_sha=pull.head.sha,
                base_sha=pull.base.sha,
                state=pull.state,
                head_repo=head_repo,
                base_repo=base_repo,
                labels=tuple(label.name for label in pull.labels),
            )

        return self._read(f"get pull request #{number}", fetch)

    def pulls_for_commit(self, sha: str) -> list[int]:
        """Numbers of the pull requests whose history holds ``sha`` (``GET /commits/{sha}/pulls``)."""
        describe = f"list pull requests of {sha[:12]}"
        url = f"/repos/{self.repository}/commits/{sha}/pulls"

        def fetch() -> list[int]:
            # read as plain JSON, so that an answer of the wrong shape is an error we retry and report,
            # never a crash inside the client library
            _, data = self._github.requester.requestJsonAndCheck("GET", url, parameters={"per_page": 100})
            if not isinstance(data, list):
                shape = sorted(data)[:5] if isinstance(data, dict) else type(data).__name__
                raise GitHubError(f"{describe}: expected a list, got {shape}", status=200, retryable=True)
            return [p["number"] for p in data if isinstance(p, dict) and isinstance(p.get("number"), int)]

        return self._read(describe, fetch)

    def issue_events(self, number: int) -> list[tuple[str, str | None, datetime.datetime]]:
        """``(event, label name, when)`` for every event of issue/PR ``number`` (labeled, force pushes...)."""
        issue = self._repo.get_issue(number)

        def fetch() -> list[tuple[str, str | None, datetime.datetime]]:
            return [
                (e.event, e.label.name if e.label is not None else None, e.created_at)
                for e in issue.get_events()
            ]

        return self._read(f"list events of #{number}", fetch)

    def first_run_at(self, sha: str) -> datetime.datetime | None:
        """When the first workflow run for commit ``sha`` was created: just after it was pushed."""

        def fetch() -> datetime.datetime | None:
            return min((run.created_at for run in self._repo.get_workflow_runs(head_sha=sha)), default=None)

        return self._read(f"list workflow runs of {sha[:12]}", fetch)

    def reviews(self, number: int) -> list[Review]:
        """Every review of PR ``number``, oldest first."""
        pull = self._repo.get_pull(number)

        def fetch() -> list[Review]:
            return [
                Review(r.user.login if r.user is not None else "", r.state, r.commit_id)
                for r in pull.get_reviews()
            ]

        return self._read(f"list reviews of #{number}", fetch)

    def code_checks(self, sha: str, *, skip_context: str, skip_url: str | None) -> list[CodeCheck]:
        """The head commit's other checks: its check runs and combined statuses, without our own.

        ``skip_context`` is our status prefix (``ai-eval-gate/``); ``skip_url`` the current workflow run,
        whose jobs (this one included, still running) are not "other" checks.
        """
        commit = self._repo.get_commit(sha)

        def fetch() -> list[CodeCheck]:
            found = []
            for run in commit.get_check_runs():
                url = run.details_url or run.html_url or ""
                if skip_url and url.startswith(skip_url.rstrip("/") + "/"):
                    continue
                found.append(CodeCheck(run.name, _check_state(run.status, run.conclusion)))
            for status in commit.get_combined_status().statuses:
                if status.context.startswith(skip_context):
                    continue
                state = {"success": "success", "pending": "pending"}.get(status.state, "failure")
                found.append(CodeCheck(status.context, state))  # type: ignore[arg-type]
            return found

        return self._read(f"list the checks of {sha[:12]}", fetch)

    def put_file(self, path: str, text: str, *, message: str, branch: str, sha: str | None = None) -> str:
        """Commit ``text`` to ``path`` on ``branch`` via the contents API; returns the commit sha.

        ``sha`` is the blob sha being replaced (``None`` creates the file). A stale ``sha`` fails with
        status 409 (422 when it is missing for an existing file); callers re-read and decide.
        """
        path = path.strip("/")
        describe = f"commit {path} to {branch}"
        if sha is None:
            made = self._write(
                describe, lambda: self._repo.create_file(path, message, text, branch=branch), CONTENTS
            )
        else:
            made = self._write(
                describe, lambda: self._repo.update_file(path, message, text, sha, branch=branch), CONTENTS
            )
        return made["commit"].sha

    # deployments (for canaries)

    def create_deployment(
        self, ref: str, *, environment: str, description: str = "", production: bool = False
    ) -> int:
        """Create a deployment of ``ref`` to ``environment`` without auto-merge or required checks; its id."""
        describe = f"create deployment of {ref[:12]} to {environment}"
        deployment = self._write(
            describe,
            lambda: self._repo.create_deployment(
                ref,
                environment=environment,
                description=_truncate(description, MAX_DESCRIPTION_CHARS),
                auto_merge=False,  # otherwise GitHub merges the default branch into ref first
                required_contexts=[],  # our own pending status must not block the canary's deployment
                production_environment=production,
            ),
            DEPLOYMENTS,
        )
        return deployment.id

    def deployment_status(
        self,
        deployment_id: int,
        *,
        state: DeploymentState,
        description: str = "",
        log_url: str | None = None,
        environment_url: str | None = None,
    ) -> None:
        """Post a status (state, description, log link) on deployment ``deployment_id``."""
        if state not in get_args(DeploymentState):
            raise ValueError(f"state must be one of {', '.join(get_args(DeploymentState))}, got {state!r}")
        deployment = self._repo.get_deployment(deployment_id)
        # PyGithub only sends target_url, which GitHub keeps as the alias of log_url.
        log, env_url = log_url or NotSet, environment_url or NotSet
        text = _truncate(description, MAX_DESCRIPTION_CHARS)
        self._write(
            f"set deployment {deployment_id} status {state}",
            lambda: deployment.create_status(
                state, target_url=log, description=text, environment_url=env_url
            ),
            DEPLOYMENTS,
        )

    # plumbing

    def _read(self, describe: str, fn: Callable[[], T]) -> T:
        return call_with_retries(
            lambda: self._guard(describe, fn),
            max_attempts=self._max_attempts,
            describe=describe,
            sleep=self._sleep,
        )

    def _write(self, describe: str, fn: Callable[[], T], needs: str) -> T:
        return call_with_retries(
            lambda: self._guard(describe, fn, needs=needs),
            max_attempts=self._max_attempts,
            describe=describe,
            sleep=self._sleep,
        )

    @staticmethod
    def _guard(describe: str, fn: Callable[[], T], *, needs: str | None = None) -> T:
        """Run one PyGithub call, turning its failures into our errors (no retrying here)."""
        try:
            return fn()
        except GithubException as exc:
            raise github_error(exc.status, exc.headers, exc.data, describe, needs=needs) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise GitHubError(f"{describe}: no response from GitHub: {exc}", retryable=True) from None


def _check_state(status: str, conclusion: str | None) -> Literal["success", "failure", "pending", "neutral"]:
    if status != "completed":
        return "pending"
    if conclusion in ("success",):
        return "success"
    if conclusion in ("neutral", "skipped"):
        return "neutral"
    return "failure"  # failure, cancelled, timed_out, action_required, stale


def _is_ours(comment: IssueComment, marker: str, author: str | None) -> bool:
    login = comment.user.login if comment.user is not None else None
    return (comment.body or "").startswith(marker) and author in (None, login)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _too_many(number: int, count: int) -> GitHubError:
    return GitHubError(
        f"pull request #{number} changes {count} files; GitHub lists at most {MAX_PULL_FILES}, so the "
        "path policy cannot see them all and fails closed (split the pull request)",
        status=200,
    )
