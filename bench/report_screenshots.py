"""Screenshots of the PR comment (rendered as GitHub-flavoured Markdown) and of the HTML report.

    python bench/report_screenshots.py [--out docs/screenshots]

Runs the offline demo (examples/support-bot: the current model as the base, the candidate as the PR),
renders the comment with markdown-it-py's GFM preset inside a GitHub-like page, and shoots it with headless
Chromium; then the same for a synthetic 300-case run, and the HTML report of the demo filtered to failing
cases. Also times the Markdown renderer on 10,000 cases. Needs `chromium`; Pillow (optional) shrinks the PNGs.
The readiness rows that need GitHub (the head commit's other checks) use two sample check runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evalgate.evaluation import RunOptions, execute, load_project  # noqa: E402
from evalgate.gate import GateConfig, compare, decide  # noqa: E402
from evalgate.readiness import CodeCheck, Facts, assess  # noqa: E402
from evalgate.report.html import render_html  # noqa: E402
from evalgate.report.json import to_json_dict  # noqa: E402
from evalgate.report.markdown import render_markdown, render_readiness  # noqa: E402
from evalgate.results import CaseResult, CheckResult, Completion, RunResult, Trial  # noqa: E402

DEMO = ROOT / "examples" / "support-bot"
RUN_URL = "https://github.com/acme/support-bot/actions/runs/123456"
BLOB = "https://github.com/acme/support-bot/blob/4f1c2e9"
PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
body{{margin:0;background:#fff;font:14px/1.5 -apple-system,"Segoe UI","Noto Sans",Helvetica,Arial,sans-serif;
color:#1f2328}}
.box{{max-width:860px;margin:16px auto;border:1px solid #d1d9e0;border-radius:6px}}
.head{{background:#f6f8fa;border-bottom:1px solid #d1d9e0;padding:8px 16px;color:#59636e}}
.body{{padding:16px}}
h3{{font-size:20px;margin:0 0 8px}}h4{{font-size:16px;margin:24px 0 8px}}
table{{border-collapse:collapse;display:block;overflow:auto;margin:8px 0}}
th,td{{border:1px solid #d1d9e0;padding:6px 13px}}th{{font-weight:600}}tr:nth-child(2n){{background:#f6f8fa}}
code{{background:rgba(129,139,152,.12);border-radius:6px;padding:.2em .4em;
font:85% ui-monospace,SFMono-Regular,Menlo,monospace}}
pre{{background:#f6f8fa;border-radius:6px;padding:16px;overflow:auto;font:85%/1.45
ui-monospace,SFMono-Regular,Menlo,monospace}}pre code{{background:none;padding:0;font-size:100%}}
details summary{{cursor:pointer;margin:4px 0}}blockquote{{margin:0;padding:0 1em;color:#59636e;
border-left:.25em solid #d1d9e0}}a{{color:#0969da;text-decoration:none}}sub{{color:#59636e}}
</style></head><body><div class="box"><div class="head"><b>github-actions</b> bot commented</div>
<div class="body">{body}</div></div></body></html>"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("chromium is not installed (apt-get install chromium)")


def shoot(html_file: Path, png: Path, *, width: int, height: int, fragment: str = "") -> None:
    """A viewport screenshot of a file:// page in headless Chromium; a palette PNG when Pillow is here."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                _chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={png}",
                html_file.resolve().as_uri() + fragment,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(png) as image:
        image.convert("RGB").quantize(colors=64, dither=Image.Dither.NONE).save(png, optimize=True)


def gfm_page(markdown: str, *, open_first: bool = False) -> str:
    """The comment as GitHub would show it: GFM tables, raw HTML details, autolinks."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("gfm-like", {"html": True}).render(markdown)
    if open_first:  # show what one case's details hold
        body = body.replace("<details>", "<details open>", 1)
    return PAGE.format(body=body)


def demo_run() -> tuple[RunResult, object, object, list[dict[str, object]]]:
    """The offline demo: the candidate as the PR's run, the current model as the base."""
    os.chdir(DEMO)
    base_project = load_project("evalgate.yaml")
    base, _ = execute(base_project, base_project.cases, RunOptions(use_cache=False))
    project = load_project("evalgate.candidate.yaml")
    run, _ = execute(project, project.cases, RunOptions(use_cache=False))
    comparison = compare(run.cases, base.cases)
    verdict = decide(run.cases, project.loaded.config.gate, baseline=base.cases)
    facts = Facts(
        check_kinds={c.id: [k.type for k in c.spec.checks] for c in project.cases},
        tag_thresholds=dict(project.loaded.config.gate.tags),
        code_checks=[CodeCheck("unit-tests", "success"), CodeCheck("lint", "success")],  # sample
    )
    readiness = [item.to_dict() for item in assess(run, verdict, comparison, facts)]
    return run, verdict, comparison, readiness


