"""Metric sources: the pure summary, request logs (file, URL, command) and a loopback Prometheus."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import TypeAdapter

from evalgate.canary.observations import Clusters, Proportion, RequestRecord, Samples
from evalgate.canary.sources import SOURCES, MetricSource, SimpleMetric, build_source, summarize
from evalgate.checks import CheckSpec
from evalgate.errors import ConfigError, InfrastructureError

GOOD = '{"answer": "42"}'
BAD = "As an AI language model, I cannot."
ERROR_RATE = SimpleMetric("error_rate")
PASS_RATE = SimpleMetric("eval_pass_rate")
P95 = SimpleMetric("latency_p95_ms", "quantile", 0.95)
METRICS = [ERROR_RATE, PASS_RATE, P95]
CHECKS = TypeAdapter(list[CheckSpec]).validate_python(
    [{"type": "is_json"}, {"type": "not_icontains", "value": "as an ai language model"}]
)


def rec(
    ts: float | str, arm: str = "stable", output: str | None = GOOD, latency: float | None = 100.0, **kw: Any
) -> str:
    return (
        json.dumps({"ts": ts, "arm": arm, "input": "q", "output": output, "latency_ms": latency, **kw}) + "\n"
    )


def source(spec: dict[str, Any], base_dir: Path, metrics: list[SimpleMetric] | None = None) -> MetricSource:
    return build_source(
        spec, base_dir=base_dir, env=dict(os.environ), metrics=metrics or METRICS, live_checks=CHECKS
    )


# summarize (pure)


def test_summarize_counts_errors_pass_rate_and_latency_per_arm(tmp_path: Path) -> None:
    records = [
        RequestRecord(1.0, "stable", "q", GOOD, 100.0),
        RequestRecord(2.0, "stable", "q", BAD, 120.0),
        RequestRecord(3.0, "stable", "q", None, 5000.0, error=True),
        RequestRecord(4.0, "canary", "q", GOOD, 90.0),
        RequestRecord(5.0, "canary", "q", None, None),  # no output: not scored, no latency
    ]

    seen = summarize(records, METRICS, CHECKS, base_dir=tmp_path)

    assert seen.counts == {"stable": 3, "canary": 2}
    assert seen.metrics["error_rate"] == {"stable": Proportion(1, 3), "canary": Proportion(0, 2)}
    assert seen.metrics["eval_pass_rate"] == {"stable": Proportion(1, 2), "canary": Proportion(1, 1)}
    assert seen.metrics["latency_p95_ms"] == {"stable": Samples((100.0, 120.0)), "canary": Samples((90.0,))}
    assert seen.notes == ()


def test_summarize_live_checks_see_latency_and_input(tmp_path: Path) -> None:
    checks = TypeAdapter(list[CheckSpec]).validate_python([{"type": "latency_ms", "max": 150}])
    records = [RequestRecord(1.0, "canary", "q", "x", 100.0), RequestRecord(2.0, "canary", "q", "x", 200.0)]
    seen = summarize(records, [PASS_RATE], checks, base_dir=tmp_path)
    assert seen.metrics["eval_pass_rate"] == {"canary": Proportion(1, 2)}


def test_summarize_leaves_out_what_it_cannot_compute(tmp_path: Path) -> None:
    records = [RequestRecord(1.0, "stable", "q", GOOD, 100.0)]
    metrics = [*METRICS, SimpleMetric("thumbs_up_rate")]

    seen = summarize(records, metrics, [], base_dir=tmp_path)

    assert seen.counts == {"stable": 1, "canary": 0}
    assert seen.metrics["error_rate"] == {"stable": Proportion(0, 1)}  # no canary data, never a zero
    assert seen.metrics["eval_pass_rate"] == {}
    assert seen.metrics["thumbs_up_rate"] == {}
    assert any(n.startswith("eval_pass_rate: no live checks") for n in seen.notes)
    assert any(n.startswith("thumbs_up_rate: not computable") for n in seen.notes)


# jsonl file


def test_jsonl_file_counts_only_the_window_and_reads_iso_times(tmp_path: Path) -> None:
    (tmp_path / "log.jsonl").write_text(
        rec(99.9)
        + rec(100.0, "canary")
        + rec("1970-01-01T00:02:30+00:00", "canary", BAD)  # 150
        + rec("1970-01-01T01:02:59Z", latency=7.0)  # 3779
        + rec(200.0)  # until is exclusive
    )
    src = source({"type": "jsonl", "path": "log.jsonl"}, tmp_path)

    seen = src.observe(100.0, 200.0)

    assert seen.counts == {"stable": 0, "canary": 2}
    assert seen.metrics["eval_pass_rate"] == {"canary": Proportion(1, 2)}
    assert seen.window == (100.0, 200.0)
    assert src.observe(3000.0, 4000.0).metrics["latency_p95_ms"] == {"stable": Samples((7.0,))}


def test_jsonl_file_reads_only_what_was_appended(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text(rec(1.0) + rec(2.0))
    src = source({"type": "jsonl", "path": "log.jsonl"}, tmp_path)
    assert src.observe(0.0, 10.0).counts == {"stable": 2, "canary": 0}

    # Rewriting an already-read line in place (same size) goes unseen: it is not read again.
    text = path.read_text().replace('"stable"', '"canary"', 1)
    with path.open("r+") as fh:
        fh.write(text)
    with path.open("a") as fh:
        fh.write(rec(3.0, "canary") + rec(4.0, "canary")[:20])  # the last line is still being written

    assert src.observe(0.0, 10.0).counts == {"stable": 2, "canary": 1}
    with path.open("a") as fh:
        fh.write(rec(4.0, "canary")[20:])
    seen = src.observe(0.0, 10.0)
    assert seen.counts == {"stable": 2, "canary": 2}
    assert seen.notes == ()  # a half-written line is not malformed


def test_jsonl_file_starts_over_when_truncated(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text(rec(1.0) + rec(2.0) + rec(3.0))
    src = source({"type": "jsonl", "path": "log.jsonl"}, tmp_path)
    src.observe(0.0, 10.0)

    path.write_text(rec(5.0, "canary"))

    seen = src.observe(0.0, 10.0)
    assert seen.counts == {"stable": 0, "canary": 1}
    assert any("truncated or replaced" in n for n in seen.notes)


def test_jsonl_file_rereads_when_asked_for_older_records_than_it_kept(tmp_path: Path) -> None:
    (tmp_path / "log.jsonl").write_text(rec(1.0) + rec(5.0) + rec(9.0))
    src = source({"type": "jsonl", "path": "log.jsonl"}, tmp_path)
    assert src.observe(4.0, 10.0).counts["stable"] == 2  # the record at 1.0 is dropped from memory
    assert src.observe(0.0, 10.0).counts["stable"] == 3


def test_jsonl_file_skips_and_counts_malformed_lines(tmp_path: Path) -> None:
    (tmp_path / "log.jsonl").write_text(
        rec(1.0)
        + "not json\n"
        + "\n"
        + rec(2.0, "baseline")
        + rec(1_700_000_000_000)
        + rec("2024-01-01T00:00:00")
        + rec(3.0)
    )
    seen = source({"type": "jsonl", "path": "log.jsonl"}, tmp_path).observe(0.0, 10.0)
    assert seen.counts == {"stable": 2, "canary": 0}
    [note] = seen.notes
    assert "skipped 4 malformed line(s) so far (first: line 2: not JSON" in note


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ('{"ts": "yesterday", "arm": "stable"}', "is not an ISO 8601 time"),
        ('{"ts": "2024-06-01T12:00:00", "arm": "stable"}', "has no timezone"),
        ('{"ts": 1, "arm": "stable", "error": "no"}', "error must be true or false"),
        ('{"ts": 1, "arm": "stable", "latency_ms": "fast"}', "latency_ms must be a number"),
        ('["ts", 1]', "expected a JSON object"),
    ],
)
def test_jsonl_file_where_every_line_is_malformed_is_a_config_error(
    tmp_path: Path, line: str, why: str
) -> None:
    (tmp_path / "log.jsonl").write_text("\n" + line + "\n" + line + "\n")
    with pytest.raises(ConfigError, match=why) as caught:
        source({"type": "jsonl", "path": "log.jsonl"}, tmp_path).observe(0.0, 10.0)
    assert caught.value.line == 2
    assert str(caught.value).startswith(f"{tmp_path / 'log.jsonl'}:2: ")


def test_jsonl_file_not_there_yet_is_no_data(tmp_path: Path) -> None:
    seen = source({"type": "jsonl", "path": "later.jsonl"}, tmp_path).observe(0.0, 10.0)
    assert seen.counts == {"stable": 0, "canary": 0}
    assert seen.metrics["error_rate"] == {}
    assert any("not found" in n for n in seen.notes)


# a loopback HTTP server for the URL and Prometheus sources

Handler = Callable[[str, dict[str, list[str]], dict[str, str]], tuple[int, str]]


class Loopback:
    """Answers every GET with ``handler(path, query, headers) -> (status, body)``."""

    def __init__(self, handler: Handler) -> None:
        owner = self

        class _H(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                status, body = owner.handler(parts.path, parse_qs(parts.query), dict(self.headers))
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.handler = handler
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def loopback() -> Iterator[Callable[[Handler], Loopback]]:
    servers: list[Loopback] = []

    def start(handler: Handler) -> Loopback:
        servers.append(Loopback(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_jsonl_url_source_fetches_the_whole_feed(
    tmp_path: Path, loopback: Callable[[Handler], Loopback]
) -> None:
    seen_headers: list[dict[str, str]] = []

    def feed(path: str, query: dict[str, list[str]], headers: dict[str, str]) -> tuple[int, str]:
        seen_headers.append(headers)
        return 200, rec(1.0) + rec(2.0, "canary", BAD) + "oops\n" + rec(20.0)

    server = loopback(feed)
    spec = {
        "type": "jsonl",
        "url": f"{server.url}/logs",
        "headers": {"Authorization": "Bearer ${FEED_TOKEN}"},
    }
    src = build_source(
        spec, base_dir=tmp_path, env={"FEED_TOKEN": "t0k"}, metrics=METRICS, live_checks=CHECKS
    )

    seen = src.observe(0.0, 10.0)

    assert seen.counts == {"stable": 1, "canary": 1}
    assert seen.metrics["eval_pass_rate"] == {"stable": Proportion(1, 1), "canary": Proportion(0, 1)}
    assert "skipped 1 malformed line(s)" in seen.notes[0]
    assert seen_headers[0]["Authorization"] == "Bearer t0k"


def test_jsonl_url_source_server_error_is_retryable(
    tmp_path: Path, loopback: Callable[[Handler], Loopback]
) -> None:
    server = loopback(lambda path, query, headers: (503, "busy"))
    with pytest.raises(InfrastructureError, match="HTTP 503") as caught:
        source({"type": "jsonl", "url": server.url}, tmp_path).observe(0.0, 10.0)
    assert caught.value.retryable


# prometheus


def prom_vector(*values: str) -> str:
    result = [{"metric": {"arm": str(i)}, "value": [1718000000.0, v]} for i, v in enumerate(values)]
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})


PROM_QUERIES = {
    "error_rate": {
        "hits": {"stable": 'sum(increase(errors{arm="stable"}[{window}]))', "canary": 'errors{arm="canary"}'},
        "total": {
            "stable": 'sum(increase(requests{arm="stable"}[{window}]))',
            "canary": 'requests{arm="canary"}',
        },
    },
    "latency_p95_ms": {"stable": 'p95{arm="stable"}', "canary": 'p95{arm="canary"}'},
}


def fake_prometheus(answers: dict[str, str], asked: list[dict[str, list[str]]]) -> Handler:
    def handle(path: str, query: dict[str, list[str]], headers: dict[str, str]) -> tuple[int, str]:
        asked.append(query)
        if path != "/api/v1/query":
            return 404, "not found"
        return 200, answers.get(query["query"][0], prom_vector())

    return handle


def test_prometheus_source_reads_per_arm_numbers_at_the_end_of_the_window(
    tmp_path: Path, loopback: Callable[[Handler], Loopback]
) -> None:
    asked: list[dict[str, list[str]]] = []
    answers = {
        'sum(increase(errors{arm="stable"}[300s]))': prom_vector("3"),
        'sum(increase(requests{arm="stable"}[300s]))': prom_vector("1000.4"),
        'errors{arm="canary"}': prom_vector("2"),
        'requests{arm="canary"}': prom_vector("49.6"),
        'p95{arm="stable"}': prom_vector("812.5"),
        # no canary p95 series at all: no data, never zero
    }
    server = loopback(fake_prometheus(answers, asked))
    spec = {"type": "prometheus", "url": server.url, "queries": PROM_QUERIES}

    seen = source(spec, tmp_path, [ERROR_RATE, P95]).observe(1000.0, 1300.0)

    assert seen.metrics["error_rate"] == {"stable": Proportion(3, 1000), "canary": Proportion(2, 50)}
    assert seen.metrics["latency_p95_ms"] == {"stable": Samples((812.5,))}
    assert seen.counts == {"stable": 1000, "canary": 50}
    assert any("no interval is possible" in n for n in seen.notes)
    assert {q["time"][0] for q in asked} == {"1300.000"}


def test_prometheus_source_takes_request_counts_from_their_own_queries(
    tmp_path: Path, loopback: Callable[[Handler], Loopback]
) -> None:
    answers = {"rs": prom_vector("90"), "rc": prom_vector("10"), 'p95{arm="stable"}': prom_vector("1")}
    server = loopback(fake_prometheus(answers, []))
    queries = {"latency_p95_ms": PROM_QUERIES["latency_p95_ms"]}
    spec = {
        "type": "prometheus",
        "url": server.url,
        "queries": queries,
        "requests": {"stable": "rs", "canary": "rc"},
    }
    assert source(spec, tmp_path, [P95]).observe(0.0, 60.0).counts == {"stable": 90, "canary": 10}


def test_prometheus_source_unavailable_is_retryable(
    tmp_path: Path, loopback: Callable[[Handler], Loopback]
) -> None:
    server = loopback(lambda path, query, headers: (503, '{"status":"error","error":"too many queries"}'))
    spec = {"type": "prometheus", "url": server.url, "queries": PROM_QUERIES}
    with pytest.raises(InfrastructureError, match="HTTP 503: too many queries") as caught:
        source(spec, tmp_path, [ERROR_RATE, P95]).observe(0.0, 60.0)
    assert caught.value.retryable


def test_prometheus_query_with_many_series_must_be_aggregated(
    tmp_path: Path, loopback: Callable[[Handler], Loopback]
) -> None:
    server = loopback(lambda path, query, headers: (200, prom_vector("1", "2")))
    spec = {
        "type": "prometheus",
        "url": server.url,
        "queries": {"latency_p95_ms": PROM_QUERIES["latency_p95_ms"]},
    }
    with pytest.raises(ConfigError, match=r"returned 2 series.*sum\(\.\.\.\)"):
        source(spec, tmp_path, [P95]).observe(0.0, 60.0)


@pytest.mark.parametrize(
    ("queries", "where", "message"),
    [
        ({"latency_p95_ms": PROM_QUERIES["latency_p95_ms"]}, "source.queries.error_rate", "missing query"),
        (
            {**PROM_QUERIES, "p99": {"stable": "a", "canary": "b"}},
            "source.queries.p99",
            "no metric named 'p99'",
        ),
        ({**PROM_QUERIES, "error_rate": {"stable": "a", "canary": "b"}}, "source.queries.error_rate", "hits"),
    ],
)
def test_prometheus_queries_must_match_the_plan_metrics(
    tmp_path: Path, queries: dict[str, Any], where: str, message: str
) -> None:
    spec = {"type": "prometheus", "url": "http://127.0.0.1:9", "queries": queries}
    with pytest.raises(ConfigError) as caught:
        source(spec, tmp_path, [ERROR_RATE, P95])
    assert (caught.value.where or "").startswith(where)
    assert message in str(caught.value)


# command


def test_command_source_runs_the_program_with_the_window(tmp_path: Path) -> None:
    script = tmp_path / "export.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, sys
            since, until = float(sys.argv[1]), float(sys.argv[2])
            for ts in (since - 1, since, until - 0.5, until):
                record = {"ts": ts, "arm": "canary", "output": "{}", "latency_ms": 5, "error": False}
                print(json.dumps(record))
            """
        )
    )
    src = source(
        {"type": "command", "command": [sys.executable, str(script), "{since}", "{until}"]}, tmp_path
    )
    seen = src.observe(100.0, 160.0)
    assert seen.counts == {"stable": 0, "canary": 2}
    assert seen.metrics["eval_pass_rate"] == {"canary": Proportion(2, 2)}


