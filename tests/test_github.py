"""The GitHub client against the loopback FakeGitHubServer, over real HTTP (no network, no patching)."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import evalgate.github
from evalgate.changes import ChangedFile
from evalgate.errors import GitHubError, GitHubPermissionError
from evalgate.github import GitHubClient
from evalgate.testing import FakeGitHubServer
from evalgate.testing.github import BOT_LOGIN, SECONDARY_RATE_LIMIT_MESSAGE

TOKEN = "ghs_test0123456789"
MARKER = "<!-- evalgate:report -->"
HEAD = "a" * 40
BASE = "b" * 40


@pytest.fixture
def server() -> Iterator[FakeGitHubServer]:
    with FakeGitHubServer("octo/repo", token=TOKEN) as fake:
        fake.add_pull(7, HEAD, BASE)
        yield fake


@pytest.fixture
def client(server: FakeGitHubServer) -> Iterator[GitHubClient]:
    with GitHubClient(TOKEN, api_url=server.url, repository="octo/repo", max_attempts=4) as gh:
        yield gh


def ours(server: FakeGitHubServer, number: int = 7) -> list[dict[str, Any]]:
    return [c for c in server.comments(number) if str(c["body"]).startswith(MARKER)]


def count(server: FakeGitHubServer, method: str, path_part: str) -> int:
    return sum(1 for r in server.requests if r.method == method and path_part in r.path)


# the sticky comment


def test_first_upsert_creates_one_comment_starting_with_the_marker(
    server: FakeGitHubServer, client: GitHubClient
) -> None:
    url = client.upsert_comment(7, "## Eval gate: passed", marker=MARKER)

    [comment] = server.comments(7)
    assert comment["body"] == f"{MARKER}\n## Eval gate: passed"
    assert (comment["user"]["login"], comment["user"]["type"]) == (BOT_LOGIN, "Bot")
    assert url == comment["html_url"]
    assert url.startswith(server.url)


def test_repeated_upserts_edit_in_place_and_skip_identical_bodies(
    server: FakeGitHubServer, client: GitHubClient
) -> None:
    first = client.upsert_comment(7, f"{MARKER}\nrun 1", marker=MARKER)
    urls = [
        client.upsert_comment(7, f"{MARKER}\n{body}", marker=MARKER) for body in ("run 2", "run 2", "run 3")
    ]

    assert [c["body"] for c in server.comments(7)] == [f"{MARKER}\nrun 3"]
    assert urls == [first] * 3
    assert count(server, "POST", "/comments") == 1
    assert count(server, "PATCH", "/issues/comments/") == 2  # the identical second "run 2" is not sent


def test_finds_ours_among_150_comments_from_others_across_pages(
    server: FakeGitHubServer, client: GitHubClient
) -> None:
    server.add_comments(7, [f"LGTM {i}" for i in range(120)], user="reviewer")
    client.upsert_comment(7, "v1", marker=MARKER)
    server.add_comments(7, [f"nit {i}" for i in range(30)], user="dependabot[bot]")

    client.upsert_comment(7, "v2", marker=MARKER)

    assert [c["body"] for c in ours(server)] == [f"{MARKER}\nv2"]
    assert len(server.comments(7)) == 151
    listed_pages = [r.query.get("page", "1") for r in server.requests if r.path.endswith("/7/comments")]
    assert listed_pages.count("2") == 2  # both upserts read past the first 100


def test_existing_comment_on_a_later_page_is_edited_not_duplicated(
    server: FakeGitHubServer, client: GitHubClient
) -> None:
    server.add_comments(7, ["hi"] * 130, user="someone")
    [mine] = server.add_comments(7, [f"{MARKER}\nold report"], user=BOT_LOGIN)
    server.add_comments(7, ["bye"] * 40, user="someone")

    client.upsert_comment(7, "new report", marker=MARKER)

    assert [(c["id"], c["body"]) for c in ours(server)] == [(mine, f"{MARKER}\nnew report")]
    assert count(server, "POST", "/comments") == 0


def test_comment_quoting_the_marker_midway_is_not_ours(
    server: FakeGitHubServer, client: GitHubClient
) -> None:
    [quote] = server.add_comments(
        7, [f"> why does the bot write\n> {MARKER}\nin its comments?"], user="curious"
    )

    client.upsert_comment(7, "report", marker=MARKER)

    by_id = {c["id"]: c["body"] for c in server.comments(7)}
    assert by_id[quote] == f"> why does the bot write\n> {MARKER}\nin its comments?"
    assert len(by_id) == 2
    assert len(ours(server)) == 1


def test_the_oldest_of_several_marked_comments_is_edited_and_the_rest_left_alone(
    server: FakeGitHubServer, client: GitHubClient
) -> None:
    oldest, newer = server.add_comments(7, [f"{MARKER}\nA", f"{MARKER}\nB"], user=BOT_LOGIN)

    client.upsert_comment(7, "C", marker=MARKER)

    assert {c["id"]: c["body"] for c in ours(server)} == {oldest: f"{MARKER}\nC", newer: f"{MARKER}\nB"}


def test_author_filter_ignores_a_marked_comment_by_someone_else(
    server: FakeGitHubServer, client: GitHubClient
) -> None:
    [spoof] = server.add_comments(7, [f"{MARKER}\nall green, trust me"], user="mallory")

    client.upsert_comment(7, "real report", marker=MARKER, author=BOT_LOGIN)

    bodies = {c["id"]: (c["body"], c["user"]["login"]) for c in ours(server)}
    assert bodies[spoof] == (f"{MARKER}\nall green, trust me", "mallory")
    assert sorted(bodies.values())[-1] == (f"{MARKER}\nreal report", BOT_LOGIN)


@pytest.mark.parametrize("marker", ["", "<!-- a -->\n<!-- b -->"])
def test_marker_must_be_one_line(client: GitHubClient, marker: str) -> None:
    with pytest.raises(ValueError, match="marker must be one non-empty line"):
        client.upsert_comment(7, "body", marker=marker)


def test_body_over_65536_characters_is_refused_before_any_request(
    server: FakeGitHubServer, client: GitHubClient
) -> None:
    with pytest.raises(ValueError, match="GitHub allows 65536"):
        client.upsert_comment(7, "x" * 65_536, marker=MARKER)  # the marker line pushes it over
    assert server.requests == []


# retries and failures


def test_patch_failing_with_502_is_retried_once(
    server: FakeGitHubServer, client: GitHubClient, retry_waits: list[float]
) -> None:
    client.upsert_comment(7, "v1", marker=MARKER)
    server.fail_next("PATCH", "/issues/comments/", status=502)

    client.upsert_comment(7, "v2", marker=MARKER)

    assert [c["body"] for c in server.comments(7)] == [f"{MARKER}\nv2"]
    assert count(server, "PATCH", "/issues/comments/") == 2
    assert len(retry_waits) == 1


def test_post_failing_with_502_is_retried_and_leaves_one_comment(
    server: FakeGitHubServer, client: GitHubClient, retry_waits: list[float]
) -> None:
    server.fail_next("POST", "/comments", status=502)

    client.upsert_comment(7, "v1", marker=MARKER)

    assert [c["body"] for c in server.comments(7)] == [f"{MARKER}\nv1"]
    assert count(server, "POST", "/comments") == 2
    assert len(retry_waits) == 1


def test_post_whose_response_was_lost_is_not_posted_twice(
    server: FakeGitHubServer, client: GitHubClient, retry_waits: list[float]
) -> None:
    # GitHub created the comment, but the gateway answered 502: a blind re-POST would duplicate it.
    server.fail_next("POST", "/comments", status=502, committed=True)

    client.upsert_comment(7, "v1", marker=MARKER)

    assert [c["body"] for c in server.comments(7)] == [f"{MARKER}\nv1"]
    assert count(server, "POST", "/comments") == 1
    assert count(server, "PATCH", "/comments") == 0  # the re-list found it already identical


def test_secondary_rate_limit_waits_for_retry_after_then_succeeds(
    server: FakeGitHubServer, client: GitHubClient, retry_waits: list[float]
) -> None:
    server.fail_next("POST", "/statuses/", status=403, headers={"retry-after": "3"})

    client.set_status(HEAD, state="pending", context="evalgate", description="running")

    assert retry_waits == [3.0]
    assert [s["state"] for s in server.statuses(HEAD)] == ["pending"]


def test_exhausted_primary_rate_limit_waits_until_the_reset(
    server: FakeGitHubServer, client: GitHubClient, retry_waits: list[float]
) -> None:
    reset = str(int(time.time()) + 5)
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    server.fail_next("GET", "/pulls/7", status=403, headers=headers, message="API rate limit exceeded")

    assert client.pull_files(7) == []
    assert len(retry_waits) == 1
    assert 3.0 <= retry_waits[0] <= 5.0


def test_secondary_rate_limit_message_without_headers_waits_a_minute(
    server: FakeGitHubServer, client: GitHubClient, retry_waits: list[float]
) -> None:
    server.fail_next("POST", "/statuses/", status=403, message=SECONDARY_RATE_LIMIT_MESSAGE)

    client.set_status(HEAD, state="success", context="evalgate", description="ok")

    assert retry_waits == [60.0]


def test_persistent_5xx_gives_up_after_max_attempts(
    server: FakeGitHubServer, client: GitHubClient, retry_waits: list[float]
) -> None:
    server.fail_next("GET", "/files", status=503, times=10)

    with pytest.raises(GitHubError, match=r"gave up after 4 attempts.*HTTP 503") as info:
        client.pull_files(7)
    assert info.value.status == 503
    assert not info.value.retryable
    assert len(retry_waits) == 3


def test_fork_read_only_token_raises_permission_error_without_retrying(
    server: FakeGitHubServer, client: GitHubClient, retry_waits: list[float]
) -> None:
    server.read_only = True

    with pytest.raises(GitHubPermissionError, match="Resource not accessible by integration") as info:
        client.upsert_comment(7, "report", marker=MARKER)
    with pytest.raises(GitHubPermissionError, match="fork only ever gets a read-only GITHUB_TOKEN"):
        client.set_status(HEAD, state="failure", context="evalgate", description="gate failed")

    assert info.value.status == 403
    assert not info.value.retryable
    assert retry_waits == []
    assert server.comments(7) == []
    assert count(server, "POST", "") == 2


def test_write_to_a_repository_the_token_cannot_see_is_a_permission_error(server: FakeGitHubServer) -> None:
    hidden = GitHubClient(TOKEN, api_url=server.url, repository="octo/private")
    with pytest.raises(GitHubPermissionError, match="HTTP 404"):
        hidden.set_status(HEAD, state="success", context="evalgate", description="ok")


def test_bad_token_is_a_401_and_is_not_retried(server: FakeGitHubServer, retry_waits: list[float]) -> None:
    wrong = GitHubClient("ghs_wrong", api_url=server.url, repository="octo/repo")

    with pytest.raises(GitHubError, match="HTTP 401: Bad credentials") as info:
        wrong.upsert_comment(7, "report", marker=MARKER)

    assert type(info.value) is GitHubError
    assert info.value.status == 401
    assert retry_waits == []
    assert len(server.requests) == 1


def test_unreachable_api_is_retried_then_reported(retry_waits: list[float]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the client connects
    gh = GitHubClient(TOKEN, api_url=f"http://127.0.0.1:{port}", repository="octo/repo", max_attempts=3)

    with pytest.raises(GitHubError, match="no response from GitHub") as info:
        gh.file_at("README.md", HEAD)

    assert info.value.status == 0
    assert len(retry_waits) == 2


def test_api_base_url_comes_from_the_argument(server: FakeGitHubServer, client: GitHubClient) -> None:
    client.set_status(HEAD, state="success", context="evalgate", description="ok")

    assert [r.path for r in server.requests] == [f"/repos/octo/repo/statuses/{HEAD}"]
    assert server.requests[0].headers["authorization"] == f"token {TOKEN}"
    assert server.requests[0].headers["user-agent"] == "ai-eval-gate"
    assert "github.com" not in Path(evalgate.github.__file__).read_text(encoding="utf-8")


# statuses


def test_status_description_over_140_characters_is_truncated_not_rejected(
    server: FakeGitHubServer, client: GitHubClient
) -> None:
    run = f"{server.url}/octo/repo/actions/runs/1"
    client.set_status(HEAD, state="failure", context="evalgate/gate", description="x" * 300, target_url=run)
    client.set_status(HEAD, state="success", context="evalgate/gate", description="y" * 140)

    first, second = server.statuses(HEAD)
    assert len(first["description"]) == 140
    assert str(first["description"]).endswith("x…")
    assert (first["state"], first["context"], first["target_url"]) == ("failure", "evalgate/gate", run)
    assert second["description"] == "y" * 140
    assert second["target_url"] is None


def test_invalid_status_state_is_refused_locally(server: FakeGitHubServer, client: GitHubClient) -> None:
    with pytest.raises(ValueError, match="state must be one of"):
        client.set_status(HEAD, state="passed", context="evalgate", description="")  # type: ignore[arg-type]
    assert server.requests == []


# pull request files


def test_pull_files_reads_every_page_and_keeps_renames_and_removals(
    server: FakeGitHubServer, client: GitHubClient
) -> None:
    files: list[ChangedFile | str] = [f"src/m{i:03}.py" for i in range(247)]
    files += [
        ChangedFile("prompts/new.j2", "renamed", "evals/prompts/old.j2"),
        ChangedFile("evals/x.yaml", "removed"),
    ]
    server.add_pull(9, HEAD, BASE, files=files)

    changed = client.pull_files(9)

    assert len(changed) == 249
    assert changed[-2:] == [
        ChangedFile("prompts/new.j2", "renamed", "evals/prompts/old.j2"),
        ChangedFile("evals/x.yaml", "removed", None),
    ]
    assert changed[0] == ChangedFile("src/m000.py", "modified", None)
    pages = [r.query.get("page", "1") for r in server.requests if r.path.endswith("/files")]
    assert pages == ["1", "2", "3"]
    assert all(r.query["per_page"] == "100" for r in server.requests if r.path.endswith("/files"))


def test_pull_with_more_than_3000_files_fails_closed(server: FakeGitHubServer, client: GitHubClient) -> None:
    server.add_pull(9, HEAD, BASE, files=[f"f{i}" for i in range(3001)])

    with pytest.raises(GitHubError, match=r"3001 files.*fails closed"):
        client.pull_files(9)
    assert count(server, "GET", "/files") == 0  # decided from changed_files, without listing 30 pages


def test_pull_with_exactly_3000_files_is_complete(server: FakeGitHubServer, client: GitHubClient) -> None:
    server.add_pull(9, HEAD, BASE, files=[f"f{i}" for i in range(3000)])

    assert len(client.pull_files(9)) == 3000


def test_missing_pull_request_is_an_error(client: GitHubClient) -> None:
    with pytest.raises(GitHubError, match="HTTP 404: Not Found"):
        client.pull_files(404)


# file contents


def test_file_at_decodes_base64_and_returns_none_when_missing(
    server: FakeGitHubServer, client: GitHubClient
) -> None:
    text = "cases:\n" + "".join(f"  - id: case-{i}  # größer als\n" for i in range(40))
    server.set_file(BASE, "evals/suite.yaml", text)

    assert client.file_at("evals/suite.yaml", BASE) == text
    assert client.file_at("/evals/suite.yaml", BASE) == text
    assert client.file_at("evals/suite.yaml", HEAD) is None
    assert client.file_at("evals/other.yaml", BASE) is None
    assert [r.query for r in server.requests][-1] == {"ref": BASE}


def test_file_at_on_a_directory_is_an_error(server: FakeGitHubServer, client: GitHubClient) -> None:
    server.set_file(BASE, "evals/suite.yaml", "cases: []\n")

    with pytest.raises(GitHubError, match="is a directory"):
        client.file_at("evals", BASE)


# deployments


def test_deployment_and_its_statuses(server: FakeGitHubServer, client: GitHubClient) -> None:
    deployment_id = client.create_deployment(HEAD, environment="canary", description="canary 5%")
    client.deployment_status(
        deployment_id, state="in_progress", description="5% of traffic", log_url="http://log/1"
    )
    client.deployment_status(deployment_id, state="success", description="promoted " * 30)

    [deployment] = server.deployments()
    assert (deployment["id"], deployment["ref"], deployment["environment"]) == (deployment_id, HEAD, "canary")
    posted = server.requests[0].json
    assert (posted["auto_merge"], posted["required_contexts"]) == (False, [])
    statuses = deployment["statuses"]
    assert [(s["state"], s["log_url"]) for s in statuses] == [
        ("in_progress", "http://log/1"),
        ("success", ""),
    ]
    assert len(statuses[1]["description"]) == 140


# the fake itself, as a plain HTTP client sees it


def test_fake_paginates_with_link_headers(server: FakeGitHubServer) -> None:
    server.add_comments(7, [f"c{i}" for i in range(45)])
    auth = {"Authorization": f"Bearer {TOKEN}"}

    first = requests.get(
        f"{server.url}/repos/octo/repo/issues/7/comments?per_page=20", headers=auth, timeout=5
    )
    last = requests.get(first.links["last"]["url"], headers=auth, timeout=5)

    assert [c["body"] for c in first.json()] == [f"c{i}" for i in range(20)]
    assert first.links["next"]["url"].endswith("per_page=20&page=2")
    assert [c["body"] for c in last.json()] == [f"c{i}" for i in range(40, 45)]
    assert "next" not in last.links
    assert set(first.json()[0]) >= {"id", "node_id", "body", "user", "html_url", "created_at", "updated_at"}


def test_fake_answers_githubs_error_shapes(server: FakeGitHubServer) -> None:
    auth = {"Authorization": f"token {TOKEN}"}
    statuses = f"{server.url}/repos/octo/repo/statuses/{HEAD}"

    unauthorised = requests.post(statuses, json={"state": "success"}, timeout=5)
    too_long = requests.post(
        statuses, json={"state": "success", "description": "x" * 141}, headers=auth, timeout=5
    )
    missing = requests.get(f"{server.url}/repos/octo/repo/contents/nope", headers=auth, timeout=5)

    assert (unauthorised.status_code, unauthorised.json()["message"]) == (401, "Bad credentials")
    assert too_long.status_code == 422
    assert too_long.json()["message"] == "Validation Failed"
    assert too_long.json()["errors"][0]["field"] == "description"
    assert (missing.status_code, missing.json()["message"]) == (404, "Not Found")
    assert "documentation_url" in missing.json()


def test_fake_contents_are_base64_like_githubs(server: FakeGitHubServer) -> None:
    server.set_file("main", "README.md", "hello\n" * 30)

    got = requests.get(
        f"{server.url}/repos/octo/repo/contents/README.md",
        headers={"Authorization": f"token {TOKEN}"},
        timeout=5,
    ).json()

    assert (got["type"], got["encoding"]) == ("file", "base64")
    assert "\n" in got["content"]
    assert base64.b64decode(got["content"]).decode() == "hello\n" * 30


# what a workflow_run stage asks GitHub instead of believing an artifact


def test_pull_reports_head_base_fork_and_labels(server: FakeGitHubServer, client: GitHubClient) -> None:
    server.add_pull(9, "c" * 40, BASE, head_repo="fork/repo", labels=["evalgate:trusted"], commits=["d" * 40])
    info = client.pull(9)
    assert (info.head_sha, info.base_sha, info.state) == ("c" * 40, BASE, "open")
    assert (info.head_repo, info.base_repo, info.labels) == ("fork/repo", "octo/repo", ("evalgate:trusted",))
    assert client.pulls_for_commit("d" * 40) == [9]
    assert client.pulls_for_commit(HEAD) == [7]
    assert client.pulls_for_commit("e" * 40) == []


def test_reviews_come_oldest_first_with_their_commit(server: FakeGitHubServer, client: GitHubClient) -> None:
    server.add_review(7, "alice", "APPROVED", HEAD)
    server.add_review(7, "bob", "CHANGES_REQUESTED", BASE)
    assert [(r.login, r.state, r.commit_id) for r in client.reviews(7)] == [
        ("alice", "APPROVED", HEAD),
        ("bob", "CHANGES_REQUESTED", BASE),
    ]


def test_token_login_is_none_for_an_installation_token(
    server: FakeGitHubServer, client: GitHubClient
) -> None:
    assert client.token_login() is None  # GET /user answers GITHUB_TOKEN with 403
    server.token_login = "eval-bot"
    assert client.token_login() == "eval-bot"


def test_issue_events_and_the_first_run_of_a_commit(server: FakeGitHubServer, client: GitHubClient) -> None:
    server.add_run(HEAD, at="2026-01-01T10:00:00Z")
    server.add_run(HEAD, at="2026-01-01T09:00:00Z")
    server.add_labels(7, "evalgate:trusted", at="2026-01-01T11:00:00Z")
    server.add_event(7, "head_ref_force_pushed", at="2026-01-01T12:00:00Z")
    first = client.first_run_at(HEAD)
    assert first is not None
    assert first.isoformat() == "2026-01-01T09:00:00+00:00"
    assert client.first_run_at(BASE) is None
    assert [(e, label, when.hour) for e, label, when in client.issue_events(7)] == [
        ("labeled", "evalgate:trusted", 11),
        ("head_ref_force_pushed", None, 12),
    ]
