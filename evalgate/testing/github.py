"""``FakeGitHubServer``: a loopback server speaking the slice of GitHub's REST API that evalgate uses.

Real HTTP with GitHub's JSON shapes, error bodies and ``Link`` pagination, so PyGithub, ``requests`` or
``curl`` can talk to it. Tests set state and inspect writes through Python methods, and inject faults.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from evalgate.changes import ChangedFile
from evalgate.testing.github_watch import WatchRoutes
from evalgate.testing.loopback import JsonHandler, Lifecycle, QuietServer, Serving, running

BOT_LOGIN = "github-actions[bot]"
FORK_TOKEN_MESSAGE = "Resource not accessible by integration"
SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
MAX_PULL_FILES = 3000  # GitHub's pulls/{n}/files stops listing here
_DOCS = "https://docs.github.com/rest"
_DEFAULT_MESSAGES = {401: "Bad credentials", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests"}
_STATUS_STATES = {"pending", "success", "failure", "error"}
_DEPLOY_STATES = {"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}

Json = Any
Reply = tuple[int, Json, dict[str, str]]


@dataclass(frozen=True)
class GitHubRequest:
    """One request as the server saw it; header names are lower-case, ``json`` is the parsed body."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Json


@dataclass(frozen=True)
class GitHubFault:
    """An error answer for the next matching request; ``committed`` applies the request first."""

    method: str | None = None
    path_contains: str | None = None
    status: int = 502
    headers: Mapping[str, str] = field(default_factory=dict)
    message: str | None = None
    committed: bool = False

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to ``method path``."""
        return (self.method is None or self.method.upper() == method) and (
            self.path_contains is None or self.path_contains in path
        )


class _Server(QuietServer):
    fake: FakeGitHubServer


class _Handler(JsonHandler):
    server: _Server

    def _any(self) -> None:
        body = self.read_json()
        status, payload, headers = self.server.fake._handle(self.command, self.path, self.headers, body)
        if isinstance(payload, bytes):  # an artifact zip
            data, kind = payload, headers.pop("Content-Type", "application/octet-stream")
        else:
            data = b"" if payload is None else json.dumps(payload).encode("utf-8")
            kind = "application/json; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _any


class FakeGitHubServer(WatchRoutes, Lifecycle):
    """A loopback GitHub REST API for one repository, with fault injection; use as a context manager."""

    def __init__(
        self,
        repository: str = "octo/repo",
        *,
        token: str = "test-token",
        read_only: bool = False,
        token_login: str | None = None,
    ) -> None:
        self.repository = repository
        self.token = token
        self.read_only = read_only  # answer every write like a fork's read-only GITHUB_TOKEN does
        # None: the token is an installation token (GITHUB_TOKEN): GET /user is refused and what it writes
        # is by github-actions[bot]; a login: a personal or app-user token acting as that user
        self.token_login = token_login
        self._lock = threading.Lock()
        self._ids = itertools.count(1001)
        self._requests: list[GitHubRequest] = []
        self._faults: deque[GitHubFault] = deque()
        self._pulls: dict[int, dict[str, Any]] = {}
        self._comments: dict[int, dict[str, Any]] = {}  # by id, in creation order
        self._statuses: dict[str, list[dict[str, Any]]] = {}
        self._files: dict[tuple[str, str], str] = {}
        self._deployments: dict[int, dict[str, Any]] = {}
        self._reviews: dict[int, list[dict[str, Any]]] = {}
        self._events: dict[int, list[dict[str, Any]]] = {}
        self._runs: list[dict[str, Any]] = []
        self._check_runs: dict[str, list[dict[str, Any]]] = {}
        self._serving: Serving | None = None
        self._init_watch()  # issues, artifacts, refs, new pull requests

    # lifecycle

    def start(self) -> Self:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._serving = Serving(server, "FakeGitHubServer")
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._serving is not None:
            self._serving.stop()
        self._serving = None

    @property
    def url(self) -> str:
        """The API base URL (what ``GITHUB_API_URL`` would hold)."""
        return running(self._serving, "FakeGitHubServer").url

    # state set-up

    def add_pull(
        self,
        number: int,
        head_sha: str,
        base_sha: str,
        files: Sequence[ChangedFile | str] = (),
        *,
        head_repo: str | None = None,
        labels: Sequence[str] = (),
        commits: Sequence[str] = (),
    ) -> None:
        """Open pull request ``number``; a plain string in ``files`` is a modified file.

        ``head_repo`` is the fork it comes from (default: this repository); ``commits`` are further SHAs
        in its history, which ``GET /commits/{sha}/pulls`` also maps to it (the head always is).
        """
        changed = [f if isinstance(f, ChangedFile) else ChangedFile(f, "modified") for f in files]
        with self._lock:
            self._pulls[number] = {
                "head": head_sha,
                "base": base_sha,
                "files": changed,
                "head_repo": head_repo or self.repository,
                "labels": list(labels),
                "commits": {head_sha, *commits},
            }

    def set_head(self, number: int, head_sha: str) -> None:
        """Move PR ``number``'s head, as a push to its branch does."""
        with self._lock:
            pull = self._pulls[number]
            pull["head"] = head_sha
            pull["commits"].add(head_sha)

    def add_labels(self, number: int, *names: str, at: str | None = None) -> None:
        """Put labels on PR ``number``, each with a ``labeled`` issue event at ``at`` (default now)."""
        with self._lock:
            for name in names:
                if name not in self._pulls[number]["labels"]:
                    self._pulls[number]["labels"].append(name)
                self._new_event(number, "labeled", at, name)

    def add_event(self, number: int, event: str, *, at: str | None = None) -> None:
        """Record an issue event on PR ``number``, e.g. ``head_ref_force_pushed``, at ``at`` (default now)."""
        with self._lock:
            self._new_event(number, event, at, None)

    def add_run(self, head_sha: str, *, at: str | None = None, event: str = "pull_request") -> int:
        """Record a workflow run for ``head_sha`` created at ``at`` (default now); its id."""
        with self._lock:
            run_id: int = next(self._ids)
            run = {"id": run_id, "head_sha": head_sha, "event": event, "status": "completed"}
            run |= {"created_at": at or _now(), "updated_at": at or _now(), "name": "eval-gate PR stage"}
            self._runs.append(run | {"url": f"{self._api}/actions/runs/{run_id}"})
            return run_id

    def _new_event(self, number: int, event: str, at: str | None, label: str | None) -> None:
        event_id = next(self._ids)
        entry: dict[str, Any] = {"id": event_id, "node_id": f"E_fake{event_id}", "event": event}
        entry |= {"actor": self._user("maintainer"), "created_at": at or _now(), "commit_id": None}
        entry["label"] = {"name": label, "color": "ededed"} if label is not None else None
        self._events.setdefault(number, []).append(entry | {"url": f"{self._api}/issues/events/{event_id}"})

    def add_review(self, number: int, login: str, state: str, commit_id: str) -> None:
        """Submit a review (``APPROVED``, ``CHANGES_REQUESTED``, ``COMMENTED``, ``DISMISSED``) on a commit."""
        with self._lock:
            review_id = next(self._ids)
            review = {"id": review_id, "node_id": f"PRR_fake{review_id}", "user": self._user(login)}
            review |= {"state": state, "commit_id": commit_id, "body": "", "submitted_at": _now()}
            review |= {
                "html_url": f"{self.url}/{self.repository}/pull/{number}#pullrequestreview-{review_id}"
            }
            self._reviews.setdefault(number, []).append(review)

    def add_comments(self, number: int, bodies: Iterable[str], *, user: str = "someone") -> list[int]:
        """Post comments on issue/PR ``number`` as ``user`` (a bot when the login ends in ``[bot]``)."""
        with self._lock:
            return [self._new_comment(number, body, user)["id"] for body in bodies]

    def set_file(self, ref: str, path: str, text: str) -> None:
        """Make ``path`` hold ``text`` at ``ref`` (a sha or branch name) for the contents API."""
        with self._lock:
            self._files[(ref, path.strip("/"))] = text

    # inspection

    def add_check_run(
        self,
        sha: str,
        name: str,
        *,
        status: str = "completed",
        conclusion: str | None = "success",
        details_url: str | None = None,
    ) -> None:
        """A check run on ``sha`` (another CI job), as ``GET /commits/{sha}/check-runs`` lists it."""
        with self._lock:
            run_id = next(self._ids)
            self._check_runs.setdefault(sha, []).append(
                {
                    "id": run_id,
                    "name": name,
                    "head_sha": sha,
                    "status": status,
                    "conclusion": conclusion if status == "completed" else None,
                    "details_url": details_url or f"https://ci.example/{run_id}",
                    "html_url": details_url or f"https://ci.example/{run_id}",
                    "url": f"{self._api}/check-runs/{run_id}",
                }
            )

    def comments(self, number: int) -> list[dict[str, Any]]:
        """The comments on issue/PR ``number``, oldest first, as the API would return them."""
        with self._lock:
            return [dict(c) for c in self._comments.values() if c["_issue"] == number]

    def statuses(self, sha: str) -> list[dict[str, Any]]:
        """The commit statuses posted for ``sha``, oldest first."""
        with self._lock:
            return [dict(s) for s in self._statuses.get(sha, [])]

    def deployments(self) -> list[dict[str, Any]]:
        """Every deployment created, oldest first, each with its ``statuses`` list."""
        with self._lock:
            return [dict(d, statuses=list(d["statuses"])) for d in self._deployments.values()]

    @property
    def requests(self) -> list[GitHubRequest]:
        """A snapshot of every request received so far."""
        with self._lock:
            return list(self._requests)

    def fail_next(
        self,
        method: str | None = None,
        path_contains: str | None = None,
        status: int = 502,
        *,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        message: str | None = None,
        committed: bool = False,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status``.

        ``committed=True`` performs the write before failing, like a gateway timing out after the backend
        committed: the case where a blind retry of a POST creates a duplicate.
        """
        fault = GitHubFault(method, path_contains, status, dict(headers or {}), message, committed)
        with self._lock:
            self._faults.extend([fault] * times)

    # request handling

    def _handle(self, method: str, target: str, raw_headers: Any, body: Json) -> Reply:
        parts = urlsplit(target)
        path, query = unquote(parts.path), dict(parse_qsl(parts.query))
        headers = {k.lower(): v for k, v in raw_headers.items()}
        with self._lock:
            self._requests.append(GitHubRequest(method, path, query, headers, body))
            if headers.get("authorization", "") not in (f"token {self.token}", f"Bearer {self.token}"):
                return self._error(401, "Bad credentials")
            fault = next((f for f in self._faults if f.matches(method, path)), None)
            if fault is not None:
                self._faults.remove(fault)
            if fault is not None and not fault.committed:
                return self._fault(fault)
            if self.read_only and method != "GET":
                return self._error(403, FORK_TOKEN_MESSAGE)
            reply = self._route(method, path, query, body)
            return self._fault(fault) if fault is not None else reply

    def _fault(self, fault: GitHubFault) -> Reply:
        default = SECONDARY_RATE_LIMIT_MESSAGE if fault.status == 403 and fault.headers else "Server Error"
        message = fault.message or _DEFAULT_MESSAGES.get(fault.status, default)
        status, payload, headers = self._error(fault.status, message)
        return status, payload, {**headers, **fault.headers}

    def _route(self, method: str, path: str, query: dict[str, str], body: Json) -> Reply:
        if method == "GET" and path == "/user":
            if self.token_login is None:
                return self._error(403, FORK_TOKEN_MESSAGE)  # what GitHub answers an installation token
            return 200, self._user(self.token_login), {}
        if method == "GET" and path == "/rate_limit":
            core = {"limit": 5000, "remaining": 4999, "reset": int(time.time()) + 3600, "used": 1}
            return 200, {"resources": {"core": core}, "rate": core}, {}
        prefix = f"/repos/{self.repository}"
        if path != prefix and not path.startswith(prefix + "/"):
            return self._error(404, "Not Found")
        rest = path[len(prefix) :]
        for verb, pattern, action in self._routes():
            match = re.fullmatch(pattern, rest)
            if match and verb == method:
                return action(query, body, *match.groups())
        return self._error(404, "Not Found")

    def _routes(self) -> list[tuple[str, str, Callable[..., Reply]]]:
        return [
            ("GET", r"", self._get_repo),
            ("GET", r"/pulls/(\d+)", self._get_pull),
            ("GET", r"/pulls/(\d+)/files", self._list_files),
            ("GET", r"/pulls/(\d+)/reviews", self._list_reviews),
            ("GET", r"/issues/(\d+)/events", self._list_events),
            ("GET", r"/actions/runs", self._list_runs),
            ("GET", r"/commits/([0-9A-Za-z]+)/pulls", self._commit_pulls),
            ("GET", r"/issues/(\d+)/comments", self._list_comments),
            ("POST", r"/issues/(\d+)/comments", self._create_comment),
            ("GET", r"/issues/comments/(\d+)", self._get_comment),
            ("PATCH", r"/issues/comments/(\d+)", self._edit_comment),
            ("POST", r"/statuses/([0-9A-Za-z]+)", self._create_status),
            ("GET", r"/commits/([^/]+)/statuses", self._list_statuses),
            ("GET", r"/commits/([^/]+)/status", self._combined_status),
            ("GET", r"/commits/([^/]+)/check-runs", self._list_check_runs),
            ("GET", r"/contents/?(.*)", self._get_contents),
            ("PUT", r"/contents/(.+)", self._put_contents),
            ("POST", r"/deployments", self._create_deployment),
            ("POST", r"/deployments/(\d+)/statuses", self._create_deployment_status),
            *self._watch_routes(),
        ]

    # routes (called with the lock held)

    def _get_repo(self, query: dict[str, str], body: Json) -> Reply:
        owner, name = self.repository.split("/", 1)
        repo = {"id": 1, "node_id": "R_fake", "name": name, "full_name": self.repository, "private": False}
        repo |= {"owner": self._user(owner, "Organization"), "default_branch": "main"}
        return 200, repo | {"url": self._api, "html_url": f"{self.url}/{self.repository}"}, {}

    def _get_pull(self, query: dict[str, str], body: Json, number: str) -> Reply:
        n = int(number)
        if n not in self._pulls:
            return self._error(404, "Not Found")
        return 200, self._pull_payload(n), {}

    def _pull_payload(self, n: int) -> dict[str, Any]:
        pull = self._pulls[n]
        head = {"sha": pull["head"], "ref": f"feature-{n}", "label": f"octo:feature-{n}"}
        head["repo"] = self._repo_payload(pull["head_repo"])
        base = {"sha": pull["base"], "ref": "main", "repo": self._repo_payload(self.repository)}
        payload = {"id": 500000 + n, "node_id": f"PR_fake{n}", "number": n, "state": "open", "title": "PR"}
        payload |= {"url": f"{self._api}/pulls/{n}", "html_url": f"{self.url}/{self.repository}/pull/{n}"}
        payload |= {"user": self._user("someone"), "head": head, "base": base}
        labels = [
            {"id": zlib.crc32(name.encode()), "name": name, "color": "ededed"} for name in pull["labels"]
        ]
        return payload | {"changed_files": len(pull["files"]), "commits": 1, "labels": labels}

    def _repo_payload(self, full_name: str) -> dict[str, Any]:
        owner, name = full_name.split("/", 1)
        repo = {"id": zlib.crc32(full_name.encode()), "name": name, "full_name": full_name}
        return repo | {"owner": self._user(owner, "User"), "private": False}

    def _list_reviews(self, query: dict[str, str], body: Json, number: str) -> Reply:
        if int(number) not in self._pulls:
            return self._error(404, "Not Found")
        return self._page(f"/pulls/{number}/reviews", list(self._reviews.get(int(number), [])), query)

    def _list_events(self, query: dict[str, str], body: Json, number: str) -> Reply:
        return self._page(f"/issues/{number}/events", list(self._events.get(int(number), [])), query)

    def _list_runs(self, query: dict[str, str], body: Json) -> Reply:
        runs = [r for r in self._runs if query.get("head_sha") in (None, r["head_sha"])]
        status, page, headers = self._page("/actions/runs", runs, query)
        return status, {"total_count": len(runs), "workflow_runs": page}, headers

    def _commit_pulls(self, query: dict[str, str], body: Json, sha: str) -> Reply:
        found = [self._pull_payload(n) for n, pull in sorted(self._pulls.items()) if sha in pull["commits"]]
        return self._page(f"/commits/{sha}/pulls", found, query)

    def _list_files(self, query: dict[str, str], body: Json, number: str) -> Reply:
        pull = self._pulls.get(int(number))
        if pull is None:
            return self._error(404, "Not Found")
        files = []
        for changed in pull["files"][:MAX_PULL_FILES]:
            entry = {"sha": "0" * 40, "filename": changed.filename, "status": changed.status, "changes": 1}
            entry |= {"additions": 1, "deletions": 0, "patch": "@@ -0,0 +1 @@\n+fake"}
            entry |= {"contents_url": f"{self._api}/contents/{changed.filename}", "blob_url": None}
            if changed.previous_filename is not None:
                entry["previous_filename"] = changed.previous_filename
            files.append(entry)
        return self._page(f"/pulls/{number}/files", files, query)

    def _list_comments(self, query: dict[str, str], body: Json, number: str) -> Reply:
        found = [self._public(c) for c in self._comments.values() if c["_issue"] == int(number)]
        return self._page(f"/issues/{number}/comments", found, query)

    def _create_comment(self, query: dict[str, str], body: Json, number: str) -> Reply:
        problem = self._check_body(body)
        if problem is not None:
            return problem
        author = self.token_login or BOT_LOGIN
        return 201, self._public(self._new_comment(int(number), body["body"], author)), {}

    def _get_comment(self, query: dict[str, str], body: Json, comment_id: str) -> Reply:
        comment = self._comments.get(int(comment_id))
        return (200, self._public(comment), {}) if comment else self._error(404, "Not Found")

    def _edit_comment(self, query: dict[str, str], body: Json, comment_id: str) -> Reply:
        comment = self._comments.get(int(comment_id))
        if comment is None:
            return self._error(404, "Not Found")
        problem = self._check_body(body)
        if problem is not None:
            return problem
        comment.update(body=body["body"], updated_at=_now())
        return 200, self._public(comment), {}

    def _create_status(self, query: dict[str, str], body: Json, sha: str) -> Reply:
        body = body if isinstance(body, dict) else {}
        state, description = body.get("state"), body.get("description")
        if state not in _STATUS_STATES:
            return self._invalid("Status", "state", "state is not included in the list")
        if isinstance(description, str) and len(description) > 140:
            too_long = "description is too long (maximum is 140 characters)"
            return self._invalid("Status", "description", too_long)
        status = self._created("SC", f"{self._api}/statuses/{sha}")
        status |= {"state": state, "description": description, "target_url": body.get("target_url")}
        status["context"] = body.get("context") or "default"
        self._statuses.setdefault(sha, []).append(status)
        return 201, status, {}

    def _list_statuses(self, query: dict[str, str], body: Json, sha: str) -> Reply:
        return self._page(f"/commits/{sha}/statuses", list(reversed(self._statuses.get(sha, []))), query)

    def _combined_status(self, query: dict[str, str], body: Json, sha: str) -> Reply:
        latest: dict[str, dict[str, Any]] = {}
        for status in self._statuses.get(sha, []):
            latest[status["context"]] = status  # the newest per context, as GitHub combines them
        states = [s["state"] for s in latest.values()]
        state = (
            "failure"
            if {"failure", "error"} & set(states)
            else ("pending" if "pending" in states or not states else "success")
        )
        combined = {
            "state": state,
            "sha": sha,
            "total_count": len(latest),
            "statuses": list(latest.values()),
            "repository": self._repo_payload(self.repository),
            "commit_url": f"{self._api}/commits/{sha}",
            "url": f"{self._api}/commits/{sha}/status",
        }
        return 200, combined, {}

    def _list_check_runs(self, query: dict[str, str], body: Json, sha: str) -> Reply:
        runs = self._check_runs.get(sha, [])
        return 200, {"total_count": len(runs), "check_runs": runs}, {}

    def _get_contents(self, query: dict[str, str], body: Json, path: str) -> Reply:
        ref, path = query.get("ref", "main"), path.strip("/")
        text = self._files.get((ref, path))
        if text is not None:
            # GitHub wraps the base64 at 60 columns; clients must cope with the newlines.
            content = "\n".join(re.findall(".{1,60}", base64.b64encode(text.encode()).decode()))
            entry = {"type": "file", "encoding": "base64", "content": content, "size": len(text.encode())}
            entry |= {
                "name": path.rsplit("/", 1)[-1],
                "path": path,
                "sha": _blob_sha(text),
                "download_url": None,
            }
            return 200, entry | {"url": f"{self._api}/contents/{path}?ref={ref}"}, {}
        below = {p for r, p in self._files if r == ref and p.startswith(f"{path}/" if path else "")}
        if not below:
            return self._error(404, "Not Found")
        names = sorted({p[len(path) :].lstrip("/").split("/", 1)[0] for p in below})
        kinds = {n: "file" if f"{path}/{n}".strip("/") in below else "dir" for n in names}
        return 200, [{"type": kinds[n], "name": n, "path": f"{path}/{n}".strip("/")} for n in names], {}

    def _put_contents(self, query: dict[str, str], body: Json, path: str) -> Reply:
        """Create or update a file (``PUT /contents/{path}``); a stale or missing ``sha`` is refused."""
        body, path = body if isinstance(body, dict) else {}, path.strip("/")
        if not isinstance(body.get("message"), str) or not isinstance(body.get("content"), str):
            return self._invalid("Contents", "content", "message and content are required")
        branch, sha = body.get("branch") or "main", body.get("sha")
        current = self._files.get((branch, path))
        if current is not None and sha is None:
            return self._error(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
        if current is not None and sha != _blob_sha(current):
            return self._error(409, f"{path} does not match {sha}")
        text = base64.b64decode(body["content"]).decode("utf-8")
        self._files[(branch, path)] = text
        commit = {"sha": hashlib.sha1(f"{branch}:{path}:{next(self._ids)}".encode()).hexdigest()}
        commit |= {"message": body["message"], "url": f"{self._api}/git/commits/{commit['sha']}"}
        content = {"type": "file", "name": path.rsplit("/", 1)[-1], "path": path, "sha": _blob_sha(text)}
        return (201 if current is None else 200), {"content": content, "commit": commit}, {}

    def _create_deployment(self, query: dict[str, str], body: Json) -> Reply:
        body = body if isinstance(body, dict) else {}
        if not isinstance(body.get("ref"), str):
            return self._invalid("Deployment", "ref", "ref is missing")
        deployment = self._created("DE", f"{self._api}/deployments/")
        deployment["url"] += str(deployment["id"])
        environment = body.get("environment") or "production"
        deployment |= {"sha": body["ref"], "ref": body["ref"], "task": body.get("task") or "deploy"}
        deployment |= {"environment": environment, "original_environment": environment}
        deployment |= {"description": body.get("description"), "payload": body.get("payload") or {}}
        deployment |= {"statuses_url": f"{deployment['url']}/statuses", "repository_url": self._api}
        deployment["transient_environment"] = bool(body.get("transient_environment"))
        deployment["production_environment"] = bool(body.get("production_environment"))
        self._deployments[deployment["id"]] = deployment | {"statuses": []}
        return 201, deployment, {}

    def _create_deployment_status(self, query: dict[str, str], body: Json, deployment_id: str) -> Reply:
        deployment = self._deployments.get(int(deployment_id))
        if deployment is None:
            return self._error(404, "Not Found")
        body = body if isinstance(body, dict) else {}
        if body.get("state") not in _DEPLOY_STATES:
            return self._invalid("DeploymentStatus", "state", "state is not included in the list")
        status = self._created("DES", f"{deployment['url']}/statuses/")
        status["url"] += str(status["id"])
        # log_url replaced target_url; GitHub fills each from the other.
        log_url = body.get("log_url") or body.get("target_url") or ""
        status |= {"state": body["state"], "description": body.get("description") or ""}
        status |= {"log_url": log_url, "target_url": log_url, "deployment_url": deployment["url"]}
        status |= {"environment": body.get("environment") or deployment["environment"]}
        status |= {"environment_url": body.get("environment_url") or "", "repository_url": self._api}
        deployment["statuses"].append(status)
        return 201, status, {}

    # helpers

    def _new_comment(self, number: int, body: str, login: str) -> dict[str, Any]:
        comment_id = next(self._ids)
        comment: dict[str, Any] = {"_issue": number, "id": comment_id, "node_id": f"IC_fake{comment_id}"}
        comment |= {"url": f"{self._api}/issues/comments/{comment_id}", "body": body}
        comment |= {"issue_url": f"{self._api}/issues/{number}"}
        comment |= {"html_url": f"{self.url}/{self.repository}/pull/{number}#issuecomment-{comment_id}"}
        comment |= {"user": self._user(login), "created_at": _now(), "updated_at": _now()}
        comment["author_association"] = "NONE" if login.endswith("[bot]") else "CONTRIBUTOR"
        self._comments[comment_id] = comment
        return comment

    @property
    def _api(self) -> str:
        return f"{self.url}/repos/{self.repository}"

    def _created(self, kind: str, url: str) -> dict[str, Any]:
        """The fields every object the bot creates carries."""
        new_id = next(self._ids)
        stamp = {"created_at": _now(), "updated_at": _now(), "creator": self._user(BOT_LOGIN)}
        return {"url": url, "id": new_id, "node_id": f"{kind}_fake{new_id}", **stamp}

    def _check_body(self, body: Json) -> Reply | None:
        text = body.get("body") if isinstance(body, dict) else None
        if not isinstance(text, str):
            return self._invalid("IssueComment", "body", "body is missing")
        if len(text) > 65536:
            return self._invalid("IssueComment", "body", "body is too long (maximum is 65536 characters)")
        return None

    def _user(self, login: str, kind: str | None = None) -> dict[str, Any]:
        kind = kind or ("Bot" if login.endswith("[bot]") else "User")
        user_id = zlib.crc32(login.encode()) % 10**8
        return {"login": login, "id": user_id, "node_id": f"U_{login}", "type": kind, "site_admin": False}

    @staticmethod
    def _public(comment: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in comment.items() if not k.startswith("_")}

    def _page(self, route: str, items: list[Any], query: dict[str, str]) -> Reply:
        per_page = max(1, min(100, int(query.get("per_page", 30))))
        page = max(1, int(query.get("page", 1)))
        last = max(1, -(-len(items) // per_page))
        kept = {k: v for k, v in query.items() if k not in ("page", "per_page")}
        extra = f"&{urlencode(kept)}" if kept else ""
        base = f"{self.url}/repos/{self.repository}{route}?per_page={per_page}{extra}&page="
        links = []
        if page < last:
            links += [f'<{base}{page + 1}>; rel="next"', f'<{base}{last}>; rel="last"']
        if page > 1:
            links += [f'<{base}{page - 1}>; rel="prev"', f'<{base}1>; rel="first"']
        headers = {"Link": ", ".join(links)} if links else {}
        return 200, items[(page - 1) * per_page : page * per_page], headers

    def _invalid(self, resource: str, field_name: str, message: str) -> Reply:
        error = {"resource": resource, "code": "custom", "field": field_name, "message": message}
        return 422, {"message": "Validation Failed", "errors": [error], "documentation_url": _DOCS}, {}

    def _error(self, status: int, message: str) -> Reply:
        payload = {"message": message, "documentation_url": _DOCS, "status": str(status)}
        reset = str(int(time.time()) + 3600)
        return status, payload, {"x-ratelimit-limit": "1000", "x-ratelimit-reset": reset}


def _blob_sha(text: str) -> str:
    """The git blob id, which is what the contents API calls a file's ``sha``."""
    data = text.encode("utf-8")
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
