"""Cases kept in data files: CSV, JSON Lines, and JSON/YAML lists, each row remembering its line.

A suite may itself be one of these files, or list them under ``cases:`` (``file://tests.csv`` or a glob).

- CSV: a header row; each other column is a var. ``__expected``, ``__expected1``, ... hold checks in
  promptfoo's ``type:value`` shorthand (``contains:Paris``, ``llm-rubric:is polite``, a bare value
  means ``equals``). ``__id``, ``__description``, ``__prompt``, ``__input``, ``__threshold``,
  ``__metric`` / ``__tags`` (comma-separated) and ``__required`` set those case fields.
- JSON Lines: one case mapping per line. JSON/YAML: a list of case mappings.
- A row without an ``id`` gets ``<file stem>-<row number>``, stable as long as rows are not reordered.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import re
from pathlib import Path
from typing import Any

from evalgate.errors import ConfigError
from evalgate.yamlsrc import YamlDoc, load_yaml_file

DATA_SUFFIXES = (".csv", ".jsonl")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:\-]+")
_CSV_FIELDS = {
    "__id": "id",
    "__description": "description",
    "__prompt": "prompt",
    "__input": "input",
    "__threshold": "threshold",
    "__required": "required",
}


class RowsDoc(YamlDoc):
    """A ``YamlDoc`` for rows that are not YAML: ``("cases", i, ...)`` maps to row ``i``'s line."""

    def __init__(self, rows: list[Any], lines: list[int], file: str) -> None:
        super().__init__({"cases": rows}, None, file)
        self._lines = lines

    def line_of(self, loc: tuple[int | str, ...]) -> int | None:
        if len(loc) >= 2 and loc[0] == "cases" and isinstance(loc[1], int) and 0 <= loc[1] < len(self._lines):
            return self._lines[loc[1]]
        return 1


def stem_id(path: Path) -> str:
    """The prefix of generated ids for rows of ``path``."""
    return _UNSAFE.sub("-", path.stem).strip("-.:") or "case"


def _truthy(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "y")


def csv_row_to_case(row: dict[str, str], *, file: str, line: int) -> dict[str, Any]:
    """One CSV row as a case mapping (checks from ``__expected*`` columns, the rest as vars)."""
    from evalgate.promptfoo.asserts import shorthand_check

    case: dict[str, Any] = {}
    variables: dict[str, Any] = {}
    checks: list[dict[str, Any]] = []
    tags: list[str] = []
    for column, raw in row.items():
        if column is None:
            raise ConfigError(
                "row has more cells than the header has columns",
                file=file,
                line=line,
                fix="quote cells holding commas",
            )
        value = raw if raw is not None else ""
        if column.startswith("__expected"):
            if value.strip():
                checks.append(shorthand_check(value, file=file, line=line))
        elif column in ("__metric", "__tags"):
            tags += [t.strip() for t in value.split(",") if t.strip()]
        elif column in _CSV_FIELDS:
            if not value.strip():
                continue
            key = _CSV_FIELDS[column]
            if key == "threshold":
                try:
                    case[key] = float(value)
                except ValueError:
                    raise ConfigError(
                        f"__threshold {value!r} is not a number", file=file, line=line, fix="e.g. 0.8"
                    ) from None
            elif key == "required":
                case[key] = _truthy(value)
            else:
                case[key] = value
        elif column.startswith("__"):
            known = ", ".join(["__expected, __expectedN", "__metric", "__tags", *_CSV_FIELDS])
            raise ConfigError(
                f"unknown special column '{column}'", file=file, line=1, fix=f"known columns: {known}"
            )
        else:
            variables[column] = value
    if variables:
        case["vars"] = variables
    if checks:
        case["checks"] = checks
    if tags:
        case["tags"] = tags
    return case


def read_csv(path: Path, display: str) -> RowsDoc:
    """Every row of a CSV file as a case mapping, with the line each row starts on."""
    text = _read(path, display)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    rows: list[Any] = []
    lines: list[int] = []
    start = 2
    try:
        for row in reader:
            rows.append(csv_row_to_case(row, file=display, line=start))
            lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ConfigError(f"invalid CSV: {exc}", file=display, line=reader.line_num) from None
    if reader.fieldnames is None:
        raise ConfigError("empty CSV file", file=display, fix="the first row names the columns (vars)")
    return RowsDoc(rows, lines, display)


def read_jsonl(path: Path, display: str) -> RowsDoc:
    """Every non-blank line of a JSON Lines file as one value."""
    rows: list[Any] = []
    lines: list[int] = []
    for number, line in enumerate(_read(path, display).splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"invalid JSON: {exc.msg} at column {exc.colno}", file=display, line=number
            ) from None
        lines.append(number)
    return RowsDoc(rows, lines, display)


def _read(path: Path, display: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=display) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason})", file=display, fix="save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", file=display) from None


def read_rows(path: Path, display: str, *, cache_dir: Path | None = None) -> tuple[YamlDoc, list[Any]]:
    """``(doc, rows)`` where ``rows`` are at ``("cases", i)`` in ``doc``; YAML/JSON files hold a list."""
    if path.suffix == ".csv":
        doc: YamlDoc = read_csv(path, display)
    elif path.suffix == ".jsonl":
        doc = read_jsonl(path, display)
    else:
        doc = load_yaml_file(path, cache_dir=cache_dir)
        doc.file = display
        if isinstance(doc.data, dict) and isinstance(doc.data.get("cases"), list):
            return doc, doc.data["cases"]
        if not isinstance(doc.data, list):
            raise ConfigError(
                "a cases file must hold a list of cases (or a mapping with 'cases:')", file=display, line=1
            )
        return _as_cases_doc(doc), doc.data
    return doc, doc.data["cases"]


class _ListDoc(YamlDoc):
    """A YAML list document addressed as if it were ``{cases: [...]}``."""

    def __init__(self, inner: YamlDoc) -> None:
        super().__init__({"cases": inner.data}, None, inner.file)
        self._inner = inner

    def line_of(self, loc: tuple[int | str, ...]) -> int | None:
        return self._inner.line_of(loc[1:] if loc[:1] == ("cases",) else loc)


def _as_cases_doc(doc: YamlDoc) -> YamlDoc:
    return _ListDoc(doc)


def expand_ref(ref: str, base: Path, *, file: str, line: int) -> list[Path]:
    """The files a ``cases:`` entry names (``file://`` optional, globs allowed), sorted."""
    rel = ref.removeprefix("file://")
    pattern = str(base / rel)
    matches = (
        sorted(Path(m) for m in glob.glob(pattern, recursive=True))
        if glob.has_magic(rel)
        else [Path(pattern)]
    )
    found = [m for m in matches if m.is_file()]
    if not found:
        raise ConfigError(
            f"cases file '{ref}' not found" if not glob.has_magic(rel) else f"'{ref}' matches no files",
            file=file,
            line=line,
            fix="paths are relative to the suite's folder",
        )
    return found
