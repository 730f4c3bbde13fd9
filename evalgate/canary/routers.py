"""Traffic routers: move the canary's share of traffic and read it back (file, HTTP endpoint, command).

Routers raise ``InfrastructureError`` (retryable when another attempt may help) and never loop; the
controller wraps ``set_weight`` + ``verify`` in the one retry policy.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

import yaml
from pydantic import Field, field_validator

from evalgate.canary.transport import Seconds, http_request, parse_spec, resolve_program, run_argv
from evalgate.errors import ConfigError, GitHubError, InfrastructureError
from evalgate.providers.http import expand_env, extract_path
from evalgate.strict import Strict

if TYPE_CHECKING:
    from evalgate.github import GitHubClient

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}")
BODY_NAMES = ("weight", "stable", "candidate")


class Router(Protocol):
    """Sets and reads the percentage (0..100) of traffic the canary gets."""

    name: str

    def set_weight(self, weight: int) -> None: ...

    def get_weight(self) -> int: ...


def verify(router: Router, weight: int) -> None:
    """Read the weight back; a mismatch is a retryable ``InfrastructureError`` (it may still propagate)."""
    seen = router.get_weight()
    if seen != weight:
        raise InfrastructureError(
            f"router {router.name}: set the canary to {weight}% but it reads back {seen}%",
            retryable=True,
        )


# file -------------------------------------------------------------------------------------------


class GitHubTarget(Strict):
    """Where a GitOps routing file lives; the token comes from ``token_env``."""

    repository: str
    branch: Annotated[str, Field(min_length=1)] = "main"
    token_env: Annotated[str, Field(min_length=1)] = "GITHUB_TOKEN"

    @field_validator("repository")
    @classmethod
    def _owner_name(cls, value: str) -> str:
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", value):
            raise ValueError(f"'{value}' is not 'owner/name'; write it like 'my-org/deploy-config'")
        return value


class FileRouterSpec(Strict):
    """``router: {type: file, path: routing.yaml, github: {...}?}``."""

    type: Literal["file"] = "file"
    path: Annotated[str, Field(min_length=1)]
    github: GitHubTarget | None = None


def routing_yaml(stable: str, candidate: str, weight: int) -> str:
    """The routing file the app reads: ``stable``, ``canary`` and ``canary_weight``, in that order."""
    data = {"stable": stable, "canary": candidate, "canary_weight": weight}
    return yaml.safe_dump(data, sort_keys=False, width=1_000_000)


def parse_routing(text: str, *, where: str) -> int:
    """``canary_weight`` from a routing file's text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"routing file is not YAML: {exc}", where=where) from None
    if not isinstance(data, dict) or "canary_weight" not in data:
        raise ConfigError(
            "routing file has no 'canary_weight'",
            where=where,
            fix="point router.path at a file evalgate owns",
        )
    return as_weight(data["canary_weight"], what=where)


