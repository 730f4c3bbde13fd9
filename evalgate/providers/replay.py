"""Recorded responses: run a suite offline and deterministically from a YAML or JSON file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field

from evalgate.errors import ConfigError, ProviderError
from evalgate.providers.base import ModelRequest
from evalgate.results import Completion
from evalgate.strict import Strict
from evalgate.yamlsrc import load_yaml_file, validate

ENTRY_FIELDS = ("text", "model", "latency_ms", "input_tokens", "output_tokens")


class RecordedResponse(Strict):
    """One recorded answer with what was known about the call that produced it."""

    text: str
    model: str | None = None
    latency_ms: Annotated[float, Field(ge=0)] | None = None
    input_tokens: Annotated[int, Field(ge=0)] | None = None
    output_tokens: Annotated[int, Field(ge=0)] | None = None


def load_recording(path: Path) -> dict[str, RecordedResponse]:
    """Read a recording; ``ConfigError`` with the file and line for anything malformed."""
    if not path.is_file():
        raise ConfigError(
            "recorded responses file not found",
            file=str(path),
            fix="record one with `evalgate record`, or fix model.responses (relative to evalgate.yaml)",
        )
    doc = load_yaml_file(path)  # JSON is YAML, so one loader serves both
    if doc.data is None:
        return {}
    if not isinstance(doc.data, dict):
        raise ConfigError(
            f"expected a mapping of case id to response, found a {type(doc.data).__name__}",
            file=str(path),
            line=1,
        )
    out: dict[str, RecordedResponse] = {}
    for key, value in doc.data.items():
        case_id = str(key)
        if isinstance(value, str):
            out[case_id] = RecordedResponse(text=value)
        elif isinstance(value, dict):
            out[case_id] = validate(
                RecordedResponse, doc, data=value, prefix=(case_id,), expect="a response mapping"
            )
        else:
            raise ConfigError(
                f"expected the response text or a mapping with 'text', found {type(value).__name__}",
                file=str(path),
                line=doc.line_of((case_id,)),
                where=case_id,
            )
    return out


class ReplayProvider:
    """Answers each case from the recording; a missing case is an error, never a silent pass."""

    name = "replay"

    def __init__(self, *, path: Path, display_path: str | None = None) -> None:
        self.path = path
        self._display = display_path or str(path)
        self._responses = load_recording(path)

    def __repr__(self) -> str:
        return f"ReplayProvider(path={self._display!r}, cases={len(self._responses)})"

    def complete(self, request: ModelRequest) -> Completion:
        """Return the recorded response for the request's case id."""
        entry = self._responses.get(request.case_id)
        if entry is None:
            raise ProviderError(
                f"no recorded response for case '{request.case_id}' in {self._display}; "
                "re-record with `evalgate record`",
                retryable=False,
            )
        return Completion(
            text=entry.text,
            model=entry.model or request.model,
            input_tokens=entry.input_tokens,
            output_tokens=entry.output_tokens,
            latency_ms=entry.latency_ms or 0.0,
        )

    def close(self) -> None:
        """Nothing is held between calls."""


class _RecordingDumper(yaml.SafeDumper):
    """A dumper of our own so the literal-block style does not leak into other YAML output."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_RecordingDumper.add_representer(str, _represent_str)


def _normalise(value: str | Mapping[str, Any] | Completion) -> str | dict[str, Any]:
    if isinstance(value, str):
        return value
    if isinstance(value, Completion):
        value = {
            "text": value.text,
            "model": value.model,
            "latency_ms": round(value.latency_ms, 1),
            "input_tokens": value.input_tokens,
            "output_tokens": value.output_tokens,
        }
    entry = {key: value[key] for key in ENTRY_FIELDS if value.get(key) is not None}
    unknown = sorted(set(value) - set(ENTRY_FIELDS))
    if "text" not in entry or unknown:
        raise ValueError(f"a recorded response needs 'text' and only {ENTRY_FIELDS}; got {sorted(value)}")
    return entry


def write_recording(path: Path, mapping: Mapping[str, str | Mapping[str, Any] | Completion]) -> None:
    """Write case id -> response to YAML (or JSON for ``.json``), sorted so re-recording diffs cleanly."""
    data = {str(case_id): _normalise(mapping[case_id]) for case_id in sorted(mapping, key=str)}
    if path.suffix.lower() == ".json":
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    else:
        text = yaml.dump(
            data,
            Dumper=_RecordingDumper,
            sort_keys=False,
            allow_unicode=True,
            default_flow_style=False,
            width=1_000_000,  # long answers stay on one line instead of being folded
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename so an interrupted record run never leaves half a file behind.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
