"""The issues, Actions artifacts, git refs and pull-request creation routes of ``FakeGitHubServer``.

A mixin, so the drift watch and the model-upgrade flow are tested over real HTTP against the same fake
as the PR gate. Every method runs with the server's lock held, like the other routes.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

from evalgate.testing.github_http import BOT_LOGIN, GitHubHttp, Json, Reply, Route, now

REPO_ID = 1
FORK_REPO_ID = 2


class WatchRoutes(GitHubHttp):
    """State and routes for issues, artifacts, refs and new pull requests (mixed into the fake)."""

    # the other resources' state that these routes read
    _files: dict[tuple[str, str], str]
    _comments: dict[int, dict[str, Any]]
    _pulls: dict[int, dict[str, Any]]

    def _init_watch(self) -> None:
        self._issues: dict[int, dict[str, Any]] = {}
        self._artifacts: dict[int, dict[str, Any]] = {}
        self._blobs: dict[int, bytes] = {}
        self._refs: dict[str, str] = {}
        self._new_pulls: dict[int, dict[str, Any]] = {}
        self._numbers = iter(range(1, 10**6))

    # set-up and inspection (take the lock themselves)

    def add_branch(self, name: str, sha: str, files: Mapping[str, str] | None = None) -> None:
        """Make branch ``name`` point at ``sha``, holding ``files`` (path -> text) for the contents API."""
        with self._lock:
            self._refs[name] = sha
            for path, text in (files or {}).items():
                self._files[(name, path.strip("/"))] = text
                self._files[(sha, path.strip("/"))] = text

    def add_issue(self, title: str, body: str, *, user: str = "someone", state: str = "open") -> int:
        """Open an issue as ``user``; returns its number."""
        with self._lock:
            return int(self._new_issue(title, body, user, [], [], state)["number"])

    def add_artifact(
        self,
        name: str,
        files: Mapping[str, str],
        *,
        branch: str = "main",
        expired: bool = False,
        fork: bool = False,
        created_at: str | None = None,
        head_sha: str | None = None,
    ) -> int:
        """Store an Actions artifact (a zip of ``files``) as uploaded by a run on ``branch``; its id."""
        data = io.BytesIO()
        with zipfile.ZipFile(data, "w") as archive:
            for path, text in files.items():
                archive.writestr(path, text)
        with self._lock:
            artifact_id: int = next(self._ids)
            run_id: int = next(self._ids)
            head_repo = FORK_REPO_ID if fork else REPO_ID
            self._artifacts[artifact_id] = {
                "id": artifact_id,
                "node_id": f"MDg6QXJ0aWZhY3Q{artifact_id}",
                "name": name,
                "size_in_bytes": len(data.getvalue()),
                "url": f"{self._api}/actions/artifacts/{artifact_id}",
                "archive_download_url": f"{self._api}/actions/artifacts/{artifact_id}/zip",
                "expired": expired,
                "created_at": created_at or now(),
                "updated_at": created_at or now(),
                "expires_at": "2099-01-01T00:00:00Z",
                "workflow_run": {
                    "id": run_id,
                    "repository_id": REPO_ID,
                    "head_repository_id": head_repo,
                    "head_branch": branch,
                    "head_sha": head_sha or hashlib.sha1(str(run_id).encode()).hexdigest(),
                },
            }
            self._blobs[artifact_id] = data.getvalue()
            return artifact_id

    def issues(self) -> list[dict[str, Any]]:
        """Every issue, oldest first, each with its ``comments`` (bodies)."""
        with self._lock:
            out = []
            for issue in self._issues.values():
                bodies = [c["body"] for c in self._comments.values() if c["_issue"] == issue["number"]]
                out.append(dict(issue, comments=bodies))
            return out

    def created_pulls(self) -> list[dict[str, Any]]:
        """Pull requests opened through the API, oldest first."""
        with self._lock:
            return [dict(p) for p in self._new_pulls.values()]

    def branch_files(self, branch: str) -> dict[str, str]:
        """Path -> text of every file the contents API holds on ``branch``."""
        with self._lock:
            return {path: text for (ref, path), text in self._files.items() if ref == branch}

    # routes

    def _watch_routes(self) -> list[Route]:
        return [
            ("GET", r"/issues", self._list_issues),
            ("POST", r"/issues", self._create_issue),
            ("GET", r"/issues/(\d+)", self._get_issue),
            ("PATCH", r"/issues/(\d+)", self._edit_issue),
            ("GET", r"/actions/artifacts", self._list_artifacts),
            ("GET", r"/actions/artifacts/(\d+)/zip", self._artifact_zip),
            ("GET", r"/_blobs/(\d+)", self._artifact_blob),
            ("GET", r"/git/ref/heads/(.+)", self._get_ref),
            ("GET", r"/git/refs/heads/(.+)", self._get_ref),
            ("POST", r"/git/refs", self._create_ref),
            ("GET", r"/pulls", self._list_new_pulls),
            ("POST", r"/pulls", self._create_pull),
        ]

    def _list_issues(self, query: dict[str, str], body: Json) -> Reply:
        state, creator = query.get("state", "open"), query.get("creator")
        found = [
            self._issue_json(i)
            for i in reversed(list(self._issues.values()))  # newest first, as GitHub sorts by default
            if state in ("all", i["state"]) and creator in (None, i["user"]["login"])
        ]
        return self._page("/issues", found, query)

    def _create_issue(self, query: dict[str, str], body: Json) -> Reply:
        body = body if isinstance(body, dict) else {}
        if not isinstance(body.get("title"), str) or not body["title"]:
            return self._invalid("Issue", "title", "title is missing")
        problem = self._check_body(body)
        if problem is not None:
            return problem
        labels, assignees = body.get("labels") or [], body.get("assignees") or []
        issue = self._new_issue(body["title"], body["body"], BOT_LOGIN, labels, assignees, "open")
        return 201, self._issue_json(issue), {}

    def _get_issue(self, query: dict[str, str], body: Json, number: str) -> Reply:
        issue = self._issues.get(int(number))
        return (200, self._issue_json(issue), {}) if issue else self._error(404, "Not Found")

    def _edit_issue(self, query: dict[str, str], body: Json, number: str) -> Reply:
        issue = self._issues.get(int(number))
        if issue is None:
            return self._error(404, "Not Found")
        body = body if isinstance(body, dict) else {}
        if "body" in body:
            problem = self._check_body(body)
            if problem is not None:
                return problem
            issue["body"] = body["body"]
        if "state" in body:
            if body["state"] not in ("open", "closed"):
                return self._invalid("Issue", "state", "state is not included in the list")
            issue["state"] = body["state"]
            issue["state_reason"] = body.get("state_reason") or (
                "completed" if body["state"] == "closed" else None
            )
            issue["closed_at"] = now() if body["state"] == "closed" else None
        if "labels" in body:
            issue["labels"] = [self._label(n) for n in body["labels"]]
        issue["updated_at"] = now()
        return 200, self._issue_json(issue), {}

    def _list_artifacts(self, query: dict[str, str], body: Json) -> Reply:
        name = query.get("name")
        found = [a for a in reversed(list(self._artifacts.values())) if name in (None, a["name"])]
        status, page, headers = self._page("/actions/artifacts", found, query)
        return status, {"total_count": len(found), "artifacts": page}, headers

    def _artifact_zip(self, query: dict[str, str], body: Json, artifact_id: str) -> Reply:
        artifact = self._artifacts.get(int(artifact_id))
        if artifact is None:
            return self._error(404, "Not Found")
        if artifact["expired"]:
            return self._error(410, "Artifact has expired")
        # GitHub answers with a short-lived redirect to blob storage
        return 302, None, {"Location": f"{self._api}/_blobs/{artifact_id}"}

    def _artifact_blob(self, query: dict[str, str], body: Json, artifact_id: str) -> Reply:
        blob = self._blobs.get(int(artifact_id))
        return (200, blob, {"Content-Type": "application/zip"}) if blob else self._error(404, "Not Found")

    def _get_ref(self, query: dict[str, str], body: Json, branch: str) -> Reply:
        sha = self._refs.get(branch)
        if sha is None:
            return self._error(404, "Not Found")
        return 200, self._ref_json(branch, sha), {}

    def _create_ref(self, query: dict[str, str], body: Json) -> Reply:
        body = body if isinstance(body, dict) else {}
        ref, sha = body.get("ref"), body.get("sha")
        if not isinstance(ref, str) or not ref.startswith("refs/heads/") or not isinstance(sha, str):
            return self._invalid("Reference", "ref", "ref must start with refs/heads/ and sha is required")
        branch = ref.removeprefix("refs/heads/")
        if branch in self._refs:
            return self._error(422, "Reference already exists")
        source = next((b for b, s in self._refs.items() if s == sha), sha)
        for (r, path), text in list(self._files.items()):
            if r == source:
                self._files[(branch, path)] = text
        self._refs[branch] = sha
        return 201, self._ref_json(branch, sha), {}

    def _list_new_pulls(self, query: dict[str, str], body: Json) -> Reply:
        head, state = query.get("head"), query.get("state", "open")
        owner = self.repository.split("/")[0]
        found = [
            p
            for p in reversed(list(self._new_pulls.values()))
            if state in ("all", p["state"]) and head in (None, f"{owner}:{p['head']['ref']}")
        ]
        return self._page("/pulls", found, query)

    def _create_pull(self, query: dict[str, str], body: Json) -> Reply:
        body = body if isinstance(body, dict) else {}
        head, base, title = body.get("head"), body.get("base"), body.get("title")
        if not all(isinstance(v, str) and v for v in (head, base, title)):
            return self._invalid("PullRequest", "head", "head, base and title are required")
        if not isinstance(head, str) or not isinstance(base, str):  # pragma: no cover - checked above
            return self._invalid("PullRequest", "head", "head and base must be strings")
        if head not in self._refs or base not in self._refs:
            return self._invalid("PullRequest", "head", f"head {head} or base {base} is not a branch")
        problem = self._check_body({"body": body.get("body") or ""})
        if problem is not None:
            return problem
        if any(p["head"]["ref"] == head and p["state"] == "open" for p in self._new_pulls.values()):
            return self._invalid("PullRequest", "head", f"A pull request already exists for {head}.")
        number = self._next_number()
        pull = {
            "id": 700000 + number,
            "node_id": f"PR_new{number}",
            "number": number,
            "state": "open",
            "title": title,
            "body": body.get("body") or "",
            "draft": bool(body.get("draft")),
            "url": f"{self._api}/pulls/{number}",
            "html_url": f"{self.url}/{self.repository}/pull/{number}",
            "user": self._user(BOT_LOGIN),
            "head": {
                "ref": head,
                "sha": self._refs[head],
                "label": f"{self.repository.split('/')[0]}:{head}",
            },
            "base": {"ref": base, "sha": self._refs[base]},
            "created_at": now(),
        }
        self._new_pulls[number] = pull
        return 201, pull, {}

    # helpers

    def _next_number(self) -> int:
        taken = set(self._issues) | set(self._new_pulls) | set(self._pulls)
        number = next(self._numbers)
        while number in taken:
            number = next(self._numbers)
        return number

    def _new_issue(
        self, title: str, body: str, login: str, labels: Sequence[str], assignees: Sequence[str], state: str
    ) -> dict[str, Any]:
        number = self._next_number()
        issue = {
            "id": 800000 + number,
            "node_id": f"I_fake{number}",
            "number": number,
            "title": title,
            "body": body,
            "state": state,
            "state_reason": None,
            "locked": False,
            "labels": [self._label(n) for n in labels],
            "assignees": [self._user(a) for a in assignees],
            "user": self._user(login),
            "url": f"{self._api}/issues/{number}",
            "html_url": f"{self.url}/{self.repository}/issues/{number}",
            "comments_url": f"{self._api}/issues/{number}/comments",
            "created_at": now(),
            "updated_at": now(),
            "closed_at": None,
        }
        self._issues[number] = issue
        return issue

    def _issue_json(self, issue: Mapping[str, Any]) -> dict[str, Any]:
        count = sum(1 for c in self._comments.values() if c["_issue"] == issue["number"])
        return dict(issue, comments=count)

    def _label(self, name: str) -> dict[str, Any]:
        return {"id": abs(hash(name)) % 10**8, "name": name, "color": "d73a4a", "default": False}

    def _ref_json(self, branch: str, sha: str) -> dict[str, Any]:
        obj = {"sha": sha, "type": "commit", "url": f"{self._api}/git/commits/{sha}"}
        return {
            "ref": f"refs/heads/{branch}",
            "node_id": f"REF_{branch}",
            "url": f"{self._api}/git/refs/heads/{branch}",
            "object": obj,
        }
