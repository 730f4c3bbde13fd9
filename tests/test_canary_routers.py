"""Traffic routers against real files, the fake GitHub contents API, a loopback app and real programs."""

from __future__ import annotations

import os
import socket
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evalgate.canary.routers import ROUTERS, Router, build_router, verify, weight_in
from evalgate.errors import ConfigError, GitHubError, InfrastructureError
from evalgate.github import GitHubClient
from evalgate.retry import call_with_retries
from evalgate.testing import FakeGitHubServer, FakeRouter, SimulatedApp

TOKEN = "ghs_router_token"
ROUTING = "deploy/routing.yaml"


def make(spec: dict[str, Any], base_dir: Path, env: dict[str, str] | None = None) -> Router:
    return build_router(spec, base_dir=base_dir, env=env or {}, stable="v1", candidate="v2")


def set_and_verify(router: Router, weight: int) -> None:
    def attempt() -> None:
        router.set_weight(weight)
        verify(router, weight)

    call_with_retries(attempt, max_attempts=4, describe=f"router {router.name}")


# file


def test_file_router_writes_exactly_the_routing_yaml_and_reads_it_back(tmp_path: Path) -> None:
    router = make({"type": "file", "path": "deploy/routing.yaml"}, tmp_path)

    router.set_weight(25)

    path = tmp_path / "deploy" / "routing.yaml"
    assert path.read_text() == "stable: v1\ncanary: v2\ncanary_weight: 25\n"
    assert router.get_weight() == 25
    assert (path.stat().st_mode & 0o777) == 0o644  # readable by an app running as another user
    assert [p.name for p in path.parent.iterdir()] == ["routing.yaml"]  # no temp files left behind


def test_file_router_replaces_the_file_in_one_rename(tmp_path: Path) -> None:
    router = make({"type": "file", "path": "routing.yaml"}, tmp_path)
    router.set_weight(5)
    path = tmp_path / "routing.yaml"
    before = path.stat().st_ino
    os.chmod(path, 0o640)

    with path.open() as old:  # a reader that opened the old file keeps seeing all of it
        router.set_weight(100)
        assert old.read() == "stable: v1\ncanary: v2\ncanary_weight: 5\n"

    assert path.stat().st_ino != before
    assert (path.stat().st_mode & 0o777) == 0o640  # the existing mode is kept
    assert router.get_weight() == 100


def test_file_router_reads_a_missing_file_as_weight_zero(tmp_path: Path) -> None:
    assert make({"type": "file", "path": "nowhere/routing.yaml"}, tmp_path).get_weight() == 0


def test_file_router_quotes_ids_yaml_would_misread(tmp_path: Path) -> None:
    router = build_router(
        {"type": "file", "path": "r.yaml"}, base_dir=tmp_path, env={}, stable="1.10", candidate="yes"
    )
    router.set_weight(5)
    assert (tmp_path / "r.yaml").read_text() == "stable: '1.10'\ncanary: 'yes'\ncanary_weight: 5\n"


def test_file_router_refuses_a_file_without_a_weight(tmp_path: Path) -> None:
    (tmp_path / "routing.yaml").write_text("replicas: 3\n")
    with pytest.raises(ConfigError, match="no 'canary_weight'"):
        make({"type": "file", "path": "routing.yaml"}, tmp_path).get_weight()


# file, committed through GitHub


@pytest.fixture
def github() -> Iterator[FakeGitHubServer]:
    with FakeGitHubServer("octo/app", token=TOKEN) as fake:
        yield fake


def github_router(github: FakeGitHubServer, tmp_path: Path) -> Router:
    spec = {"type": "file", "path": ROUTING, "github": {"repository": "octo/app", "branch": "main"}}
    return make(spec, tmp_path, {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.url})


def puts(github: FakeGitHubServer) -> list[Any]:
    return [r for r in github.requests if r.method == "PUT"]


def test_github_file_router_commits_through_the_contents_api(
    github: FakeGitHubServer, tmp_path: Path
) -> None:
    router = github_router(github, tmp_path)
    assert router.get_weight() == 0

    set_and_verify(router, 5)
    set_and_verify(router, 25)
    set_and_verify(router, 25)  # already there: no empty commit

    first, second = puts(github)
    assert first.json["message"] == "canary: v2 at 5%"
    assert "sha" not in first.json
    assert first.json["branch"] == "main"
    assert second.json["message"] == "canary: v2 at 25%"
    assert len(second.json["sha"]) == 40
    with GitHubClient(TOKEN, api_url=github.url, repository="octo/app") as client:
        assert client.file_at(ROUTING, "main") == "stable: v1\ncanary: v2\ncanary_weight: 25\n"


