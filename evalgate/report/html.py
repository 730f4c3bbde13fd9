"""``evalgate view``: one self-contained HTML file from a JSON report — no server, no CDN, works from file://.

The page is rendered here, in Python, with every piece of report text HTML-escaped; the inline script only
shows and hides cases (filters by status, tag and suite, search), driven by the URL hash so a filtered view
can be linked: ``report.html#status=failing&tag=security&q=refund``. A Content-Security-Policy with the
hashes of the inline style and script forbids anything else, so nothing in a report can load or run code.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from evalgate.report.html_assets import CSS, SCRIPT

_ICON = {"passed": "✔", "failed": "✘", "error": "⚠", "unchecked": "–"}
# text symbols rather than emoji: they render without an emoji font (headless browsers, locked-down desktops)
_STATE = {"pass": ("✔", "ok"), "fail": ("✘", "bad"), "not_configured": ("○", "na"), "pending": ("◌", "na")}
_FAILING = ("failed", "error")


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} ms"


def _usd(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"${value:,.4f}" if 0 < value < 0.01 else f"${value:,.2f}"


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def render_html(report: Mapping[str, Any]) -> str:
    """The whole page for a validated v1 report (``to_json_dict`` output or a loaded report file)."""
    cases: Sequence[Mapping[str, Any]] = report["cases"]
    comparison: Mapping[str, Any] | None = report.get("comparison")
    newly = set(comparison["newly_failing"]) if comparison else set()
    fixed = set(comparison["fixed"]) if comparison else set()
    base_cases = {c["id"]: c for c in (comparison or {}).get("base_cases", [])}
    ordered = sorted(
        cases,
        key=lambda c: (c["status"] not in _FAILING, not c["required"], c["id"] not in newly),
    )
    replayed = report["provider"] == "replay"
    gate_passed = report["gate"]["passed"]
    title = f"evalgate: gate {'passed' if gate_passed else 'failed'} · {_pct(report['pass_rate'])}"
    csp = (
        f"default-src 'none'; style-src {_csp_hash(CSS)}; script-src {_csp_hash(SCRIPT)}; "
        "img-src 'none'; base-uri 'none'; form-action 'none'"
    )
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        *_header(report, comparison, replayed),
        *_changes(comparison),
        *_readiness(report.get("readiness")),
        *_filters(cases, newly),
        "<main id=cases>",
        *(_case(c, c["id"] in newly, c["id"] in fixed, base_cases.get(c["id"]), replayed) for c in ordered),
        "</main>",
        f"<footer>evalgate {_e(report['tool']['version'])} · {_e(report['config'])} · "
        f"started {_e(report['started_at'])} · {report['duration_s']:.1f} s</footer>",
        "<noscript><p>Filters and search need JavaScript; every case is listed above.</p></noscript>",
        f"<script>{SCRIPT}</script></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _header(report: Mapping[str, Any], comparison: Mapping[str, Any] | None, replayed: bool) -> list[str]:
    passed = report["gate"]["passed"]
    unit = "" if report["metric"] == "cases" else " checks"
    score = f"<b>{_pct(report['pass_rate'])}</b> ({report['passed']}/{report['total']}{unit})"
    score += f" · threshold {_pct(report['threshold'])}"
    if comparison and comparison.get("base_pass_rate") is not None:
        delta = (report["pass_rate"] - comparison["base_pass_rate"]) * 100
        score += f" · {delta:+.1f} pt vs base ({_pct(comparison['base_pass_rate'])})"
    statuses = [c["status"] for c in report["cases"]]
    totals = report["totals"]
    facts = [
        f"{_e(report['provider'])} <code>{_e(report['model'])}</code>",
        f"{len(statuses)} cases: {statuses.count('passed')} passed, {statuses.count('failed')} failed, "
        f"{statuses.count('error')} errors",
        f"cost {_usd(totals['cost_usd'])}",
    ]
    if not replayed:
        facts.append(f"p50 {_ms(totals['latency_p50_ms'])}, p95 {_ms(totals['latency_p95_ms'])}")
    retries = report.get("retries") or {}
    if any(retries.values()):
        facts.append("retries " + ", ".join(f"{_e(k)} ×{int(v)}" for k, v in retries.items() if v))
    return [
        f'<header class="verdict {"passed" if passed else "failed"}">',
        f"<h1>{'✔ Gate passed' if passed else '✘ Gate failed'}</h1>",
        f'<p class="score">{score}</p>',
        "<ul class=reasons>",
        *(f"<li>{_e(r)}</li>" for r in report["gate"]["reasons"]),
        "</ul>",
        f"<p class=facts>{''.join(f'<span>{f}</span>' for f in facts)}</p>",
        *(f"<p class=muted>{_e(n)}</p>" for n in report["notes"]),
        "</header>",
    ]


def _links(ids: Iterable[str]) -> str:
    return ", ".join(f'<a href="#case={_e(_hash(i))}">{_e(i)}</a>' for i in ids)


def _hash(case_id: str) -> str:
    from urllib.parse import quote

    return quote(case_id, safe="")


def _changes(comparison: Mapping[str, Any] | None) -> list[str]:
    if not comparison:
        return []
    rows = [
        ("Newly failing", comparison["newly_failing"]),
        ("Fixed", comparison["fixed"]),
        ("Flaky", comparison.get("flaky", [])),
    ]
    items = [f"<li>{label} ({len(ids)}): {_links(ids)}</li>" for label, ids in rows if ids]
    if not items:
        items = ["<li>No case changed status vs base.</li>"]
    counts = (
        f"{len(comparison['still_failing'])} still failing · {len(comparison['new'])} new · "
        f"{len(comparison['removed'])} removed"
    )
    return ["<section id=changes><h2>Changes vs base</h2><ul>", *items, f"<li>{counts}</li></ul></section>"]


def _readiness(items: Sequence[Mapping[str, Any]] | None) -> list[str]:
    if not items:
        return []
    rows = []
    for item in items:
        icon, css = _STATE.get(item["state"], ("○", "na"))
        label = "not configured" if item["state"] == "not_configured" else item["state"]
        required = " <span class=muted>(required)</span>" if item.get("required") else ""
        rows.append(
            f"<tr><td>{_e(item['item'])}{required}</td><td class={css}>{icon} {_e(label)}</td>"
            f"<td>{_e(item['evidence'])}</td></tr>"
        )
    return [
        "<section id=readiness><h2>Deployment readiness</h2>",
        "<table><thead><tr><th>Item</th><th>State</th><th>Evidence</th></tr></thead><tbody>",
        *rows,
        "</tbody></table></section>",
    ]


def _filters(cases: Sequence[Mapping[str, Any]], newly: set[str]) -> list[str]:
    statuses = [c["status"] for c in cases]
    failing = sum(1 for s in statuses if s in _FAILING)
    pills = [
        ("all", f"All ({len(cases)})"),
        ("failing", f"Failing ({failing})"),
        ("new", f"New failures ({len(newly)})"),
        ("passing", f"Passing ({statuses.count('passed')})"),
    ]
    tags = sorted({t for c in cases for t in c["tags"]})
    suites = sorted({c["suite"] for c in cases})
    return [
        '<form id="filters" role="search" aria-label="Filter cases">',
        '<fieldset aria-label="Status">',
        *(
            f'<label class=pill><input type=radio name=status value="{v}"'
            f"{' checked' if v == 'all' else ''}>{_e(label)}</label>"
            for v, label in pills
        ),
        "</fieldset>",
        '<label>Tag <select name="tag"><option value="">any</option>',
        *(f'<option value="{_e(t)}">{_e(t)}</option>' for t in tags),
        "</select></label>",
        '<label>Suite <select name="suite"><option value="">any</option>',
        *(f'<option value="{_e(s)}">{_e(s)}</option>' for s in suites),
        "</select></label>",
        '<input type="search" name="q" placeholder="Search ids, prompts, answers, reasons"'
        ' aria-label="Search">',
        f'<span id="shown">{len(cases)} cases</span>',
        "</form>",
    ]


def _first_reason(case: Mapping[str, Any]) -> str:
    if case["status"] == "error":
        return str(case["error"] or "error")
    for check in case["checks"]:
        if not check["passed"]:
            return f"{check['type']}: {check['reason']}"
    return ""


def _case(
    case: Mapping[str, Any], new: bool, fixed: bool, base: Mapping[str, Any] | None, replayed: bool
) -> str:
    status = case["status"]
    tags = "\t" + "\t".join(case["tags"]) + "\t"
    attrs = (
        f'class="case {status}" data-id="{_e(case["id"])}" data-status="{status}" data-new="{int(new)}" '
        f'data-tags="{_e(tags)}" data-suite="{_e(case["suite"])}"{" open" if status in _FAILING else ""}'
    )
    marks = " <span class=new>new failure</span>" if new else ""
    marks += " <span class=fixed>fixed</span>" if fixed else ""
    marks += " <b>required</b>" if case["required"] else ""
    if case["trials"] > 1:
        marks += f" <span class=muted>{case['trials_passed']}/{case['trials']} trials passed</span>"
    summary = (
        f"<summary><span class=badge>{_ICON.get(status, '?')} {status}</span> <b>{_e(case['id'])}</b>"
        f"{marks} <span class=where>{_e(case['suite'])}:{case['line']}</span>"
        f" <span class=why>{_e(_first_reason(case))}</span>"
        f"{''.join(f' <span class=tag>{_e(t)}</span>' for t in case['tags'])}</summary>"
    )
    body = ["<div class=body>"]
    if case["error"]:
        body += ["<h3>Error</h3>", f"<pre class=error>{_e(case['error'])}</pre>"]
    answer = _answer(case, replayed)
    if base is not None:
        body += [
            "<div class=cols>",
            f"<section>{answer}</section>",
            f"<section>{_base(base)}</section>",
            "</div>",
        ]
    else:
        body.append(answer)
    body += _checks(case["checks"])
    if case["trials"] > 1:
        body += _trials(case["trial_results"])
    if case.get("prompt"):
        body += ["<h3>Prompt</h3>", f"<pre class=prompt>{_e(case['prompt'])}</pre>"]
    if case.get("vars"):
        text = json.dumps(case["vars"], ensure_ascii=False, indent=2, default=str)
        body += ["<h3>Vars</h3>", f"<pre class=vars>{_e(text)}</pre>"]
    return f"<details {attrs}>{summary}{''.join(body)}</div></details>"


def _representative(case: Mapping[str, Any]) -> Mapping[str, Any] | None:
    trials: Sequence[Mapping[str, Any]] = case["trial_results"]
    if case["status"] != "passed":
        for trial in trials:
            if trial["error"] is not None or not all(c["passed"] for c in trial["checks"]):
                return trial
    return trials[0] if trials else None


def _answer(case: Mapping[str, Any], replayed: bool) -> str:
    trial = _representative(case)
    done = trial["completion"] if trial is not None else None
    if done is None:
        return "<h3>Answer</h3><p class=muted>no answer</p>"
    facts = [f"<code>{_e(done['model'])}</code>"]
    if not replayed and not done["cached"]:
        facts.append(_ms(done["latency_ms"]))
    if done["input_tokens"] is not None or done["output_tokens"] is not None:
        facts.append(f"{done['input_tokens'] or 0:,} → {done['output_tokens'] or 0:,} tokens")
    if done["cost_usd"] is not None:
        facts.append(_usd(done["cost_usd"]))
    if done.get("refused"):
        facts.append("the model refused")
    if done.get("finish_reason"):
        facts.append(f"finish: {_e(done['finish_reason'])}")
    if done["cached"]:
        facts.append("cached")
    if done["fallback"]:
        facts.append("fallback model")
    head = f"<h3>Answer <span class=muted>· {' · '.join(facts)}</span></h3>"
    return f"{head}<pre class=answer>{_e(done['text'])}</pre>"


def _base(base: Mapping[str, Any]) -> str:
    status = base["status"]
    checks = "".join(
        f"<li>{'✔' if c['passed'] else '✘'} {_e(c['type'])}: {_e(c['reason'])}</li>" for c in base["checks"]
    )
    answer = base.get("response")
    shown = (
        f"<pre class=base-answer>{_e(answer)}</pre>" if answer is not None else "<p class=muted>no answer</p>"
    )
    return f"<h3>On the base <span class=muted>· {_e(status)}</span></h3>{shown}<ul>{checks}</ul>"


def _checks(checks: Sequence[Mapping[str, Any]]) -> list[str]:
    if not checks:
        return []
    rows = [
        f"<tr><td class={'ok' if c['passed'] else 'bad'}>{'✔' if c['passed'] else '✘'} {_e(c['type'])}</td>"
        f"<td>{c['score']:.2f}</td><td>{_e(c['reason'])}</td></tr>"
        for c in checks
    ]
    head = "<table class=checks><thead><tr><th>Check</th><th>Score</th><th>Reason</th></tr></thead><tbody>"
    return ["<h3>Checks</h3>", head, *rows, "</tbody></table>"]


def _trials(trials: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = []
    for n, trial in enumerate(trials, 1):
        done = trial["completion"]
        if trial["error"] is not None:
            outcome, text = "⚠ error", trial["error"]
        else:
            ok = all(c["passed"] for c in trial["checks"])
            outcome, text = ("✔ passed" if ok else "✘ failed"), (done["text"] if done else "")
        rows.append(f"<tr><td>{n}</td><td>{outcome}</td><td><pre>{_e(text)}</pre></td></tr>")
    head = "<table class=trials><thead><tr><th>#</th><th>Outcome</th><th>Answer</th></tr></thead><tbody>"
    return ["<h3>Trials</h3>", head, *rows, "</tbody></table>"]
