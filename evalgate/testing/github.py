"""``FakeGitHubServer``: a loopback server speaking the slice of GitHub's REST API that evalgate uses.

Real HTTP with GitHub's JSON shapes, error bodies and ``Link`` pagination, so PyGithub, ``requests`` or
``curl`` can talk to it. Tests set state and inspect writes through Python methods, and inject faults.

The server's plumbing is in ``github_http``; each resource's state and routes are a mixin of their own:
``github_pulls``, ``github_comments``, ``github_statuses``, ``github_contents`` and ``github_watch``.
"""

from __future__ import annotations

from evalgate.testing.github_comments import CommentRoutes
from evalgate.testing.github_contents import ContentRoutes
from evalgate.testing.github_http import (
    BOT_LOGIN,
    FORK_TOKEN_MESSAGE,
    SECONDARY_RATE_LIMIT_MESSAGE,
    GitHubFault,
    GitHubRequest,
    Route,
)
from evalgate.testing.github_pulls import MAX_PULL_FILES, PullRoutes
from evalgate.testing.github_statuses import StatusRoutes
from evalgate.testing.github_watch import WatchRoutes

__all__ = [
    "BOT_LOGIN",
    "FORK_TOKEN_MESSAGE",
    "MAX_PULL_FILES",
    "SECONDARY_RATE_LIMIT_MESSAGE",
    "FakeGitHubServer",
    "GitHubFault",
    "GitHubRequest",
]


class FakeGitHubServer(PullRoutes, CommentRoutes, StatusRoutes, ContentRoutes, WatchRoutes):
    """A loopback GitHub REST API for one repository, with fault injection; use as a context manager."""

    def _init_resources(self) -> None:
        self._init_pulls()
        self._init_comments()
        self._init_statuses()
        self._init_contents()
        self._init_watch()  # issues, artifacts, refs, new pull requests

    def _routes(self) -> list[Route]:
        return [
            *self._pull_routes(),
            *self._comment_routes(),
            *self._status_routes(),
            *self._content_routes(),
            *self._deployment_routes(),
            *self._watch_routes(),
        ]
