"""Combine shard reports into one run, so a sharded suite still gets one verdict, comment and status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from evalgate.errors import ConfigError, UsageError
from evalgate.report import load_json
from evalgate.results import GateVerdict, RunResult

# Reports hold the rendered prompt, every answer and every check's reason, so a large suite's report
# runs to tens of MB. Local commands accept up to 1 GiB; the Action reads results and saved baselines a
# pull request can control, so it passes the 10 MB cap it applies to every untrusted input.
MAX_REPORT_BYTES = 2**30
MAX_ACTION_REPORT_BYTES = 10 * 1024 * 1024


def read_report(path: Path, *, max_bytes: int = MAX_REPORT_BYTES) -> tuple[RunResult, GateVerdict]:
    """Load a report written by ``evalgate run --json``: at most ``max_bytes``, validated by its schema."""
    return load_json(read_report_text(path, max_bytes=max_bytes), source=str(path))


def read_report_text(path: Path, *, max_bytes: int = MAX_REPORT_BYTES) -> str:
    """A report file's text, unparsed; ``UsageError`` when it is missing, unreadable or over ``max_bytes``."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise UsageError(
                f"report {path} is {_mb(size)}, over the {_mb(max_bytes)} limit",
                fix=_too_big_fix(max_bytes),
            )
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(
            f"report {path} not found",
            fix="check the path (or the artifact download step); 'evalgate run --json FILE' writes one",
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot read report {path}: {exc.strerror}") from None


def _too_big_fix(max_bytes: int) -> str:
    if max_bytes < MAX_REPORT_BYTES:
        return (
            "the Action caps the reports it reads (results, baseline) because a pull request can supply "
            "them; judge a report this large with the evalgate CLI (evalgate merge, evalgate compare)"
        )
    return "check that the file is an evalgate JSON report; a suite this large needs splitting into shards"


def _mb(size: int) -> str:
    if size >= 2**30:
        return f"{size / 2**30:.1f} GiB"
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size:,} bytes"


def merge_runs(runs: Sequence[tuple[str, RunResult]]) -> RunResult:
    """One run holding every shard's cases; shards must share the model and must not overlap."""
    if not runs:
        raise UsageError(
            "no reports to merge", fix="pass the shard reports, e.g. evalgate merge shard-*.json"
        )
    first_name, first = runs[0]
    seen: dict[str, str] = {}
    cases = []
    for name, run in runs:
        if (run.provider, run.model) != (first.provider, first.model):
            raise ConfigError(
                f"report was made with {run.provider} {run.model}, but {first_name} with "
                f"{first.provider} {first.model}",
                file=name,
                fix="merge only shards of the same run",
            )
        for case in run.cases:
            if case.id in seen:
                raise ConfigError(
                    f"case '{case.id}' is also in {seen[case.id]}",
                    file=name,
                    fix="each case must run in exactly one shard; merge only one report per shard",
                )
            seen[case.id] = name
            cases.append(case)
    return RunResult(
        cases=tuple(cases),
        provider=first.provider,
        model=first.model,
        config_path=first.config_path,
        started_at=min(run.started_at for _, run in runs),
        duration_s=max(run.duration_s for _, run in runs),
        notes=tuple(dict.fromkeys(n for _, run in runs for n in run.notes)),
        retries=_sum_retries([run.retries for _, run in runs]),
        # a shard that stopped early (a signal, a provider down) makes the whole merge partial
        incomplete=any(run.incomplete for _, run in runs),
        planned=sum(run.planned or len(run.cases) for _, run in runs)
        if any(run.incomplete for _, run in runs)
        else None,
    )


def _sum_retries(counts: Sequence[Mapping[str, int] | None]) -> dict[str, int] | None:
    known = [c for c in counts if c is not None]
    if not known:
        return None
    total: dict[str, int] = {}
    for count in known:
        for kind, n in count.items():
            total[kind] = total.get(kind, 0) + n
    return total
