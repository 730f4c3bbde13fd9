"""The Prometheus metric source: per-arm numbers from the instant-query API at the end of each look.

Proportions come from two counters per arm (hits and total over ``{window}``), rounded to whole requests
because ``increase()`` extrapolates. A quantile comes as ONE precomputed number per arm (``Samples`` of
length one), so the judge can compare it against a limit but cannot put an interval on it; use a request
log source when latency needs a statistical comparison. An empty result is no data, never zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import Field

from evalgate.canary.observations import ARMS, Arm, ArmData, Observation, Proportion, Samples
from evalgate.canary.sources import ERROR_RATE, MetricDef
from evalgate.canary.transport import Seconds, http_request, parse_spec
from evalgate.errors import ConfigError, InfrastructureError
from evalgate.providers.http import expand_env
from evalgate.strict import Strict


class ArmQueries(Strict):
    """One PromQL query per arm; ``{window}`` becomes the look's window length, e.g. ``300s``."""

    stable: Annotated[str, Field(min_length=1)]
    canary: Annotated[str, Field(min_length=1)]


class PrometheusSpec(Strict):
    """``source: {type: prometheus, url: http://prom:9090, queries: {metric: {...}}, requests: {...}?}``.

    A quantile metric takes ``{stable, canary}``; a proportion metric ``{hits: {...}, total: {...}}``.
    ``requests`` (per-arm request counts) feeds the sample-ratio check; without it ``error_rate``'s
    ``total`` is used.
    """

    type: Literal["prometheus"] = "prometheus"
    url: Annotated[str, Field(pattern=r"^https?://")]
    queries: dict[str, dict[str, Any]]
    requests: ArmQueries | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: Seconds = 10.0
    # width of the sub-windows a one-shot judge (``canary judge``) counts ``requests`` in, to tell fresh
    # traffic from a window that only holds old samples; several scrape intervals wide
    sub_window: Seconds = 30.0


class ProportionQueries(Strict):
    """Hits and totals (e.g. ``sum(increase(errors_total{arm="canary"}[{window}]))``)."""

    hits: ArmQueries
    total: ArmQueries