class FileRouter:
    """Writes the routing YAML atomically (temp file + rename); a missing file reads as weight 0."""

    def __init__(self, path: Path, *, stable: str, candidate: str) -> None:
        self.path, self._stable, self._candidate = path, stable, candidate
        self.name = f"file {path}"

    def set_weight(self, weight: int) -> None:
        """Replace the routing file in one rename, so the app never reads half of it."""
        text = routing_yaml(self._stable, self._candidate, _checked(weight))
        try:
            mode = self.path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644  # mkstemp's 0600 would hide the file from an app running as another user
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(text)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.chmod(tmp, mode)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise InfrastructureError(f"{self.name}: cannot write: {exc}", retryable=True) from None

    def get_weight(self) -> int:
        """The weight in the file; 0 when there is no file yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise InfrastructureError(f"{self.name}: cannot read: {exc}", retryable=True) from None
        return parse_routing(text, where=str(self.path))


class GitHubFileRouter:
    """Commits the routing YAML through the contents API (GitOps); reads it back from the branch."""

    def __init__(self, client: GitHubClient, path: str, *, branch: str, stable: str, candidate: str) -> None:
        self._client, self.path, self.branch = client, path.strip("/"), branch
        self._stable, self._candidate = stable, candidate
        self.name = f"github {client.repository}@{branch}:{self.path}"

    def set_weight(self, weight: int) -> None:
        """Commit the new weight unless the branch already has it; a lost race is retryable."""
        text = routing_yaml(self._stable, self._candidate, _checked(weight))
        current = self._client.file_at(self.path, self.branch)
        if current == text:
            return  # an earlier attempt committed it; no empty commit
        # The contents API's sha is the git blob id, so it follows from the text we just read.
        sha = None if current is None else _blob_sha(current)
        message = f"canary: {self._candidate} at {weight}%"
        try:
            self._client.put_file(self.path, text, message=message, branch=self.branch, sha=sha)
        except GitHubError as exc:
            if exc.status in (409, 422):  # someone (or our own lost response) committed in between
                raise InfrastructureError(f"{self.name}: {exc}", retryable=True) from None
            raise

    def get_weight(self) -> int:
        """The weight committed on the branch; 0 when the file does not exist."""
        text = self._client.file_at(self.path, self.branch)
        return 0 if text is None else parse_routing(text, where=self.name)


def _blob_sha(text: str) -> str:
    data = text.encode("utf-8")
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _file(spec: Mapping[str, Any], base_dir: Path, env: Mapping[str, str], ids: tuple[str, str]) -> Router:
    parsed = parse_spec(FileRouterSpec, spec, where="router")
    if parsed.github is None:
        return FileRouter(base_dir / parsed.path, stable=ids[0], candidate=ids[1])
    from evalgate.github import GitHubClient

    target = parsed.github
    token = env.get(target.token_env, "")
    if not token:
        raise ConfigError(
            f"environment variable {target.token_env} is not set",
            where="router.github.token_env",
            fix="pass a token with `contents: write` on the repository (e.g. GITHUB_TOKEN)",
        )
    api_url = env.get("GITHUB_API_URL") or "https://api.github.com"
    client = GitHubClient(token, api_url=api_url, repository=target.repository)
    return GitHubFileRouter(client, parsed.path, branch=target.branch, stable=ids[0], candidate=ids[1])


# http -------------------------------------------------------------------------------------------


class HttpRouterSpec(Strict):
    """``router: {type: http, url: ..., method: PUT, body: ..., get_url: ..., weight_path: ...}``."""

    type: Literal["http"] = "http"
    url: str
    method: Literal["PUT", "POST"] = "PUT"
    body: dict[str, Any] | str | None = None
    get_url: str | None = None
    weight_path: Annotated[str, Field(min_length=1)] = "canary_weight"
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: Seconds = 10.0

    @field_validator("url", "get_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(
                f"'{value}' is not an http(s) URL; write it like 'http://app:8080/admin/routing'"
            )
        return value

    @field_validator("body")
    @classmethod
    def _known_placeholders(cls, value: Any) -> Any:
        for name in PLACEHOLDER.findall(json.dumps(value)):
            if name not in BODY_NAMES:
                known = ", ".join(f"{{{{ {n} }}}}" for n in BODY_NAMES)
                raise ValueError(f"unknown placeholder '{{{{ {name} }}}}'; use one of: {known}")
        return value


def render_body(template: Any, values: Mapping[str, Any]) -> Any:
    """Fill ``{{ name }}``; a string that is just a placeholder becomes the value (an int stays an int)."""
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template.strip())
        if whole:
            return values[whole.group(1)]
        return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)
    if isinstance(template, Mapping):
        return {key: render_body(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [render_body(value, values) for value in template]
    return template


class HttpRouter:
    """Sends the weight to the app's admin endpoint and reads it back with GET."""

    def __init__(self, spec: HttpRouterSpec, *, env: Mapping[str, str], stable: str, candidate: str) -> None:
        self._spec = spec
        self.url = expand_env(spec.url, env, where="router.url")
        self.get_url = expand_env(spec.get_url, env, where="router.get_url") if spec.get_url else self.url
        self._headers = {k: expand_env(v, env, where=f"router.headers.{k}") for k, v in spec.headers.items()}
        self._values = {"stable": stable, "candidate": candidate}
        self.name = f"http {spec.url}"

    def set_weight(self, weight: int) -> None:
        """Send the weight; 5xx and connection failures are retryable, other non-2xx are not."""
        values = {**self._values, "weight": _checked(weight)}
        default = {"canary_weight": "{{ weight }}", "stable": "{{ stable }}", "canary": "{{ candidate }}"}
        body = render_body(self._spec.body if self._spec.body is not None else default, values)
        headers = dict(self._headers)
        if isinstance(body, str):
            if not any(key.lower() == "content-type" for key in headers):
                headers["Content-Type"] = "application/json"
            payload: dict[str, Any] = {"data": body.encode("utf-8")}
        else:
            payload = {"json": body}
        http_request(
            self._spec.method,
            self.url,
            what=f"{self.name}: {self._spec.method}",
            headers=headers,
            timeout_s=self._spec.timeout_s,
            **payload,
        )

    def get_weight(self) -> int:
        """GET ``get_url`` and read the weight at ``weight_path``."""
        what = f"{self.name}: GET {self._spec.get_url or self._spec.url}"  # unexpanded: no secrets
        response = http_request(
            "GET", self.get_url, what=what, headers=self._headers, timeout_s=self._spec.timeout_s
        )
        return weight_in(response.text, self._spec.weight_path, what=what)


def _http(spec: Mapping[str, Any], base_dir: Path, env: Mapping[str, str], ids: tuple[str, str]) -> Router:
    return HttpRouter(
        parse_spec(HttpRouterSpec, spec, where="router"), env=env, stable=ids[0], candidate=ids[1]
    )


# command ----------------------------------------------------------------------------------------