def test_github_file_router_retry_after_a_lost_response_commits_once(
    github: FakeGitHubServer, tmp_path: Path
) -> None:
    router = github_router(github, tmp_path)
    set_and_verify(router, 5)
    # The gateway times out after GitHub committed: the client's retry then holds a stale sha (409).
    github.fail_next("PUT", "contents", status=502, committed=True)

    set_and_verify(router, 25)

    assert [p.json["message"] for p in puts(github) if p.json["message"].endswith("25%")] == [
        "canary: v2 at 25%",
        "canary: v2 at 25%",  # the retried PUT, refused as stale
    ]
    assert router.get_weight() == 25


def test_put_file_with_a_stale_sha_is_a_conflict(github: FakeGitHubServer) -> None:
    github.set_file("main", ROUTING, "canary_weight: 5\n")
    with GitHubClient(TOKEN, api_url=github.url, repository="octo/app") as client:
        with pytest.raises(GitHubError) as stale:
            client.put_file(ROUTING, "x", message="m", branch="main", sha="f" * 40)
        with pytest.raises(GitHubError) as missing:
            client.put_file(ROUTING, "x", message="m", branch="main")
    assert (stale.value.status, missing.value.status) == (409, 422)
    assert not stale.value.retryable


def test_github_file_router_needs_a_token(tmp_path: Path) -> None:
    spec = {
        "type": "file",
        "path": ROUTING,
        "github": {"repository": "octo/app", "token_env": "DEPLOY_TOKEN"},
    }
    with pytest.raises(ConfigError, match="DEPLOY_TOKEN is not set") as caught:
        make(spec, tmp_path)
    assert caught.value.where == "router.github.token_env"


# http


@pytest.fixture
def app(tmp_path: Path) -> Iterator[SimulatedApp]:
    with SimulatedApp(tmp_path / "requests.jsonl", rate=0, admin=True) as running:
        yield running


def test_http_router_puts_json_to_the_admin_endpoint_and_reads_it_back(
    app: SimulatedApp, tmp_path: Path
) -> None:
    spec = {"type": "http", "url": app.admin_url, "headers": {"Authorization": "Bearer ${ADMIN_TOKEN}"}}
    router = make(spec, tmp_path, {"ADMIN_TOKEN": "s3cret"})

    set_and_verify(router, 25)

    put = next(r for r in app.admin_requests if r.method == "PUT")
    assert put.body == {"canary_weight": 25, "stable": "v1", "canary": "v2"}
    assert put.headers["authorization"] == "Bearer s3cret"
    assert router.get_weight() == 25


def test_http_router_renders_a_body_template_and_posts(app: SimulatedApp, tmp_path: Path) -> None:
    body = {
        "canary_weight": "{{ weight }}",
        "canary": "{{ candidate }}",
        "note": "{{ stable }} -> {{ candidate }}",
    }
    router = make({"type": "http", "url": app.admin_url, "method": "POST", "body": body}, tmp_path)

    router.set_weight(5)

    post = next(r for r in app.admin_requests if r.method == "POST")
    assert post.body == {"canary_weight": 5, "canary": "v2", "note": "v1 -> v2"}
    assert router.get_weight() == 5


def test_http_router_5xx_is_retryable_and_4xx_is_not(app: SimulatedApp, tmp_path: Path) -> None:
    router = make({"type": "http", "url": app.admin_url}, tmp_path)
    app.fail_admin(500)
    with pytest.raises(InfrastructureError, match="HTTP 500") as server_error:
        router.set_weight(5)
    assert server_error.value.retryable

    missing = make({"type": "http", "url": app.admin_url.replace("routing", "nope")}, tmp_path)
    with pytest.raises(InfrastructureError, match="HTTP 404") as not_found:
        missing.set_weight(5)
    assert not not_found.value.retryable


def test_http_router_retries_through_a_server_error(
    app: SimulatedApp, tmp_path: Path, retry_waits: list[float]
) -> None:
    router = make({"type": "http", "url": app.admin_url}, tmp_path)
    app.fail_admin(503, times=2)
    set_and_verify(router, 25)
    assert len(retry_waits) == 2
    assert router.get_weight() == 25


