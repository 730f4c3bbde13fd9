"""The request-log format: one JSON object a line, as the app logs each request it served.

``{"ts": 1718000000.5, "arm": "canary", "input": "...", "output": "...", "latency_ms": 812, "error": false}``
``ts`` is unix seconds or an ISO 8601 time with a timezone. ``unit`` (optional) names the routing unit,
the user, session or tenant id the router assigns to an arm as a whole; with it the sample-ratio test
counts units and the intervals are cluster-robust. Other keys are ignored, so apps can log more.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from evalgate.canary.observations import ARMS, RequestRecord
from evalgate.errors import ConfigError

RECORD_FIELDS = (
    "each line must be a JSON object with ts, arm (stable|canary), input, output, latency_ms, error"
)


def parse_record(line: str) -> RequestRecord:
    """One jsonl line as a ``RequestRecord``; ``ValueError`` saying what is wrong."""
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, found {type(obj).__name__}")
    arm = obj.get("arm")
    if arm not in ARMS:
        raise ValueError(f"arm must be 'stable' or 'canary', found {arm!r}")
    latency = obj.get("latency_ms")
    if latency is not None and (
        isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0
    ):
        raise ValueError(f"latency_ms must be a number >= 0 or null, found {latency!r}")
    error = obj.get("error")
    if error is not None and not isinstance(error, bool):
        raise ValueError(f"error must be true or false, found {error!r}")
    unit = obj.get("unit")
    if unit is not None and (isinstance(unit, bool) or not isinstance(unit, str | int)):
        raise ValueError(f"unit must be a user, session or tenant id (text or integer), found {unit!r}")
    return RequestRecord(
        ts=_timestamp(obj.get("ts")),
        arm=arm,
        input=_text(obj.get("input"), "input"),
        output=_text(obj.get("output"), "output"),
        latency_ms=None if latency is None else float(latency),
        error=bool(error),
        unit=None if unit is None else str(unit),
    )


def _timestamp(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        if value > 1e11:
            raise ValueError(f"ts {value!r} looks like milliseconds; write unix seconds")
        return float(value)
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"ts {value!r} is not an ISO 8601 time") from None
        if when.tzinfo is None:
            raise ValueError(f"ts {value!r} has no timezone; add 'Z' or an offset like '+00:00'")
        return when.timestamp()
    raise ValueError(f"ts must be unix seconds or an ISO 8601 time, found {value!r}")


def _text(value: Any, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)  # structured logs: checks see the JSON text
    raise ValueError(f"{field} must be text or null, found {value!r}")


class LineParser:
    """Parses request-log lines, counting the malformed ones; line numbers carry over between reads."""

    def __init__(self, describe: str) -> None:
        self.describe, self.line_no, self.good, self.bad = describe, 0, 0, 0
        self.first_bad: tuple[int, str] | None = None

    def feed(
        self, lines: Iterable[bytes | str], keep: Callable[[RequestRecord], bool]
    ) -> list[RequestRecord]:
        """The records ``keep`` accepts; ``ConfigError`` when every line read so far was malformed."""
        out = []
        for raw in lines:
            self.line_no += 1
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
            if not text.strip():
                continue
            try:
                record = parse_record(text)
            except ValueError as exc:
                self.bad += 1
                self.first_bad = self.first_bad or (self.line_no, str(exc))
                continue
            self.good += 1
            if keep(record):
                out.append(record)
        if self.bad and not self.good and self.first_bad is not None:
            line, why = self.first_bad
            raise ConfigError(
                f"{why}, and no line read so far is a request record",
                file=self.describe,
                line=line,
                fix=RECORD_FIELDS,
            )
        return out

    def notes(self) -> tuple[str, ...]:
        """A note for the observation when lines were skipped."""
        if not self.bad or self.first_bad is None:
            return ()
        line, why = self.first_bad
        return (f"{self.describe}: skipped {self.bad} malformed line(s) so far (first: line {line}: {why})",)
