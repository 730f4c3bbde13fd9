"""Repository files at a ref, read and written through the contents API, for ``FakeGitHubServer``."""

from __future__ import annotations

import base64
import hashlib
import re

from evalgate.testing.github_http import GitHubHttp, Json, Reply, Route, blob_sha


class ContentRoutes(GitHubHttp):
    """State and routes for ``GET``/``PUT /contents/{path}``: text by (ref, path)."""

    def _init_contents(self) -> None:
        self._files: dict[tuple[str, str], str] = {}

    def set_file(self, ref: str, path: str, text: str) -> None:
        """Make ``path`` hold ``text`` at ``ref`` (a sha or branch name) for the contents API."""
        with self._lock:
            self._files[(ref, path.strip("/"))] = text

    # routes (called with the lock held)

    def _content_routes(self) -> list[Route]:
        return [
            ("GET", r"/contents/?(.*)", self._get_contents),
            ("PUT", r"/contents/(.+)", self._put_contents),
        ]

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
                "sha": blob_sha(text),
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
        if current is not None and sha != blob_sha(current):
            return self._error(409, f"{path} does not match {sha}")
        text = base64.b64decode(body["content"]).decode("utf-8")
        self._files[(branch, path)] = text
        commit = {"sha": hashlib.sha1(f"{branch}:{path}:{next(self._ids)}".encode()).hexdigest()}
        commit |= {"message": body["message"], "url": f"{self._api}/git/commits/{commit['sha']}"}
        content = {"type": "file", "name": path.rsplit("/", 1)[-1], "path": path, "sha": blob_sha(text)}
        return (201 if current is None else 200), {"content": content, "commit": commit}, {}