def test_http_router_connection_refused_is_retryable(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    router = make({"type": "http", "url": f"http://127.0.0.1:{port}/admin", "timeout_s": 2}, tmp_path)
    with pytest.raises(InfrastructureError, match="cannot connect") as caught:
        router.get_weight()
    assert caught.value.retryable


def test_weight_is_read_at_a_dotted_path_or_as_a_bare_number() -> None:
    assert weight_in('{"data": {"routes": [{"weight": 25}]}}', "data.routes.0.weight", what="x") == 25
    assert weight_in("5\n", "ignored", what="x") == 5
    assert weight_in('{"canary_weight": "100"}', "canary_weight", what="x") == 100
    with pytest.raises(InfrastructureError, match=r"outside 0\.\.100"):
        weight_in("150", "canary_weight", what="x")
    with pytest.raises(InfrastructureError, match="no weight at 'weight'"):
        weight_in('{"other": 1}', "weight", what="x")


# command


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


@pytest.fixture
def scripts(tmp_path: Path) -> dict[str, str]:
    return {
        "set": script(
            tmp_path,
            "set_weight.py",
            """
            import json, sys
            weight, stable, candidate = sys.argv[1:]
            state = {"spec": {"weight": int(weight)}, "ids": [stable, candidate]}
            open("state.json", "w").write(json.dumps(state))
            """,
        ),
        "get_json": script(tmp_path, "get_json.py", "print(open('state.json').read())\n"),
        "get_int": script(
            tmp_path, "get_int.py", "import json; print(json.load(open('state.json'))['spec']['weight'])\n"
        ),
        "fail": script(
            tmp_path,
            "fail.py",
            "import sys; print('error: rollout not found', file=sys.stderr); sys.exit(3)\n",
        ),
        "slow": script(tmp_path, "slow.py", "import time; time.sleep(10)\n"),
    }


def command_router(tmp_path: Path, set_argv: list[str], get_argv: list[str], **extra: Any) -> Router:
    spec = {"type": "command", "set": set_argv, "get": get_argv, **extra}
    return make(spec, tmp_path, dict(os.environ))


def test_command_router_fills_placeholders_per_argument(tmp_path: Path, scripts: dict[str, str]) -> None:
    setter = [sys.executable, scripts["set"], "{weight}", "{stable}", "{candidate}"]
    as_json = command_router(
        tmp_path, setter, [sys.executable, scripts["get_json"]], weight_path="spec.weight"
    )
    as_int = command_router(tmp_path, setter, [sys.executable, scripts["get_int"]])

    set_and_verify(as_json, 25)

    assert as_int.get_weight() == 25
    assert '"ids": ["v1", "v2"]' in (tmp_path / "state.json").read_text()


def test_command_router_failure_carries_the_stderr_tail(tmp_path: Path, scripts: dict[str, str]) -> None:
    router = command_router(
        tmp_path, [sys.executable, scripts["fail"], "{weight}"], [sys.executable, scripts["fail"]]
    )
    with pytest.raises(InfrastructureError, match="exit 3: error: rollout not found") as caught:
        router.set_weight(5)
    assert caught.value.retryable


def test_command_router_times_out(tmp_path: Path, scripts: dict[str, str]) -> None:
    slow = [sys.executable, scripts["slow"], "{weight}"]
    router = command_router(tmp_path, slow, slow, timeout_s=0.3)
    with pytest.raises(InfrastructureError, match=r"timed out after 0\.3s") as caught:
        router.set_weight(5)
    assert caught.value.retryable


def test_command_router_program_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found on PATH") as caught:
        command_router(tmp_path, ["no-such-kubectl-xyz", "{weight}"], ["no-such-kubectl-xyz"])
    assert caught.value.where == "router.set[0]"


# specs


@pytest.mark.parametrize(
    ("spec", "where", "message"),
    [
        ({"path": "r.yaml"}, "router.type", "router type missing"),
        ({"type": "istio"}, "router.type", "unknown type 'istio'"),
        ({"type": "file"}, "router.path", "missing required key 'path'"),
        ({"type": "file", "path": "r.yaml", "pth": 1}, "router.pth", "unknown key 'pth'"),
        ({"type": "http", "url": "app:8080/admin"}, "router.url", "not an http(s) URL"),
        ({"type": "http", "url": "http://a/b", "method": "PATCH"}, "router.method", "'PUT' or 'POST'"),
        ({"type": "http", "url": "http://a/b", "body": {"w": "{{ wieght }}"}}, "router.body", "wieght"),
        (
            {"type": "http", "url": "http://a/b", "headers": {"X": "${NOPE_UNSET}"}},
            "router.headers.X",
            "NOPE_UNSET",
        ),
        ({"type": "command", "set": ["kubectl", "set"], "get": ["kubectl"]}, "router.set", "'{weight}'"),
        ({"type": "command", "set": ["x", "{weight}"]}, "router.get", "missing required key 'get'"),
    ],
)
def test_bad_router_specs_name_the_field(
    tmp_path: Path, spec: dict[str, Any], where: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        make(spec, tmp_path)
    assert caught.value.where == where
    assert message in str(caught.value)


def test_every_router_type_is_registered() -> None:
    assert set(ROUTERS) == {"file", "http", "command"}


# verify and the fake


def test_verify_catches_a_stuck_router() -> None:
    router = FakeRouter(weight=5, stuck=True)
    router.set_weight(25)
    with pytest.raises(InfrastructureError, match="set the canary to 25% but it reads back 5%"):
        verify(router, 25)


def test_fake_router_fails_then_recovers_under_the_retry_policy(retry_waits: list[float]) -> None:
    router = FakeRouter()
    router.fail_next(2)
    set_and_verify(router, 25)
    assert router.calls == [25, 25, 25]
    assert router.weight == 25
    assert len(retry_waits) == 2