def synthetic_run(total: int = 300, seed: int = 7) -> tuple[RunResult, object, object]:
    """A 300-case run with long, code-heavy, JSON and table answers; 40 fail, 12 of them newly."""
    rng = random.Random(seed)
    answers = [
        "Sure! Here is the fix:\n```python\ndef refund(order):\n    return order.total * 0.5\n```\n"
        "See https://docs.example.com/refunds_policy#partial_refunds for details.",
        '{"customer_id": "ACM-1042", "plan": "business", "issue": ["sync", "billing"]}',
        "| plan | price |\n|---|---|\n| personal | $9.99 |\n| business | $15 |",
        "I cannot help with that request.",
        "Our refund window is 30 days from purchase; annual plans get a prorated refund.",
    ]
    cases, base = [], []
    for i in range(total):
        suite = f"evals/{['billing', 'support', 'extraction', 'security'][i % 4]}.yaml"
        failing = i % 7 == 3 and len([c for c in cases if not c.passed]) < 40
        answer = answers[i % len(answers)]
        checks = (
            CheckResult(
                "icontains", not failing, 0.0 if failing else 1.0, "missing '30 days'" if failing else "ok"
            ),
            CheckResult("regex", True, 1.0, r"matches '\b(refund|return)\b' at char 4: 'refund'"),
        )
        done = Completion(answer, "gpt-4o-2024-11-20", latency_ms=rng.uniform(300, 2400), cost_usd=0.0009)
        tags = ("security",) if suite.endswith("security.yaml") else ()
        case_id = f"case_{i:03d}"
        cases.append(
            CaseResult(
                case_id,
                suite,
                3 + 6 * (i // 4),
                (Trial(done, checks),),
                tags=tags,
                prompt=f"Q{i}: {answer[:40]}",
            )
        )
        was_ok = not failing or i % 21 != 3  # a third of today's failures are new
        base_checks = (CheckResult("icontains", was_ok, float(was_ok), "ok" if was_ok else "missing"),)
        base.append(
            CaseResult(case_id, suite, 3, (Trial(Completion("older answer", "m"), base_checks),), tags=tags)
        )
    run = RunResult(
        tuple(cases), "openai", "gpt-4o-2024-11-20", "evalgate.yaml", "2026-11-30T09:00:00Z", 41.0
    )
    comparison = compare(run.cases, base)
    return run, decide(run.cases, GateConfig(threshold=0.9), baseline=base), comparison


def time_markdown(cases: int = 10_000) -> float:
    """Seconds to render the comment for ``cases`` cases (a tenth failing), best of three."""
    done = Completion("line\n" * 20, "m", latency_ms=500.0)
    run = RunResult(
        tuple(
            CaseResult(
                f"c{i}", "evals/a.yaml", i, (Trial(done, (CheckResult("contains", i % 10 != 0, 1.0, "r"),)),)
            )
            for i in range(cases)
        ),
        "openai",
        "m",
        "evalgate.yaml",
        "2026-11-30T09:00:00Z",
        1.0,
    )
    verdict = decide(run.cases, GateConfig())
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        render_markdown(run, verdict)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="evalgate-shots-"))

    def suite_url(suite: str, line: int) -> str:
        return f"{BLOB}/{suite}#L{line}"

    run, verdict, comparison, readiness = demo_run()
    small = render_markdown(
        run,
        verdict,
        comparison=comparison,
        run_url=RUN_URL,
        suite_url=suite_url,  # type: ignore[arg-type]
        readiness=render_readiness(readiness),
    )
    (work / "comment.html").write_text(gfm_page(small))
    (work / "comment-details.html").write_text(gfm_page(small, open_first=True))
    shoot(work / "comment.html", out / "comment-small.png", width=900, height=1500)
    shoot(work / "comment-details.html", out / "comment-details.png", width=900, height=1700)

    big_run, big_verdict, big_comparison = synthetic_run()
    big = render_markdown(
        big_run,
        big_verdict,
        comparison=big_comparison,
        run_url=RUN_URL,
        suite_url=suite_url,  # type: ignore[arg-type]
    )
    (work / "comment-300.html").write_text(gfm_page(big))
    shoot(work / "comment-300.html", out / "comment-300.png", width=900, height=1500)

    report = to_json_dict(run, verdict, comparison, readiness)  # type: ignore[arg-type]
    (work / "report.html").write_text(render_html(json.loads(json.dumps(report))))
    shoot(work / "report.html", out / "html-report.png", width=1200, height=1400, fragment="#status=failing")

    for png in sorted(out.glob("*.png")):
        print(f"{png.relative_to(ROOT)}: {png.stat().st_size / 1024:.0f} KiB")
    print(f"comment sizes: demo {len(small):,} chars, 300 cases {len(big):,} chars (limit 65,536)")
    seconds = time_markdown()
    print(
        f"Markdown comment for 10,000 cases: {seconds * 1000:.0f} ms (target 200 ms): "
        f"{'PASS' if seconds <= 0.2 else 'FAIL'}"
    )
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
