"""Issue and pull-request comments (the sticky report comment among them), for ``FakeGitHubServer``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from evalgate.testing.github_http import BOT_LOGIN, GitHubHttp, Json, Reply, Route, now


class CommentRoutes(GitHubHttp):
    """State and routes for issue comments: list, create, read and edit."""

    def _init_comments(self) -> None:
        self._comments: dict[int, dict[str, Any]] = {}  # by id, in creation order

    # set-up and inspection (take the lock themselves)

    def add_comments(self, number: int, bodies: Iterable[str], *, user: str = "someone") -> list[int]:
        """Post comments on issue/PR ``number`` as ``user`` (a bot when the login ends in ``[bot]``)."""
        with self._lock:
            return [self._new_comment(number, body, user)["id"] for body in bodies]

    def comments(self, number: int) -> list[dict[str, Any]]:
        """The comments on issue/PR ``number``, oldest first, as the API would return them."""
        with self._lock:
            return [dict(c) for c in self._comments.values() if c["_issue"] == number]

    # routes (called with the lock held)

    def _comment_routes(self) -> list[Route]:
        return [
            ("GET", r"/issues/(\d+)/comments", self._list_comments),
            ("POST", r"/issues/(\d+)/comments", self._create_comment),
            ("GET", r"/issues/comments/(\d+)", self._get_comment),
            ("PATCH", r"/issues/comments/(\d+)", self._edit_comment),
        ]

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
        comment.update(body=body["body"], updated_at=now())
        return 200, self._public(comment), {}

    def _new_comment(self, number: int, body: str, login: str) -> dict[str, Any]:
        comment_id = next(self._ids)
        comment: dict[str, Any] = {"_issue": number, "id": comment_id, "node_id": f"IC_fake{comment_id}"}
        comment |= {"url": f"{self._api}/issues/comments/{comment_id}", "body": body}
        comment |= {"issue_url": f"{self._api}/issues/{number}"}
        comment |= {"html_url": f"{self.url}/{self.repository}/pull/{number}#issuecomment-{comment_id}"}
        comment |= {"user": self._user(login), "created_at": now(), "updated_at": now()}
        comment["author_association"] = "NONE" if login.endswith("[bot]") else "CONTRIBUTOR"
        self._comments[comment_id] = comment
        return comment

    @staticmethod
    def _public(comment: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in comment.items() if not k.startswith("_")}