def test_command_source_failure_is_an_infrastructure_error(tmp_path: Path) -> None:
    spec = {"type": "command", "command": [sys.executable, "-c", "import sys; sys.exit('no logs today')"]}
    with pytest.raises(InfrastructureError, match="exit 1: no logs today"):
        source(spec, tmp_path).observe(0.0, 1.0)


# specs


@pytest.mark.parametrize(
    ("spec", "where", "message"),
    [
        ({"path": "x"}, "source.type", "source type missing"),
        ({"type": "datadog"}, "source.type", "unknown type 'datadog'"),
        ({"type": "jsonl"}, "source", "exactly one of 'path'"),
        ({"type": "jsonl", "path": "a", "url": "http://b"}, "source", "exactly one of 'path'"),
        ({"type": "jsonl", "url": "ftp://b"}, "source.url", "String should match"),
        ({"type": "command", "command": []}, "source.command", "at least 1 item"),
    ],
)
def test_bad_source_specs_name_the_field(
    tmp_path: Path, spec: dict[str, Any], where: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        source(spec, tmp_path)
    assert caught.value.where == where
    assert message in str(caught.value)


def test_every_source_type_is_registered() -> None:
    assert set(SOURCES) == {"jsonl", "prometheus", "command"}


def test_summarize_counts_units_by_first_arm_and_keeps_per_unit_sums(tmp_path: Path) -> None:
    records = [
        RequestRecord(1.0, "canary", "q", GOOD, 100.0, unit="alice"),
        RequestRecord(2.0, "canary", "q", BAD, 110.0, unit="alice"),
        RequestRecord(3.0, "stable", "q", GOOD, 120.0, unit="alice"),  # re-routed: alice stays a canary unit
        RequestRecord(4.0, "stable", "q", GOOD, 130.0, unit="bob"),
        RequestRecord(5.0, "stable", "q", None, 140.0, error=True),  # no unit: a unit of its own
    ]
    seen = summarize(records, METRICS, CHECKS, base_dir=tmp_path)
    assert seen.units == {"canary": 1, "stable": 2}
    canary_pass = seen.metrics["eval_pass_rate"]["canary"]
    assert isinstance(canary_pass, Proportion)
    assert (canary_pass.hits, canary_pass.total) == (1, 2)
    assert canary_pass.clusters == Clusters(units=1, sum_y2=1.0, sum_yn=2.0, sum_n2=4.0)
    stable_errors = seen.metrics["error_rate"]["stable"]
    assert isinstance(stable_errors, Proportion)
    assert stable_errors.clusters == Clusters(units=3, sum_y2=1.0, sum_yn=1.0, sum_n2=3.0)
    latency = seen.metrics["latency_p95_ms"]["stable"]
    assert isinstance(latency, Samples)
    assert latency.units is not None
    assert latency.units[0] == seen.metrics["latency_p95_ms"]["canary"].units[0]  # type: ignore[union-attr]


def test_summarize_without_units_has_no_unit_data(tmp_path: Path) -> None:
    seen = summarize([RequestRecord(1.0, "stable", "q", GOOD, 100.0)], METRICS, CHECKS, base_dir=tmp_path)
    assert seen.units is None
    assert seen.metrics["error_rate"]["stable"] == Proportion(0, 1)


def test_summarize_splits_the_window_into_sub_windows(tmp_path: Path) -> None:
    records = [RequestRecord(100.0 + t, "canary" if t % 4 == 0 else "stable") for t in range(10)]
    seen = summarize(records, [ERROR_RATE], [], base_dir=tmp_path, window=(100.0, 110.0), batch_s=2.5)
    assert seen.batches == ((2, 1), (1, 1), (3, 0), (1, 1))


def test_jsonl_records_may_name_their_unit(tmp_path: Path) -> None:
    (tmp_path / "requests.jsonl").write_text(
        rec(10.0, "canary", unit="user-1") + rec(11.0, "canary", unit=42) + rec(12.0, "stable")
    )
    seen = source({"type": "jsonl", "path": "requests.jsonl"}, tmp_path).observe(0.0, 100.0)
    assert seen.units == {"canary": 2, "stable": 1}
    (tmp_path / "bad.jsonl").write_text(rec(10.0, "canary", unit=["x"]))
    with pytest.raises(ConfigError, match="unit must be a user, session or tenant id"):
        source({"type": "jsonl", "path": "bad.jsonl"}, tmp_path).observe(0.0, 100.0)
