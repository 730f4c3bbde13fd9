"""``evalgate compare``: paired score delta, case moves, cost, latency and model identity of two reports."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from evalgate.cli import main
from evalgate.compare import Rules, compare_runs, t_quantile
from evalgate.gate import GateConfig, decide
from evalgate.report import render_json
from evalgate.report.comparison import render_comparison_markdown
from evalgate.results import CaseResult, CheckResult, Completion, RunResult, Trial
from evalgate.testing import FakeModelServer


def trial(
    passed: bool,
    *,
    model: str = "gpt-4o-2024-11-20",
    fp: str | None = "fp_a",
    cost: float = 0.01,
    latency: float = 100.0,
) -> Trial:
    completion = Completion("answer", model, 10, 5, latency, cost, system_fingerprint=fp)
    check = CheckResult("contains", passed, 1.0 if passed else 0.0, "ok" if passed else "missing 'x'")
    return Trial(completion, (check,))


def case(case_id: str, passes: Sequence[bool], *, min_pass: int | None = None, **kw: object) -> CaseResult:
    trials = tuple(trial(p, **kw) for p in passes)  # type: ignore[arg-type]
    need = min_pass if min_pass is not None else len(passes)
    return CaseResult(case_id, "evals/s.yaml", 1, trials, min_pass=need)


def run(cases: Sequence[CaseResult], model: str = "gpt-4o-2024-11-20") -> RunResult:
    return RunResult(tuple(cases), "openai", model, "evalgate.yaml", "2026-01-01T00:00:00Z", 1.0)


def write(path: Path, r: RunResult) -> str:
    path.write_text(render_json(r, decide(r.cases, GateConfig(threshold=0.0))))
    return str(path)


# scipy.stats.t.ppf, rounded to six decimals
T_TABLE = {(1, 0.975): 12.706205, (1, 0.995): 63.656741, (2, 0.975): 4.302653, (2, 0.995): 9.924843,
           (3, 0.975): 3.182446, (3, 0.995): 5.840909, (5, 0.975): 2.570582, (5, 0.995): 4.032143,
           (39, 0.975): 2.022691, (39, 0.995): 2.707913, (101, 0.975): 1.983731, (101, 0.995): 2.625386,
           (5000, 0.975): 1.960439, (5000, 0.995): 2.576813}  # fmt: skip


@pytest.mark.parametrize(("df", "p"), sorted(T_TABLE))
def test_t_quantile_matches_scipy(df: int, p: float) -> None:
    assert t_quantile(p, df) == pytest.approx(T_TABLE[df, p], abs=2e-6)


def test_a_consistent_drop_is_a_significant_regression() -> None:
    base = run([case(f"c{i}", [True]) for i in range(40)])
    head = run([case(f"c{i}", [i >= 10]) for i in range(40)])
    result = compare_runs(base, head)
    assert result.score is not None
    assert result.score.delta == pytest.approx(-0.25)
    # paired t interval over 40 differences: sd of ten -1s and thirty 0s, t(39) = 2.0227
    sd = (10 * 0.75**2 + 30 * 0.25**2) ** 0.5 / 39**0.5
    half = 2.0227 * sd / 40**0.5
    assert result.score.low == pytest.approx(-0.25 - half, abs=1e-3)
    assert result.score.high == pytest.approx(-0.25 + half, abs=1e-3)
    assert result.regressed
    assert "entirely below zero" in result.reasons[0]
    assert result.cases.newly_failing == tuple(f"c{i}" for i in range(10))


def test_a_single_flip_is_not_significant_without_rules_but_is_with_no_new_failures() -> None:
    base = run([case(f"c{i}", [True]) for i in range(20)])
    head = run([case("c0", [False]), *(case(f"c{i}", [True]) for i in range(1, 20))])
    assert not compare_runs(base, head).regressed
    strict = compare_runs(base, head, rules=Rules(no_new_failures=True))
    assert strict.reasons == ("case c0 passed on the base but fails now",)


def test_repeats_are_counted_in_the_score() -> None:
    base = run([case("r", [True] * 5, min_pass=3), case("s", [True])])
    head = run([case("r", [True, True, True, False, False], min_pass=3), case("s", [True])])
    result = compare_runs(base, head)
    assert result.score is not None
    assert result.score.delta == pytest.approx(-0.2)  # (-0.4 + 0) / 2
    assert (result.score.base_trials, result.score.head_trials) == (6, 6)
    assert result.rate_delta == 0  # both still pass their min_pass


def test_max_drop_is_the_margin_when_configured() -> None:
    base = run([case(f"c{i}", [True]) for i in range(100)])
    head = run([case(f"c{i}", [i >= 8]) for i in range(100)])
    assert not compare_runs(base, head, rules=Rules(max_drop=0.1)).regressed
    tight = compare_runs(base, head, rules=Rules(max_drop=0.05))
    assert tight.reasons == (
        "pass rate dropped 8.0 pt from 100.0% on the base to 92.0%, more than the allowed 5.0 pt",
    )


def test_fingerprint_change_under_the_same_name_is_an_identity_change() -> None:
    base = run([case(f"c{i}", [True], fp="fp_a") for i in range(3)])
    head = run([case(f"c{i}", [True], fp="fp_b") for i in range(3)])
    result = compare_runs(base, head)
    assert not result.regressed
    assert [c.case_id for c in result.identity_changes] == ["c0", "c1", "c2"]
    text = render_comparison_markdown(result)
    assert "| 3 | gpt-4o-2024-11-20 (fp\\_a) | gpt-4o-2024-11-20 (fp\\_b) |" in text
    assert "identity changed on 3 cases" in text


def test_a_side_without_fingerprints_makes_no_claim() -> None:
    base = run([case("c", [True], fp=None)])
    head = run([case("c", [True], fp="fp_b")])
    assert compare_runs(base, head).identity_changes == ()
    moved = run([case("c", [True], model="gpt-4o-mini-2024-07-18", fp=None)])
    assert len(compare_runs(base, moved).identity_changes) == 1


def test_cli_compare_exit_codes_and_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write(tmp_path / "base.json", run([case(f"c{i}", [True], cost=0.01) for i in range(30)]))
    same = write(tmp_path / "same.json", run([case(f"c{i}", [True], cost=0.02) for i in range(30)]))
    worse = write(tmp_path / "worse.json", run([case(f"c{i}", [i >= 12]) for i in range(30)]))
    other = write(tmp_path / "other.json", run([case(f"x{i}", [True]) for i in range(30)]))
    cfg = ["--config", str(tmp_path / "missing.yaml")]
    assert main(["compare", base, same, *cfg]) == 0
    out = capsys.readouterr().out
    assert "cost       $0.30 → $0.60  +$0.30 (+100%)" in out
    assert out.rstrip().endswith("no significant regression")
    assert main(["compare", base, worse, *cfg, "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["regression"] is True
    assert data["newly_failing"][:2] == ["c0", "c1"]
    assert data["score"]["delta"] == pytest.approx(-0.4)
    assert main(["compare", base, worse, *cfg, "--markdown", "--max-drop", "50%"]) == 0
    assert "**✅ no significant regression**" in capsys.readouterr().out
    assert main(["compare", base, other, *cfg]) == 2
    err = capsys.readouterr().err
    assert "not comparable" in err
    assert "only in the base (30): c0, c1" in err
    assert "only in the head (30): x0" in err


def test_cli_compare_takes_the_rules_from_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write(tmp_path / "base.json", run([case(f"c{i}", [True]) for i in range(30)]))
    head = write(
        tmp_path / "head.json", run([case("c0", [False]), *(case(f"c{i}", [True]) for i in range(1, 30))])
    )
    config = tmp_path / "evalgate.yaml"
    config.write_text(
        "model: {provider: replay, name: m-2024-01-01, responses: r.yaml}\ngate: {no_new_failures: true}\n"
    )
    assert main(["compare", base, head, "--config", str(config)]) == 1
    assert "case c0 passed on the base but fails now" in capsys.readouterr().out


def test_same_cases_makes_any_difference_not_comparable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write(tmp_path / "base.json", run([case(f"c{i}", [True]) for i in range(10)]))
    head = write(tmp_path / "head.json", run([case(f"c{i}", [True]) for i in range(11)]))
    assert main(["compare", base, head, "--config", "none.yaml"]) == 0
    assert "only in the new report (1): c10" in capsys.readouterr().out
    assert main(["compare", base, head, "--config", "none.yaml", "--same-cases"]) == 2
    assert "only in the head (1): c10" in capsys.readouterr().err


def test_openai_system_fingerprint_reaches_the_report_and_the_comparison(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["init", str(tmp_path)])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    with FakeModelServer(lambda body: "Summary: 4.2M 32% 3.1% 2.4%") as server:
        live = (tmp_path / "evalgate.yaml").read_text()
        live = live.replace(
            "  provider: replay\n", f"  provider: openai\n  base_url: {server.openai_base_url}\n"
        )
        (tmp_path / "evalgate.yaml").write_text(
            live.replace("  responses: recordings/gpt-4o-2024-11-20.yaml\n", "")
        )
        main(["run", "--json", "before.json", "--no-cache"])
        server.system_fingerprint = "fp_changed_backend"
        main(["run", "--json", "after.json", "--no-cache"])
    before = json.loads(Path("before.json").read_text())
    assert before["cases"][0]["trial_results"][0]["completion"]["system_fingerprint"] == "fp_evalgate_fake"
    capsys.readouterr()
    assert main(["compare", "before.json", "after.json", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["identity_changes"]) == 3
    assert data["identity_changes"][0]["head"]["fingerprints"] == ["fp_changed_backend"]


def test_the_action_base_comparison_is_the_compare_code() -> None:
    from evalgate.compare import base_comparison

    base = [case(f"c{i}", [True], fp="fp_a") for i in range(40)]
    head = [case(f"c{i}", [i >= 10], fp="<b>fp</b>") for i in range(40)]
    moves, line = base_comparison(head, base, GateConfig(no_new_failures=True))
    assert moves.newly_failing == tuple(f"c{i}" for i in range(10))
    assert line is not None
    assert line.startswith("score vs base −25.0 pt [−39.0, −11.0] (95% CI, 40 paired cases)")
    # the server-reported model id and fingerprint are made inert in the Markdown note
    assert line.endswith("gpt-4o-2024-11-20 (fp\\_a) → gpt-4o-2024-11-20 (&lt;b&gt;fp&lt;/b&gt;)")
    # the gate's reasons and compare's are one implementation
    gate_reasons = decide(head, GateConfig(threshold=0, no_new_failures=True), baseline=base).reasons
    assert gate_reasons == compare_runs(run(base), run(head), rules=Rules(no_new_failures=True)).reasons[:1]
    other = [case(f"x{i}", [True]) for i in range(40)]
    moves, line = base_comparison(other, base, GateConfig())
    assert moves.new == tuple(f"x{i}" for i in range(40))
    assert line is not None
    assert line.startswith("base comparison without a paired delta: the reports share 0 of 80 case ids")


def test_replayed_answers_show_no_latency_change() -> None:
    """A recording's latencies measure nothing: the comparison says so instead of '0 ms → 0 ms'."""
    measured = run([case("a", [True]), case("b", [False])])
    replayed = dataclasses.replace(measured, provider="replay")
    result = compare_runs(replayed, replayed)
    assert (result.base_p95_ms, result.head_p95_ms) == (None, None)
    assert "| p95 latency | — | — | not measured (replayed answers, or no answer) |" in (
        render_comparison_markdown(result)
    )
    live = compare_runs(replayed, measured)
    assert live.base_p95_ms is None
    assert live.head_p95_ms is not None
