"""The HTTP side of ``FakeGitHubServer``: the loopback server, authentication, the request log, fault
injection, routing, and the JSON shapes every resource shares (errors, pages, users, repositories).

The resources (pull requests, comments, statuses, contents, issues...) are mixins over ``GitHubHttp``,
each holding its own state and routes; ``evalgate.testing.github`` puts them together.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from evalgate.testing.loopback import JsonHandler, Lifecycle, QuietServer, Serving, running

BOT_LOGIN = "github-actions[bot]"
FORK_TOKEN_MESSAGE = "Resource not accessible by integration"
SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
_DOCS = "https://docs.github.com/rest"
_DEFAULT_MESSAGES = {401: "Bad credentials", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests"}

Json = Any
Reply = tuple[int, Json, dict[str, str]]
Route = tuple[str, str, Callable[..., Reply]]


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
    fake: GitHubHttp


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


class GitHubHttp(Lifecycle):
    """Serving, authentication, faults and routing for one repository; the resources add the routes."""

    def __init__(
        self,
        repository: str = "octo/repo",
        *,
        token: str = "test-token",
        read_only: bool = False,
        token_login: str | None = None,
        write_token: str | None = None,
    ) -> None:
        self.repository = repository
        self.token = token
        self.read_only = read_only  # answer every write like a fork's read-only GITHUB_TOKEN does
        # a second token that may write even when ``read_only`` (a personal access token next to a
        # read-only GITHUB_TOKEN, as for a drift baseline branch)
        self.write_token = write_token
        # None: the token is an installation token (GITHUB_TOKEN): GET /user is refused and what it writes
        # is by github-actions[bot]; a login: a personal or app-user token acting as that user
        self.token_login = token_login
        self._lock = threading.Lock()
        self._ids = itertools.count(1001)
        self._requests: list[GitHubRequest] = []
        self._faults: deque[GitHubFault] = deque()
        self._serving: Serving | None = None
        self._init_resources()

    def _init_resources(self) -> None:
        """Create each resource's state; the fake calls its mixins' ``_init_*``."""
        raise NotImplementedError

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

    # inspection and faults

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
            scheme, _, credential = headers.get("authorization", "").partition(" ")
            known = scheme in ("token", "Bearer")
            writer = known and self.write_token is not None and credential == self.write_token
            if not (known and credential == self.token) and not writer:
                return self._error(401, "Bad credentials")
            fault = next((f for f in self._faults if f.matches(method, path)), None)
            if fault is not None:
                self._faults.remove(fault)
            if fault is not None and not fault.committed:
                return self._fault(fault)
            if self.read_only and method != "GET" and not writer:
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

    def _routes(self) -> list[Route]:
        """Every (method, path pattern below the repository, handler); the fake lists its resources'."""
        raise NotImplementedError

    # what every resource's answers share (called with the lock held)

    @property
    def _api(self) -> str:
        return f"{self.url}/repos/{self.repository}"

    def _created(self, kind: str, url: str) -> dict[str, Any]:
        """The fields every object the bot creates carries."""
        new_id = next(self._ids)
        stamp = {"created_at": now(), "updated_at": now(), "creator": self._user(BOT_LOGIN)}
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

    def _repo_payload(self, full_name: str) -> dict[str, Any]:
        owner, name = full_name.split("/", 1)
        repo = {"id": zlib.crc32(full_name.encode()), "name": name, "full_name": full_name}
        return repo | {"owner": self._user(owner, "User"), "private": False}

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


def blob_sha(text: str) -> str:
    """The git blob id, which is what the contents API calls a file's ``sha``."""
    data = text.encode("utf-8")
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
