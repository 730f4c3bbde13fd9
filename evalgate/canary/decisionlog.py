"""The append-only decision log: one JSON object a line, shared by the running controller and the manual
``promote``/``rollback`` commands (that is how an override reaches a rollout in progress)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evalgate.errors import ConfigError


def iso(ts: float) -> str:
    """Unix seconds as an ISO 8601 UTC timestamp with milliseconds."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


class DecisionLog:
    """Appends records with a timestamp; reads them back, or only the ones added since the last read."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._offset = 0
        self.records: list[dict[str, Any]] = []  # kept in memory too, for the summary when there is no file

    def append(self, record: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
        """Add ``record`` (a ``ts`` is set when missing) and return it."""
        stamped = {"ts": iso(time.time() if now is None else now), **record}
        self.records.append(stamped)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = json.dumps(stamped, ensure_ascii=False, separators=(",", ":")) + "\n"
            # one write of one line in append mode: concurrent writers interleave whole lines
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
        return stamped

    def read_all(self) -> list[dict[str, Any]]:
        """Every record in the file (or in memory when there is no file)."""
        if self.path is None:
            return list(self.records)
        if not self.path.exists():
            return []
        return list(_parse(self.path.read_text(encoding="utf-8"), str(self.path)))

    def read_new(self) -> list[dict[str, Any]]:
        """Records appended by anyone since the previous call (the controller polls this)."""
        if self.path is None or not self.path.exists():
            return []
        with self.path.open("rb") as fh:
            fh.seek(self._offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1  # a half-written last line waits for the next call
        self._offset += end
        return list(_parse(data[:end].decode("utf-8"), str(self.path)))

    def skip_existing(self) -> None:
        """Start ``read_new`` from the current end of the file."""
        if self.path is not None and self.path.exists():
            self._offset = self.path.stat().st_size


def _parse(text: str, name: str) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"decision log line is not JSON: {exc}", file=name, line=number) from None
        if isinstance(record, dict):
            yield record