class PrometheusSource:
    """Asks Prometheus's instant-query API for per-arm numbers at ``until`` over the look's window."""

    def __init__(self, spec: PrometheusSpec, env: Mapping[str, str], metrics: Sequence[MetricDef]) -> None:
        self.url = expand_env(spec.url, env, where="source.url").rstrip("/")
        self._headers = {k: expand_env(v, env, where=f"source.headers.{k}") for k, v in spec.headers.items()}
        self._spec, self.name = spec, f"prometheus {spec.url}"
        self._quantiles: dict[str, ArmQueries] = {}
        self._proportions: dict[str, ProportionQueries] = {}
        known = {m.name: m for m in metrics}
        for name in spec.queries:
            if name not in known:
                raise ConfigError(
                    f"no metric named '{name}' in the plan",
                    where=f"source.queries.{name}",
                    fix=f"use one of: {', '.join(known)}",
                )
        for metric in metrics:
            raw = spec.queries.get(metric.name)
            where = f"source.queries.{metric.name}"
            if raw is None:
                raise ConfigError(
                    "missing query",
                    where=where,
                    fix="Prometheus cannot answer a metric without a query for each arm",
                )
            if metric.kind == "quantile":
                self._quantiles[metric.name] = parse_spec(ArmQueries, raw, where=where)
            else:
                self._proportions[metric.name] = parse_spec(ProportionQueries, raw, where=where)

    def observe(self, since: float, until: float) -> Observation:
        """Run every query at ``until`` with ``{window}`` = ``until - since``; an empty result is no data."""
        window = f"{max(1, round(until - since))}s"
        notes: list[str] = []

        def ask(queries: ArmQueries, what: str) -> dict[Arm, float]:
            found = {}
            for arm in ARMS:
                value = self._query(getattr(queries, arm).replace("{window}", window), until, f"{what}.{arm}")
                if value is None:
                    continue
                if not math.isfinite(value) or value < 0:
                    notes.append(f"{what}.{arm}: Prometheus returned {value}; treated as no data")
                    continue
                found[arm] = value
            return found

        data: dict[str, dict[Arm, ArmData]] = {}
        for name, arm_queries in self._quantiles.items():
            data[name] = {arm: Samples((v,)) for arm, v in ask(arm_queries, name).items()}
            notes.append(f"{name}: one precomputed value per arm from Prometheus; no interval is possible")
        for name, pair in self._proportions.items():
            hits, total = ask(pair.hits, f"{name}.hits"), ask(pair.total, f"{name}.total")
            data[name] = {}
            for arm in ARMS:
                if arm in hits and round(total.get(arm, 0)) > 0:  # counters are extrapolated floats
                    n, k = round(total[arm]), round(hits[arm])
                    if k > n:
                        notes.append(f"{name}.{arm}: hits {k} > total {n} (queries ran at different moments)")
                    data[name][arm] = Proportion(min(k, n), n)
        if self._spec.requests is not None:
            counts = {arm: round(v) for arm, v in ask(self._spec.requests, "requests").items()}
        elif ERROR_RATE in self._proportions:
            counts = {arm: p.total for arm, p in data[ERROR_RATE].items() if isinstance(p, Proportion)}
        else:
            counts = {}
            notes.append("no per-arm request counts (add source.requests), so no sample-ratio check")
        return Observation(counts, data, source=self.name, window=(since, until), notes=tuple(notes))

    def request_batches(self, since: float, until: float) -> tuple[tuple[tuple[int, int], ...], float]:
        """Per-arm request counts in consecutive ``sub_window``-wide sub-windows of ``[since, until)``, as
        ``((stable, canary), ...)`` and the width; empty without ``requests`` or room for two sub-windows.

        One range query per arm; a sub-window without samples (the app or the scrape stopped) counts 0.
        """
        width = self._spec.sub_window
        count = math.floor((until - since) / width + 1e-9)
        if self._spec.requests is None or count < 2:
            return (), width
        per_arm: dict[Arm, dict[int, float]] = {}
        for arm in ARMS:
            query = getattr(self._spec.requests, arm).replace("{window}", f"{round(width * 1000)}ms")
            per_arm[arm] = self._query_range(query, since + width, since + count * width, width, arm)
        batches = tuple(
            (round(per_arm["stable"].get(k, 0.0)), round(per_arm["canary"].get(k, 0.0)))
            for k in range(1, count + 1)
        )
        return batches, width

    def _query_range(self, query: str, start: float, end: float, step: float, arm: str) -> dict[int, float]:
        what = f"{self.name}: requests.{arm} (sub-windows)"
        response = http_request(
            "GET",
            f"{self.url}/api/v1/query_range",
            what=what,
            headers=self._headers,
            timeout_s=self._spec.timeout_s,
            params={"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"},
        )
        try:
            data = response.json()["data"]
            if data["resultType"] != "matrix" or len(data["result"]) > 1:
                raise ConfigError(
                    "the requests query does not give one series over time",
                    where=what,
                    fix="aggregate it, e.g. sum(increase(...[{window}]))",
                )
            points = data["result"][0]["values"] if data["result"] else []
            out: dict[int, float] = {}
            for ts, value in points:
                number = float(value)
                if math.isfinite(number) and number >= 0:
                    out[round((float(ts) - start) / step) + 1] = number
            return out
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise InfrastructureError(f"{what}: unexpected response ({exc}): {response.text[:200]}") from None

    def _query(self, query: str, at: float, what: str) -> float | None:
        what = f"{self.name}: {what}"
        response = http_request(
            "GET",
            f"{self.url}/api/v1/query",
            what=what,
            headers=self._headers,
            timeout_s=self._spec.timeout_s,
            params={"query": query, "time": f"{at:.3f}"},
        )
        try:
            body = response.json()
            data = body["data"]
            kind, result = data["resultType"], data["result"]
            if kind == "scalar":
                return float(result[1])
            if kind != "vector":
                raise ConfigError(
                    f"query returned a {kind}, not one number",
                    where=what,
                    fix="use an instant vector, e.g. sum(rate(...[{window}]))",
                )
            if not result:
                return None  # no series: no data, never zero
            if len(result) > 1:
                raise ConfigError(
                    f"query returned {len(result)} series, not one",
                    where=what,
                    fix="aggregate it, e.g. wrap it in sum(...)",
                )
            return float(result[0]["value"][1])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise InfrastructureError(f"{what}: unexpected response ({exc}): {response.text[:200]}") from None
