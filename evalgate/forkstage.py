"""Fork mode, stage 2: a ``workflow_run`` job with secrets that trusts nothing the fork's run produced.

Stage 1 ran on ``pull_request``, where a fork controls the workflow file too, so its artifact (results,
event file) is the PR author's word. This stage takes the pull request from GitHub, checks that its head
is the commit that ran, and re-evaluates: the base commit's code and config, with only the PR's data files
(suites and prompt templates) read as git blobs of the head commit. A PR that changes anything the
evaluation would execute is not evaluated with secrets until a maintainer labels it trusted.
"""

from __future__ import annotations

import datetime
import os
import posixpath
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from evalgate.errors import UsageError
from evalgate.gatechange import GateChanges

if TYPE_CHECKING:
    from evalgate.action_env import PullRequest
    from evalgate.changes import ChangedFile
    from evalgate.config import LoadedConfig
    from evalgate.evaluation import Project, RunOptions
    from evalgate.github import GitHubClient
    from evalgate.gitlocal import LocalGit
    from evalgate.results import CaseResult, RunResult
    from evalgate.suite import Case

MAX_INPUT_BYTES = 10 * 1024 * 1024  # results and event files a stage reads from an artifact
NEEDS_MAINTAINER = "needs a maintainer: the PR changes code the eval runs"
_CODE_PROVIDERS = ("python", "command")
CODE_CHECKS = ("python", "javascript")  # checks whose spec is, or names, code the eval runs
CODE_REASON = (
    "the eval runs repository code (a python or command provider, a python or javascript check, "
    "a transform or transform_vars)"
)


def pull_from_github(
    event: Mapping[str, Any], gh: GitHubClient | None, repository: str | None, commit: str | None
) -> PullRequest:
    """The PR a ``workflow_run`` event is about, from GitHub: its head must be the commit that ran."""
    from evalgate.action_env import PullRequest

    run = event.get("workflow_run")
    head_sha = run.get("head_sha") if isinstance(run, dict) else None
    if not isinstance(head_sha, str) or not head_sha:
        raise UsageError(
            "the workflow_run event has no workflow_run.head_sha",
            fix="run the report stage on `workflow_run` of the PR stage",
        )
    if commit and not head_sha.startswith(commit.lower()):
        raise UsageError(
            f"the commit input ({commit[:12]}) is not the workflow run's head ({head_sha[:12]})",
            fix="pass commit: ${{ github.event.workflow_run.head_sha }}, or leave it empty",
        )
    if gh is None or not repository:
        raise UsageError(
            "the report stage needs github-token and GITHUB_REPOSITORY to ask GitHub which PR ran",
            fix="map github-token: ${{ github.token }} with pull-requests: read",
        )
    # workflow_run.pull_requests is empty for forks; the commits API knows every PR holding the commit
    assert isinstance(run, dict)
    listed = [p.get("number") for p in run.get("pull_requests") or [] if isinstance(p, dict)]
    numbers = [n for n in listed if isinstance(n, int)] or gh.pulls_for_commit(head_sha)
    found = []
    for number in dict.fromkeys(numbers):
        info = gh.pull(number)
        if info.head_sha == head_sha and info.state == "open" and info.base_repo in (None, repository):
            found.append(info)
    if not found:
        raise UsageError(
            f"no open pull request has {head_sha[:12]} as its head (a newer push, or a closed PR): "
            "nothing to report for this commit"
        )
    if len(found) > 1:
        numbers_text = ", ".join(f"#{p.number}" for p in found)
        raise UsageError(f"{head_sha[:12]} is the head of several open pull requests ({numbers_text})")
    info = found[0]
    return PullRequest(
        number=info.number,
        head_sha=info.head_sha,
        base_sha=info.base_sha,
        head_repo=info.head_repo,
        base_repo=info.base_repo or repository,
        labels=info.labels,
    )


