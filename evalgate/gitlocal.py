"""Thin local git I/O for the path policy: changed files, file content at a ref, temporary worktrees.

Every call is ``git -C <root> -c core.quotepath=off ...`` with an argv list (no shell) and, where git
prints paths, ``-z`` output split on NUL, so names with spaces, quotes, newlines or non-ASCII work.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from evalgate.changes import ChangedFile
from evalgate.errors import InfrastructureError

TIMEOUT_S = 300.0
_STATUS = {
    "A": "added",
    "D": "removed",
    "M": "modified",
    "R": "renamed",
    "C": "copied",
    "T": "changed",  # type change, e.g. file -> symlink
    "U": "changed",
    "X": "changed",
}


class LocalGit:
    """One repository on disk, read through the ``git`` command line."""

    def __init__(self, root: Path, git: str = "git") -> None:
        self.root = Path(root)
        self.git = git
        self._checked = False

    def has_commit(self, sha: str) -> bool:
        """Whether ``sha`` names a commit present in this clone (a shallow checkout may lack it)."""
        if not _plausible(sha):
            return False
        return self._run(["cat-file", "-e", f"{sha}^{{commit}}"], ok=(0, 1, 128)).returncode == 0

    def changed_files(self, base: str, head: str) -> list[ChangedFile]:
        """Files that differ between the trees of ``base`` and ``head``, with renames detected."""
        out = self._run(["diff", "--name-status", "-z", "-M", "--no-ext-diff", _rev(base), _rev(head), "--"])
        tokens = _decode(out.stdout).split("\0")
        if tokens and tokens[-1] == "":
            tokens.pop()
        files: list[ChangedFile] = []
        i = 0
        while i < len(tokens):
            letter = tokens[i][:1]
            status = _STATUS.get(letter, "changed")
            if letter in ("R", "C"):
                if i + 2 >= len(tokens):
                    raise InfrastructureError(f"unexpected 'git diff' output near {tokens[i:]!r}")
                files.append(ChangedFile(tokens[i + 2], status, previous_filename=tokens[i + 1]))
                i += 3
            else:
                if i + 1 >= len(tokens):
                    raise InfrastructureError(f"unexpected 'git diff' output near {tokens[i:]!r}")
                files.append(ChangedFile(tokens[i + 1], status))
                i += 2
        return files

    def show(self, ref: str, path: str) -> str | None:
        """The text of ``path`` at ``ref``; ``None`` when no such file exists there."""
        proc = self._run(["cat-file", "blob", f"{_rev(ref)}:{path}"], ok=(0, 128))
        if proc.returncode == 0:
            # invalid UTF-8 becomes U+FFFD: the caller parses text, and will report what does not parse
            return proc.stdout.decode("utf-8", errors="replace")
        # git says "path does not exist" and "bad revision" with the same exit code: ask about the ref alone
        if self._run(
            ["rev-parse", "--verify", "--quiet", f"{_rev(ref)}^{{tree}}"], ok=(0, 1, 128)
        ).returncode:
            raise InfrastructureError(
                f"git cannot read '{path}' at '{ref}': {_stderr(proc)} "
                "(is the commit fetched? use actions/checkout with fetch-depth: 0)"
            )
        return None  # the ref exists, so the path does not (or is a directory or submodule)

    def merge_base(self, a: str, b: str) -> str | None:
        """The best common ancestor of ``a`` and ``b``; ``None`` when they share no history."""
        proc = self._run(["merge-base", _rev(a), _rev(b)], ok=(0, 1))
        if proc.returncode != 0:
            return None
        return _decode(proc.stdout).strip() or None

    @contextlib.contextmanager
    def worktree(self, ref: str) -> Iterator[Path]:
        """Check out ``ref`` detached in a temporary directory; always removed afterwards."""
        holder = Path(tempfile.mkdtemp(prefix="evalgate-worktree-"))
        path = holder / "tree"
        try:
            self._run(["worktree", "add", "--detach", "--quiet", str(path), _rev(ref)])
        except BaseException:
            shutil.rmtree(holder, ignore_errors=True)
            raise
        try:
            yield path
        finally:
            # cleanup must not hide the body's own error, so failures here are ignored
            self._run(["worktree", "remove", "--force", str(path)], ok=None)
            shutil.rmtree(holder, ignore_errors=True)
            self._run(["worktree", "prune"], ok=None)

    def ensure_safe_directory(self) -> bool:
        """Trust ``root`` globally when git refuses it as "dubious ownership"; True if it did."""
        proc = self._raw(["-C", str(self.root), "rev-parse", "--git-dir"])
        if proc.returncode == 0 or b"dubious ownership" not in proc.stderr:
            return False
        # inside the Action's container the workspace belongs to the runner's uid, not to root
        added = self._raw(["config", "--global", "--add", "safe.directory", str(self.root.resolve())])
        if added.returncode != 0:
            raise InfrastructureError(f"could not mark {self.root} as a safe git directory: {_stderr(added)}")
        return True

    # --- plumbing ---------------------------------------------------------------------------------

    def _run(
        self, args: Sequence[str], ok: Sequence[int] | None = (0,)
    ) -> subprocess.CompletedProcess[bytes]:
        """Run git in ``root``; exit codes outside ``ok`` raise (``ok=None`` accepts any)."""
        if not self._checked:
            # outside a repository 'git diff a b' silently compares two paths on disk instead of failing,
            # and other commands fail with codes we accept: so make sure once that this is a repository
            probe = self._raw(["-C", str(self.root), "rev-parse", "--git-dir"])
            if probe.returncode != 0:
                raise self._failure(["rev-parse", "--git-dir"], probe)
            self._checked = True
        proc = self._raw(["-C", str(self.root), "-c", "core.quotepath=off", *args])
        if ok is None or proc.returncode in ok:
            return proc
        raise self._failure(args, proc)

    def _failure(self, args: Sequence[str], proc: subprocess.CompletedProcess[bytes]) -> InfrastructureError:
        err = _stderr(proc)
        if "not a git repository" in err or "cannot change to" in err:
            return InfrastructureError(
                f"{self.root} is not a git repository ({err}); run evalgate inside a checkout"
            )
        if "dubious ownership" in err:
            return InfrastructureError(
                f"git refuses {self.root}: dubious ownership; run "
                f"'git config --global --add safe.directory {self.root}' (LocalGit.ensure_safe_directory)"
            )
        return InfrastructureError(f"'git {' '.join(args)}' failed (exit {proc.returncode}): {err}")

    def _raw(self, args: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
        # C locale: the error texts we look for are English; no prompt may block a CI job
        env = {**os.environ, "LC_ALL": "C", "LANGUAGE": "C", "GIT_TERMINAL_PROMPT": "0"}
        try:
            return subprocess.run(
                [self.git, *args], capture_output=True, env=env, timeout=TIMEOUT_S, check=False
            )
        except FileNotFoundError:
            raise InfrastructureError(
                f"'{self.git}' was not found: install git (apt-get install git) or put it on PATH"
            ) from None
        except subprocess.TimeoutExpired:
            raise InfrastructureError(f"'git {' '.join(args)}' took longer than {TIMEOUT_S:.0f}s") from None


def _rev(ref: str) -> str:
    """``ref`` unless it could be read as an option or is empty."""
    if not _plausible(ref):
        raise InfrastructureError(f"not a git revision: {ref!r}")
    return ref


def _plausible(ref: str) -> bool:
    return bool(ref) and not ref.startswith("-") and "\0" not in ref and ref.strip() == ref


def _decode(data: bytes) -> str:
    # surrogateescape keeps non-UTF-8 names byte-exact, so passing them back to git finds the same file
    return data.decode("utf-8", errors="surrogateescape")


def _stderr(proc: subprocess.CompletedProcess[bytes]) -> str:
    return " ".join(proc.stderr.decode("utf-8", errors="replace").split()) or f"exit {proc.returncode}"
