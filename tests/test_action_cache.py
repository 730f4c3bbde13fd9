"""Where the Action keeps its response cache when the runner gives it no temp directory of its own."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from evalgate.action_env import default_cache_dir


@pytest.fixture
def tmpdir_root(tmp_path: Path) -> Iterator[Path]:
    """The system temp directory, for this test only (``tempfile.gettempdir`` reads ``tempfile.tempdir``)."""
    root = tmp_path / "tmp"
    root.mkdir()
    saved = tempfile.tempdir
    tempfile.tempdir = str(root)
    try:
        yield root
    finally:
        tempfile.tempdir = saved


def test_the_runner_temp_directory_holds_the_cache_when_the_runner_gives_one(tmp_path: Path) -> None:
    warnings: list[str] = []
    path = default_cache_dir({"RUNNER_TEMP": str(tmp_path)}, warnings.append)
    assert path == tmp_path / "evalgate-cache"
    assert warnings == []


def test_without_runner_temp_the_cache_is_a_private_directory_of_this_user(tmpdir_root: Path) -> None:
    warnings: list[str] = []
    path = default_cache_dir({}, warnings.append)
    assert path == tmpdir_root / f"evalgate-cache-{os.getuid()}"
    info = path.lstat()
    assert path.is_dir()
    assert info.st_uid == os.getuid()
    assert info.st_mode & 0o777 == 0o700
    assert default_cache_dir({}, warnings.append) == path  # the next run finds and reuses it
    assert warnings == []


@pytest.mark.parametrize(
    ("plant", "why"),
    [
        ("another user", f"it belongs to another user (uid {os.getuid()})"),
        ("group-writable", "others can write to it (mode 770)"),
        ("world-writable", "others can write to it (mode 1777)"),
        ("symlink", "it is not a directory"),
        ("file", "it is not a directory"),
    ],
)
def test_a_cache_directory_someone_else_could_write_to_is_not_used(
    tmpdir_root: Path, plant: str, why: str
) -> None:
    # seen from a user whose uid is not the owner's: the same check as a chown, without needing root
    uid = os.getuid() + (plant == "another user")
    path = tmpdir_root / f"evalgate-cache-{uid}"
    elsewhere = tmpdir_root / "theirs"
    elsewhere.mkdir(mode=0o700)
    (elsewhere / "ab").mkdir()
    (elsewhere / "ab" / "abcd.json").write_text('{"planted": true}')
    if plant == "symlink":
        path.symlink_to(elsewhere)
    elif plant == "file":
        path.write_text("")
    else:
        elsewhere.rename(path)
        if plant != "another user":
            path.chmod(0o770 if plant == "group-writable" else 0o1777)
    warnings: list[str] = []
    used = default_cache_dir({}, warnings.append, uid=uid)
    assert len(warnings) == 1
    assert warnings[0].startswith(f"not using the response cache {path}: {why};")
    assert warnings[0].endswith("this run starts with an empty private cache")
    # an empty directory only this process writes to: nothing planted can answer for the model
    assert used != path
    assert used.parent == tmpdir_root
    assert used.is_dir()
    assert list(used.iterdir()) == []
    assert used.lstat().st_mode & 0o777 == 0o700