@dataclass(frozen=True)
class FileSort:
    """The PR's changed files as stage 2 sees them."""

    data: tuple[str, ...]  # suites and prompt templates: overlaid from the head commit as blobs
    executable: tuple[tuple[str, str], ...]  # (file, why): the eval would run or be configured by it
    unused: tuple[str, ...]  # not read by the evaluation; the base version stays

    @property
    def needs_maintainer(self) -> bool:
        return bool(self.executable)


def _rel(path: str, root: str) -> str | None:
    """``path`` relative to the config's folder ``root`` (both repo-relative); ``None`` outside it."""
    if root in ("", "."):
        return path
    prefix = root.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else None


def _glob_match(path: str, patterns: Iterable[str]) -> bool:
    from evalgate.policy import matches

    return matches(path, [p.removeprefix("./") for p in patterns])


def runs_repo_code(loaded: LoadedConfig, cases: Sequence[Case]) -> bool:
    """Whether the evaluation imports or executes files of the repository (providers or checks)."""
    models = [loaded.config.model, *([loaded.config.judge] if loaded.config.judge else [])]
    if any(m.provider in _CODE_PROVIDERS for m in models):
        return True
    return any(
        getattr(case.spec, "transform", None)
        or getattr(case.spec, "transform_vars", None)
        or any(check.type in CODE_CHECKS or getattr(check, "transform", None) for check in case.spec.checks)
        for case in cases
    )


def sort_files(
    changed: Sequence[ChangedFile], base: LoadedConfig, base_cases: Sequence[Case], config_rel: str
) -> FileSort:
    """Which changed files are data, which are code the eval runs, and which the eval never reads."""
    root = PurePosixPath(config_rel).parent.as_posix()
    cfg = base.config
    prompt_files = {(PurePosixPath(root) / p).as_posix().removeprefix("./") for p in cfg.prompts.values()}
    code = runs_repo_code(base, base_cases)
    data: list[str] = []
    executable: list[tuple[str, str]] = []
    unused: list[str] = []
    for f in changed:
        names = [f.filename]
        if f.status == "renamed" and f.previous_filename:
            names.append(f.previous_filename)
        for name in names:
            in_root = _rel(name, root)
            is_suite = in_root is not None and _glob_match(in_root, cfg.suites)
            is_prompt = name in prompt_files or _glob_match(name, cfg.policy.prompt_paths)
            if name == config_rel:
                executable.append((name, "the eval config"))
            elif is_suite or is_prompt:
                data.append(name)
            elif code:
                executable.append((name, CODE_REASON))
            else:
                unused.append(name)
    return FileSort(
        tuple(dict.fromkeys(data)), tuple(dict.fromkeys(executable)), tuple(dict.fromkeys(unused))
    )


def overlay(git: LocalGit, tree: Path, head: str, files: Iterable[str]) -> None:
    """Write each data file's blob at ``head`` into ``tree`` (or delete it there); nothing is executed."""
    for name in files:
        target = tree / name
        if not target.resolve().is_relative_to(tree.resolve()):
            raise UsageError(f"the pull request's file {name!r} lies outside the repository")
        text = git.show(head, name)
        if text is None:
            target.unlink(missing_ok=True)
            continue
        if len(text.encode("utf-8")) > MAX_INPUT_BYTES:
            raise UsageError(f"{name} at {head[:12]} is larger than {MAX_INPUT_BYTES // 2**20} MB")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink():
            target.unlink()
        target.write_text(text, encoding="utf-8")


