"""LocalGit against real repositories built in tmp_path."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from evalgate.changes import ChangedFile
from evalgate.errors import InfrastructureError
from evalgate.gitlocal import LocalGit

# identity and isolation through the environment, so no test touches anyone's global git config
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Eval Gate",
    "GIT_AUTHOR_EMAIL": "gate@example.com",
    "GIT_COMMITTER_NAME": "Eval Gate",
    "GIT_COMMITTER_EMAIL": "gate@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}
ODD = "prompts/my prompt – ünïcödé 🚀.md"
QUOTED = 'notes/tab\tand "quote"\nnewline.txt'  # git would C-quote this without -z
BODY = "".join(f"line {i}: the same text that makes a rename at least half similar\n" for i in range(20))


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "global.gitconfig"))


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def commit(root: Path, files: dict[str, str | None], message: str) -> str:
    """Write (or, for None, delete) files, commit everything, return the new sha."""
    for name, text in files.items():
        path = root / name
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str, str]:
    """A repo with a base and a head commit: one add, modify, delete and rename each, plus an odd name."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    base = commit(
        root,
        {
            "config.yaml": "ai:\n  model: gpt-4o-2024-08-06\n",
            "prompts/old.md": BODY,
            "prompts/gone.md": "bye\n",
        },
        "base",
    )
    head = commit(
        root,
        {
            "config.yaml": "ai:\n  model: gpt-4o-2024-11-20\n",
            "prompts/old.md": None,
            "archive/renamed.md": BODY + "one more line\n",
            "prompts/gone.md": None,
            ODD: "hello\n",
            QUOTED: "odd\n",
        },
        "head",
    )
    return root, base, head


def test_changed_files_maps_statuses_and_odd_names(repo: tuple[Path, str, str]) -> None:
    root, base, head = repo
    files = sorted(LocalGit(root).changed_files(base, head), key=lambda f: f.filename)
    assert files == [
        ChangedFile("archive/renamed.md", "renamed", previous_filename="prompts/old.md"),
        ChangedFile("config.yaml", "modified"),
        ChangedFile(QUOTED, "added"),
        ChangedFile("prompts/gone.md", "removed"),
        ChangedFile(ODD, "added"),
    ]


def test_changed_files_of_identical_trees_is_empty(repo: tuple[Path, str, str]) -> None:
    root, _, head = repo
    assert LocalGit(root).changed_files(head, head) == []


def test_show_reads_base_and_head_and_none_for_missing(repo: tuple[Path, str, str]) -> None:
    root, base, head = repo
    g = LocalGit(root)
    assert g.show(base, "config.yaml") == "ai:\n  model: gpt-4o-2024-08-06\n"
    assert g.show(head, "config.yaml") == "ai:\n  model: gpt-4o-2024-11-20\n"
    assert g.show(head, ODD) == "hello\n"
    assert g.show(head, QUOTED) == "odd\n"
    assert g.show(base, ODD) is None
    assert g.show(head, "prompts/gone.md") is None
    assert g.show(head, "prompts") is None  # a directory is not a file


def test_show_at_unknown_ref_is_an_infrastructure_error(repo: tuple[Path, str, str]) -> None:
    root, _, _ = repo
    with pytest.raises(InfrastructureError, match="fetch-depth"):
        LocalGit(root).show("f" * 40, "config.yaml")


def test_has_commit(repo: tuple[Path, str, str]) -> None:
    root, base, head = repo
    g = LocalGit(root)
    assert g.has_commit(base)
    assert g.has_commit(head[:12])
    assert not g.has_commit("0" * 40)
    assert not g.has_commit("--output=/tmp/x")
    tree = git(root, "rev-parse", f"{head}^{{tree}}")
    assert not g.has_commit(tree)  # an object, but not a commit


def test_merge_base(repo: tuple[Path, str, str]) -> None:
    root, base, head = repo
    git(root, "checkout", "-q", "-b", "side", base)
    side = commit(root, {"side.txt": "x\n"}, "side")
    g = LocalGit(root)
    assert g.merge_base(head, side) == base
    git(root, "checkout", "-q", "--orphan", "lonely")
    lonely = commit(root, {"alone.txt": "x\n"}, "unrelated history")
    assert g.merge_base(head, lonely) is None


def test_worktree_has_base_content_and_is_removed(repo: tuple[Path, str, str]) -> None:
    root, base, _ = repo
    g = LocalGit(root)
    with g.worktree(base) as tree:
        assert (tree / "config.yaml").read_text() == "ai:\n  model: gpt-4o-2024-08-06\n"
        assert (tree / "prompts/gone.md").exists()
        assert not (tree / ODD).exists()
        seen = tree
    assert not seen.exists()
    assert git(root, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert (root / ODD).exists()  # the main checkout is untouched


def test_worktree_is_removed_when_the_body_raises(repo: tuple[Path, str, str]) -> None:
    root, base, _ = repo
    seen: list[Path] = []

    def body() -> None:
        with LocalGit(root).worktree(base) as tree:
            seen.append(tree)
            (tree / "scratch.txt").write_text("dirty")  # --force removes a dirty worktree too
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        body()
    assert not seen[0].exists()
    assert not seen[0].parent.exists()
    assert git(root, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_worktree_of_unknown_ref_raises_and_leaves_nothing(repo: tuple[Path, str, str]) -> None:
    root, _, _ = repo
    with pytest.raises(InfrastructureError, match="worktree add"), LocalGit(root).worktree("f" * 40):
        pass
    assert git(root, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_not_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for call in (
        lambda g: g.changed_files("a", "b"),
        lambda g: g.has_commit("abc"),
        lambda g: g.show("HEAD", "x"),
        lambda g: g.merge_base("a", "b"),
    ):
        with pytest.raises(InfrastructureError, match="not a git repository"):
            call(LocalGit(plain))
    with pytest.raises(InfrastructureError, match="not a git repository"):
        LocalGit(tmp_path / "missing").changed_files("a", "b")


def test_missing_git_binary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InfrastructureError, match="install git"):
        LocalGit(tmp_path, git=str(tmp_path / "no-such-git")).has_commit("abc")


def test_option_like_refs_are_refused(repo: tuple[Path, str, str]) -> None:
    root, _, head = repo
    with pytest.raises(InfrastructureError, match="not a git revision"):
        LocalGit(root).changed_files("--output=/tmp/evil", head)


def test_ensure_safe_directory_does_nothing_for_a_trusted_repo(repo: tuple[Path, str, str]) -> None:
    root, _, _ = repo
    assert LocalGit(root).ensure_safe_directory() is False
    assert not (Path(os.environ["GIT_CONFIG_GLOBAL"])).exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_ensure_safe_directory_trusts_a_repo_owned_by_another_user(
    repo: tuple[Path, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, base, _ = repo
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL")
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("SUDO_UID", raising=False)
    for path in [root, *root.rglob("*")]:
        os.lchown(path, 4242, 4242)  # as in the Action: the workspace belongs to the runner's uid
    g = LocalGit(root)
    with pytest.raises(InfrastructureError, match="dubious ownership"):
        g.has_commit(base)
    assert g.ensure_safe_directory() is True
    assert f"directory = {root}" in (tmp_path / ".gitconfig").read_text()
    assert g.has_commit(base)
    assert g.ensure_safe_directory() is False
