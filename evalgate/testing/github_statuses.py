"""What is reported on a commit: commit statuses (and their combined state), check runs, deployments
and deployment statuses, for ``FakeGitHubServer``.
"""

from __future__ import annotations

from typing import Any

from evalgate.testing.github_http import GitHubHttp, Json, Reply, Route

_STATUS_STATES = {"pending", "success", "failure", "error"}
_DEPLOY_STATES = {"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}


class StatusRoutes(GitHubHttp):
    """State and routes for commit statuses, check runs and deployments."""

    def _init_statuses(self) -> None:
        self._statuses: dict[str, list[dict[str, Any]]] = {}
        self._check_runs: dict[str, list[dict[str, Any]]] = {}
        self._deployments: dict[int, dict[str, Any]] = {}

    # set-up and inspection (take the lock themselves)

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

    def statuses(self, sha: str) -> list[dict[str, Any]]:
        """The commit statuses posted for ``sha``, oldest first."""
        with self._lock:
            return [dict(s) for s in self._statuses.get(sha, [])]

    def deployments(self) -> list[dict[str, Any]]:
        """Every deployment created, oldest first, each with its ``statuses`` list."""
        with self._lock:
            return [dict(d, statuses=list(d["statuses"])) for d in self._deployments.values()]

    # routes (called with the lock held)

    def _status_routes(self) -> list[Route]:
        return [
            ("POST", r"/statuses/([0-9A-Za-z]+)", self._create_status),
            ("GET", r"/commits/([^/]+)/statuses", self._list_statuses),
            ("GET", r"/commits/([^/]+)/status", self._combined_status),
            ("GET", r"/commits/([^/]+)/check-runs", self._list_check_runs),
        ]

    def _deployment_routes(self) -> list[Route]:
        return [
            ("POST", r"/deployments", self._create_deployment),
            ("POST", r"/deployments/(\d+)/statuses", self._create_deployment_status),
        ]

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