class CommandRouterSpec(Strict):
    """``router: {type: command, set: [kubectl, ..., "{weight}"], get: [...]}``; argv lists, no shell."""

    type: Literal["command"] = "command"
    set: Annotated[list[str], Field(min_length=1)]
    get: Annotated[list[str], Field(min_length=1)]
    weight_path: Annotated[str, Field(min_length=1)] = "canary_weight"
    timeout_s: Seconds = 60.0

    @field_validator("set")
    @classmethod
    def _sets_a_weight(cls, value: list[str]) -> list[str]:
        if not any("{weight}" in arg for arg in value):
            raise ValueError("no argument contains '{weight}', so every stage would set the same weight")
        return value


class CommandRouter:
    """Runs ``set`` with ``{weight}``/``{stable}``/``{candidate}`` filled in; ``get`` prints the weight."""

    def __init__(
        self, spec: CommandRouterSpec, *, base_dir: Path, env: Mapping[str, str], ids: tuple[str, str]
    ) -> None:
        self._spec, self._base_dir, self._env = spec, base_dir, dict(env)
        self._set = [resolve_program(spec.set[0], base_dir, env, "router.set"), *spec.set[1:]]
        self._get = [resolve_program(spec.get[0], base_dir, env, "router.get"), *spec.get[1:]]
        self._values = {"stable": ids[0], "candidate": ids[1]}
        self.name = f"command {spec.set[0]}"

    def _argv(self, template: Sequence[str], weight: int | None) -> list[str]:
        values = {**self._values, **({} if weight is None else {"weight": str(weight)})}
        out = []
        for arg in template:
            for key, value in values.items():
                arg = arg.replace(f"{{{key}}}", value)
            out.append(arg)
        return out

    def set_weight(self, weight: int) -> None:
        """Run the ``set`` command; a non-zero exit or a timeout is a retryable error."""
        argv = self._argv(self._set, _checked(weight))
        run_argv(
            argv, what=f"{self.name} (set)", cwd=self._base_dir, env=self._env, timeout_s=self._spec.timeout_s
        )

    def get_weight(self) -> int:
        """Run the ``get`` command; its stdout is an integer or JSON with the weight at ``weight_path``."""
        what = f"{self.name} (get)"
        out = run_argv(
            self._argv(self._get, None),
            what=what,
            cwd=self._base_dir,
            env=self._env,
            timeout_s=self._spec.timeout_s,
        )
        return weight_in(out, self._spec.weight_path, what=what)


def _command(spec: Mapping[str, Any], base_dir: Path, env: Mapping[str, str], ids: tuple[str, str]) -> Router:
    return CommandRouter(
        parse_spec(CommandRouterSpec, spec, where="router"), base_dir=base_dir, env=env, ids=ids
    )


# registry ---------------------------------------------------------------------------------------

RouterFactory = Callable[[Mapping[str, Any], Path, Mapping[str, str], tuple[str, str]], Router]
ROUTERS: dict[str, RouterFactory] = {"file": _file, "http": _http, "command": _command}
"""Router type (the ``type:`` key under ``router:``) -> factory."""


def build_router(
    spec: Mapping[str, Any], *, base_dir: Path, env: Mapping[str, str], stable: str, candidate: str
) -> Router:
    """The router the plan's ``router:`` mapping describes; ``ConfigError`` naming the field when invalid."""
    kind = spec.get("type")
    if kind not in ROUTERS:
        found = "missing" if kind is None else f"unknown type {kind!r}"
        raise ConfigError(
            f"router type {found}", where="router.type", fix=f"use one of: {', '.join(ROUTERS)}"
        )
    return ROUTERS[str(kind)](spec, base_dir, env, (stable, candidate))


# reading weights ------------------------------------------------------------------------------


def weight_in(text: str, weight_path: str, *, what: str) -> int:
    """A weight from a body: a bare integer, or JSON with the weight at the dotted ``weight_path``."""
    stripped = text.strip()
    if re.fullmatch(r"[+-]?\d+", stripped):
        return as_weight(int(stripped), what=what)
    try:
        data = json.loads(stripped)
        value = data if isinstance(data, int | float) else extract_path(data, weight_path)
    except (ValueError, KeyError) as exc:
        shown = stripped[:200] or "(empty)"
        raise InfrastructureError(f"{what}: no weight at '{weight_path}' ({exc}) in: {shown}") from None
    return as_weight(value, what=what)


def as_weight(value: Any, *, what: str) -> int:
    """An integer percentage 0..100 from a number or a numeric string."""
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+(\.0*)?\s*", value):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InfrastructureError(f"{what}: weight {value!r} is not a whole number")
    if value != int(value):
        raise InfrastructureError(f"{what}: weight {value!r} is not a whole number")
    if not 0 <= value <= 100:
        raise InfrastructureError(f"{what}: weight {int(value)} is outside 0..100")
    return int(value)


def _checked(weight: int) -> int:
    if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
        raise ValueError(f"weight must be an int in 0..100, got {weight!r}")
    return weight