def references(cases: Iterable[Case]) -> set[str]:
    """What suites make the eval run or read: code checks (python, javascript) and the files checks name."""
    found: set[str] = set()
    for case in cases:
        if getattr(case.spec, "transform", None):
            found.add(f"transform {case.spec.transform}")  # JavaScript run over every answer
        if getattr(case.spec, "transform_vars", None):
            found.add(f"transform_vars {case.spec.transform_vars}")  # JavaScript run over the vars
        for check in case.spec.checks:
            if check.type in CODE_CHECKS:
                code = getattr(check, "function", None) or getattr(check, "value", "")
                found.add(f"{check.type} check {code}")
            if getattr(check, "transform", None):
                found.add(f"transform {check.transform}")
            for name, value in check:
                if name.endswith("_file") and isinstance(value, str) and value:
                    # such files resolve against the suite's folder: name them by where they land
                    where = posixpath.normpath(posixpath.join(posixpath.dirname(case.suite), value))
                    found.add(f"{name} {where}")
    return found


def new_references(base_cases: Iterable[Case], head_cases: Iterable[Case]) -> list[tuple[str, str]]:
    """(suite, what) for every function or file a head suite names that no base suite did."""
    known = references(base_cases)
    out: dict[tuple[str, str], None] = {}
    for case in head_cases:
        for ref in sorted(references([case]) - known):
            out[(case.suite, f"case {case.id} names {ref}")] = None
    return list(out)


def outside_references(tree: Path, files: Iterable[str]) -> list[tuple[str, str]]:
    """(file, why) for every ``cases:`` file reference of an overlaid suite that leaves the repository.

    Checked before the suites load, since loading reads those files (and an error could quote them).
    """
    import yaml

    root = Path(os.path.abspath(tree))
    out: list[tuple[str, str]] = []
    for name in files:
        path = tree / name
        if path.suffix.lower() not in (".yaml", ".yml", ".json") or not path.is_file():
            continue
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, yaml.YAMLError):
            continue  # loading reports it, with its line
        entries = data.get("cases") if isinstance(data, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, str):
                continue
            rel = entry.removeprefix("file://")
            target = Path(os.path.normpath(os.path.abspath(path.parent / rel)))
            if Path(rel).is_absolute() or not target.is_relative_to(root):
                out.append((name, f"its cases: entry {entry!r} names a file outside the repository"))
    return out


@dataclass(frozen=True)
class Stage2:
    """What stage 2 decided: the files, whether it evaluated, and (when it did) the evaluation."""

    sort: FileSort
    trusted: bool
    blocked: tuple[tuple[str, str], ...]  # (file, why) that stopped the evaluation; empty when it ran
    project: Project | None = None  # what ran: the head's suites and prompts, held to the base's bar
    run: RunResult | None = None
    base: Project | None = None
    base_cases: tuple[CaseResult, ...] | None = None
    changes: GateChanges = field(default_factory=GateChanges)


def evaluate(
    git: LocalGit,
    pr: PullRequest,
    config_rel: str,
    *,
    trusted_label: str,
    trusted: bool,
    baseline: bool,
    options: RunOptions,
    say: Callable[[str], None],
) -> Stage2:
    """Re-evaluate the PR from the base's code and config with the head's data files (or, trusted, all).

    Nothing runs with the secrets until the PR is known to change only data (or carries the label): the
    base config is loaded, the head's suites and prompts are laid over the base tree, and what they name
    (python check functions, schema files) must already be named on the base.
    """
    from evalgate.evaluation import execute, load_project
    from evalgate.prsides import bar_project

    for what, sha in (("head", pr.head_sha), ("base", pr.base_sha)):
        if not git.has_commit(sha):
            raise UsageError(
                f"the PR's {what} commit {sha[:12]} is not in the workspace",
                fix='check out with fetch-depth: 0 and fetch the head: git fetch origin "$HEAD_SHA"',
            )
    base = git.merge_base(pr.base_sha, pr.head_sha) or pr.base_sha
    changed = tuple(git.changed_files(base, pr.head_sha))
    with git.worktree(base) as tree:
        config_path = tree / config_rel
        base_project = head = None
        if not config_path.is_file():
            sort = FileSort((), ((config_rel, "the eval config (the PR adds it)"),), ())
            blocked = sort.executable
        else:
            base_project = load_project(config_path, cache_dir=options.cache_dir)
            sort = sort_files(changed, base_project.loaded, base_project.cases, config_rel)
            blocked = sort.executable
            if not blocked:
                overlay(git, tree, pr.head_sha, sort.data)
                blocked = tuple(outside_references(tree, sort.data))
            if not blocked:
                head = load_project(config_path, cache_dir=options.cache_dir)
                blocked = tuple(new_references(base_project.cases, head.cases))
        if blocked and not trusted:
            return Stage2(sort, trusted, blocked, base=base_project)
        base_cases = _base_run(git, base, config_rel, options, say) if baseline and base_project else None
        if trusted:
            say(f"evalgate: the PR carries '{trusted_label}': evaluating its head {pr.head_sha[:12]} in full")
            with git.worktree(pr.head_sha) as head_tree:
                full = load_project(head_tree / config_rel, cache_dir=options.cache_dir)
                project, changes = bar_project(base_project, full)
                run, _ = execute(project, project.cases, options)
        else:
            assert head is not None
            project, changes = bar_project(base_project, head)
            say(f"evalgate: evaluating the PR's suites and prompts ({pr.head_sha[:12]}) on the base's code")
            run, _ = execute(project, project.cases, options)
    changes = replace(changes, base_sha=base)
    return Stage2(sort, trusted, (), project, run, base_project, base_cases, changes)


