"""The GitHub calls of the drift watch and the model-upgrade flow: issues, Actions artifacts, branches and
new pull requests. Same retry policy and error translation as ``GitHubClient``, which it extends.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from github.GithubObject import NotSet

from evalgate.errors import GitHubError, UsageError
from evalgate.github import GitHubClient
from evalgate.githuberrors import CONTENTS, ISSUES, PULL_REQUESTS
from evalgate.retry import call_with_retries

MAX_ARTIFACT_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class IssueRef:
    """An issue as the drift watch needs it."""

    number: int
    url: str
    body: str
    title: str


class WatchClient(GitHubClient):
    """``GitHubClient`` plus issues, artifacts, refs and pull-request creation."""

    def __init__(self, token: str, *, api_url: str, repository: str, **kw: Any) -> None:
        super().__init__(token, api_url=api_url, repository=repository, **kw)
        self._token = token
        self._timeout = int(kw.get("timeout", 30))

    # issues

    def find_issue(self, marker: str, author: str | None) -> IssueRef | None:
        """The oldest open issue whose body starts with ``marker`` (and, if given, by ``author``)."""
        return self._read("list open issues", lambda: self._find(marker, author))

    def _find(self, marker: str, author: str | None) -> IssueRef | None:
        # PyGithub accepts a login string for creator, though its annotation says NamedUser
        creator: Any = author or NotSet
        ours = [
            i
            for i in self._repo.get_issues(state="open", creator=creator)
            if i.pull_request is None
            and (i.body or "").startswith(marker)
            and author in (None, i.user.login if i.user is not None else None)
        ]
        if not ours:
            return None
        first = min(ours, key=lambda i: i.number)
        return IssueRef(first.number, first.html_url, first.body or "", first.title)

    def create_issue(
        self,
        title: str,
        body: str,
        *,
        marker: str,
        author: str | None,
        labels: Sequence[str] = (),
        assignees: Sequence[str] = (),
    ) -> tuple[IssueRef, bool]:
        """Open an issue whose body starts with ``marker``; (the issue, whether this call created it).

        Every attempt lists first, so retrying a create whose response was lost finds it instead of
        opening a second one.
        """

        def attempt() -> tuple[IssueRef, bool]:
            found = self._guard("list open issues", lambda: self._find(marker, author))
            if found is not None:
                return found, False
            made = self._guard(
                "create issue",
                lambda: self._repo.create_issue(
                    title=title, body=body, labels=list(labels), assignees=list(assignees)
                ),
                needs=ISSUES,
            )
            return IssueRef(made.number, made.html_url, made.body or "", made.title), True

        return call_with_retries(
            attempt, max_attempts=self._max_attempts, describe="create issue", sleep=self._sleep
        )

    def edit_issue(
        self, number: int, *, body: str | None = None, state: str | None = None, reason: str | None = None
    ) -> None:
        """Replace an issue's body and/or set its state (``closed`` with reason ``completed``)."""
        issue = self._repo.get_issue(number)
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs["body"] = body
        if state is not None:
            kwargs["state"] = state
        if reason is not None:
            kwargs["state_reason"] = reason
        self._write(f"edit issue #{number}", lambda: issue.edit(**kwargs), ISSUES)

    def comment(self, number: int, body: str) -> str:
        """Add a comment to issue ``number``; its URL."""
        issue = self._repo.get_issue(number)
        made = self._write(f"comment on #{number}", lambda: issue.create_comment(body), ISSUES)
        return str(made.html_url)

    # Actions artifacts

    def latest_artifact(self, name: str, branch: str) -> Mapping[str, Any] | None:
        """The newest unexpired artifact ``name`` uploaded by a run of this repository on ``branch``.

        A fork's pull-request run can upload an artifact of any name from a branch called ``main``; only
        runs whose head repository is this repository count.
        """
        repo_id = self._read("get repository", lambda: self._repo.id)
        found = self._read(
            "list artifacts", lambda: [a.raw_data for a in self._repo.get_artifacts(name=name)]
        )
        for artifact in sorted(found, key=lambda a: str(a.get("created_at")), reverse=True):
            run = artifact.get("workflow_run") or {}
            if artifact.get("name") != name or artifact.get("expired"):
                continue
            if run.get("head_branch") == branch and run.get("head_repository_id") in (None, repo_id):
                return artifact
        return None

    def download_artifact(self, artifact: Mapping[str, Any]) -> dict[str, bytes]:
        """The files of an artifact (its zip, unpacked in memory): path -> bytes."""
        url = str(artifact["archive_download_url"])
        describe = f"download artifact {artifact.get('name')} ({artifact.get('id')})"

        def fetch() -> bytes:
            try:
                # requests drops the Authorization header when the redirect leaves the API host
                response = requests.get(
                    url,
                    headers={
                        "Authorization": f"Bearer {self._token}",
                        "Accept": "application/vnd.github+json",
                    },
                    timeout=self._timeout,
                    allow_redirects=True,
                )
            except requests.RequestException as exc:
                raise GitHubError(f"{describe}: no response: {exc}", retryable=True) from None
            if response.status_code != 200:
                retry = response.status_code >= 500 or response.status_code == 429
                raise GitHubError(
                    f"{describe}: HTTP {response.status_code}", status=response.status_code, retryable=retry
                )
            return response.content

        data = call_with_retries(fetch, max_attempts=self._max_attempts, describe=describe, sleep=self._sleep)
        if len(data) > MAX_ARTIFACT_BYTES:
            raise GitHubError(f"{describe}: {len(data)} bytes is larger than a report should be", status=200)
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}
        except zipfile.BadZipFile:
            raise GitHubError(f"{describe}: not a zip archive", status=200) from None

    # branches and pull requests

    def default_branch(self) -> str:
        """The repository's default branch."""
        return str(self._read("get repository", lambda: self._repo.default_branch))

    def branch_sha(self, branch: str) -> str | None:
        """The commit ``branch`` points at, or ``None`` when there is no such branch."""
        try:
            # the client is lazy: reading .object is what sends the request
            sha = self._read(
                f"read branch {branch}", lambda: self._repo.get_git_ref(f"heads/{branch}").object.sha
            )
        except GitHubError as exc:
            if exc.status == 404:
                return None
            raise
        return str(sha)

    def create_branch(self, branch: str, sha: str) -> None:
        """Create ``branch`` at ``sha``."""
        ref = f"refs/heads/{branch}"
        self._write(f"create branch {branch}", lambda: self._repo.create_git_ref(ref, sha), CONTENTS)

    def blob_sha(self, path: str, ref: str) -> str | None:
        """The blob sha of ``path`` at ``ref`` (what the contents API needs to replace it)."""

        def read() -> str | None:
            found = self._repo.get_contents(path, ref=ref)
            return None if isinstance(found, list) else str(found.sha)

        try:
            return self._read(f"read {path}@{ref}", read)
        except GitHubError as exc:
            if exc.status == 404:
                return None
            raise

    def write_file(self, path: str, text: str, *, message: str, branch: str) -> None:
        """Create ``path`` on ``branch`` or replace it (the contents API needs the current blob's sha)."""
        self.put_file(path, text, message=message, branch=branch, sha=self.blob_sha(path, branch))

    def open_pull(self, head: str) -> str | None:
        """The URL of an open pull request from branch ``head``, if there is one."""
        owner = self.repository.split("/")[0]
        pulls = self._read(
            f"list pull requests from {head}",
            lambda: list(self._repo.get_pulls(state="open", head=f"{owner}:{head}")),
        )
        return str(pulls[0].html_url) if pulls else None

    def create_pull(self, *, title: str, body: str, head: str, base: str) -> str:
        """Open a pull request from ``head`` into ``base``; its URL."""
        made = self._write(
            f"open pull request {head} → {base}",
            lambda: self._repo.create_pull(base=base, head=head, title=title, body=body),
            PULL_REQUESTS,
        )
        return str(made.html_url)


def client_from_env(env: Mapping[str, str] | None = None, *, token_env: str = "GITHUB_TOKEN") -> WatchClient:
    """A client for the repository of the current workflow run (``GITHUB_REPOSITORY``, ``GITHUB_API_URL``)."""
    env = os.environ if env is None else env
    token, repo = env.get(token_env), env.get("GITHUB_REPOSITORY")
    if not token or not repo:
        raise UsageError(
            f"the GitHub part needs {token_env} and GITHUB_REPOSITORY in the environment",
            fix=f"in a workflow set env {token_env}: ${{{{ github.token }}}} (permissions: see the README)",
        )
    api = env.get("GITHUB_API_URL") or "https://api.github.com"
    return WatchClient(token, api_url=api, repository=repo)
