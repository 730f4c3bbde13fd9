"""The repository, its pull requests (files, labels, reviews, issue events) and workflow runs, for
``FakeGitHubServer``.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

from evalgate.changes import ChangedFile
from evalgate.testing.github_http import GitHubHttp, Json, Reply, Route, now

MAX_PULL_FILES = 3000  # GitHub's pulls/{n}/files stops listing here


class PullRoutes(GitHubHttp):
    """State and routes for the repository, pull requests, reviews, issue events and workflow runs."""

    def _init_pulls(self) -> None:
        self._pulls: dict[int, dict[str, Any]] = {}
        self._reviews: dict[int, list[dict[str, Any]]] = {}
        self._events: dict[int, list[dict[str, Any]]] = {}
        self._runs: list[dict[str, Any]] = []

    # set-up (take the lock themselves)

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
            run |= {"created_at": at or now(), "updated_at": at or now(), "name": "eval-gate PR stage"}
            self._runs.append(run | {"url": f"{self._api}/actions/runs/{run_id}"})
            return run_id

    def _new_event(self, number: int, event: str, at: str | None, label: str | None) -> None:
        event_id = next(self._ids)
        entry: dict[str, Any] = {"id": event_id, "node_id": f"E_fake{event_id}", "event": event}
        entry |= {"actor": self._user("maintainer"), "created_at": at or now(), "commit_id": None}
        entry["label"] = {"name": label, "color": "ededed"} if label is not None else None
        self._events.setdefault(number, []).append(entry | {"url": f"{self._api}/issues/events/{event_id}"})

    def add_review(self, number: int, login: str, state: str, commit_id: str) -> None:
        """Submit a review (``APPROVED``, ``CHANGES_REQUESTED``, ``COMMENTED``, ``DISMISSED``) on a commit."""
        with self._lock:
            review_id = next(self._ids)
            review = {"id": review_id, "node_id": f"PRR_fake{review_id}", "user": self._user(login)}
            review |= {"state": state, "commit_id": commit_id, "body": "", "submitted_at": now()}
            review |= {
                "html_url": f"{self.url}/{self.repository}/pull/{number}#pullrequestreview-{review_id}"
            }
            self._reviews.setdefault(number, []).append(review)

    # routes (called with the lock held)

    def _pull_routes(self) -> list[Route]:
        return [
            ("GET", r"", self._get_repo),
            ("GET", r"/pulls/(\d+)", self._get_pull),
            ("GET", r"/pulls/(\d+)/files", self._list_files),
            ("GET", r"/pulls/(\d+)/reviews", self._list_reviews),
            ("GET", r"/issues/(\d+)/events", self._list_events),
            ("GET", r"/actions/runs", self._list_runs),
            ("GET", r"/commits/([0-9A-Za-z]+)/pulls", self._commit_pulls),
        ]

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