def _base_run(
    git: LocalGit, base: str, config_rel: str, options: RunOptions, say: Callable[[str], None]
) -> tuple[CaseResult, ...]:
    from evalgate.evaluation import execute, load_project

    say(f"evalgate: evaluating the base commit {base[:12]} for comparison")
    with git.worktree(base) as tree:
        project = load_project(tree / config_rel, cache_dir=options.cache_dir)
        run, _ = execute(project, project.cases, options)
    return run.cases


def vouched(
    pr: PullRequest,
    label: str,
    events: Sequence[tuple[str, str | None, datetime.datetime]],
    first_run: datetime.datetime | None,
) -> tuple[bool, str]:
    """Whether the trusted label vouches for the PR's current head commit, and if not, why.

    A label sits on the pull request, not on a commit, so it counts only when it was added after the head
    was pushed (the head's first workflow run) and the branch was not force-pushed since: a push after the
    label, including a force push back to an older commit, needs a maintainer to add the label again.
    """
    if label not in pr.labels:
        return False, ""
    added = [when for event, name, when in events if event == "labeled" and name == label]
    if not added:
        return False, f"GitHub lists no event adding '{label}'"
    last = max(added)
    if first_run is None or first_run > last:
        return False, (
            f"'{label}' was added before {pr.head_sha[:12]} was pushed; a maintainer who has read the new "
            "commits must remove it and add it again"
        )
    if any(event == "head_ref_force_pushed" and when > last for event, _, when in events):
        return False, f"the branch was force-pushed after '{label}' was added; it must be added again"
    return True, ""


def maintainer_markdown(result: Stage2, label: str, stale: str = "") -> str:
    """The comment section that says why the PR was not evaluated and what a maintainer can do."""
    from evalgate.report.escape import md

    lines = [
        f"### ⛔ {NEEDS_MAINTAINER}",
        "",
        "This pull request changes files that the evaluation would execute or that configure it, so the "
        "report stage did not run it with the repository's secrets. A maintainer who has read the change "
        f"can add the label `{md(label, 100)}`; the next run then evaluates the head commit in full.",
        "",
    ]
    if stale:
        lines += [f"> ⚠️ The label is there but does not vouch for this commit: {md(stale, 300)}.", ""]
    for name, why in result.blocked[:50]:
        lines.append(f"- {md(name, 200)}: {md(why, 200)}")
    if len(result.blocked) > 50:
        lines.append(f"- … and {len(result.blocked) - 50} more")
    return "\n".join(lines) + "\n"
