"""The pin files of a checkout: read every ``policy.model_pins`` location, and move the primary pin.

The thin I/O half of ``evalgate pin show|set``; the text edits themselves are ``evalgate.pinedit``.
Pin locations are repository-relative (as the Action's change policy reads them), so they resolve
against the git top level of the config's folder, or the folder itself outside git.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from evalgate.config import LoadedConfig
from evalgate.errors import ConfigError
from evalgate.pinedit import PinLocation, apply, locate
from evalgate.pins import check_pin
from evalgate.policy import parse_pin_spec


def repo_root(start: Path) -> Path:
    """The git top level containing ``start``, or ``start`` itself when it is not in a git checkout."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(start), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return start
    top = proc.stdout.strip()
    return Path(top) if proc.returncode == 0 and top else start


def _read(path: Path) -> str | None:
    try:
        with open(path, encoding="utf-8", newline="") as fh:  # keep CRLF line ends as they are
            return fh.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read pin file: {exc}", file=str(path)) from None


@dataclass(frozen=True, slots=True)
class PinFiles:
    """Every pin location of a config with its current value, and the primary pin (``model.name``)."""

    root: Path
    primary: str
    locations: tuple[PinLocation, ...]
    texts: Mapping[str, str | None]
    config_dir: Path


def read_pins(loaded: LoadedConfig, root: Path | None = None) -> PinFiles:
    """Read each ``policy.model_pins`` location under the repository root."""
    root = root or repo_root(loaded.root)
    specs = list(dict.fromkeys(parse_pin_spec(text) for text in loaded.config.policy.model_pins))
    texts = {spec.file: _read(root / spec.file) for spec in specs}
    locations = tuple(locate(spec, texts[spec.file]) for spec in specs)
    return PinFiles(root, loaded.config.model.name, locations, texts, loaded.root)


@dataclass(frozen=True, slots=True)
class PinEdit:
    """What ``pin set`` changes: new file texts and the locations moved from ``old`` to ``new``."""

    old: str
    new: str
    files: Mapping[str, str]
    moved: tuple[str, ...]
    kept: tuple[PinLocation, ...]


def plan_set(pins: PinFiles, new: str, allow: Mapping[str, str] | None = None) -> PinEdit:
    """Replace the primary pin at every location holding it; other locations (fallbacks) stay."""
    problem = check_pin(new, allow)
    if problem is not None:
        raise ConfigError(f"'{new}' is not a pin: {problem.reason}", fix=problem.fix)
    holding = [loc for loc in pins.locations if loc.value.state == "set" and loc.value.value == pins.primary]
    if not holding:
        listed = ", ".join(str(loc.spec) for loc in pins.locations) or "(none)"
        fix = f"list where the pin lives, relative to the repository root {pins.root}"
        if pins.config_dir != pins.root and all(loc.value.state == "absent" for loc in pins.locations):
            rel = (
                pins.config_dir.relative_to(pins.root).as_posix()
                if pins.config_dir.is_relative_to(pins.root)
                else None
            )
            if rel:
                fix += f", e.g. {rel}/evalgate.yaml#model.name (or pass --root {rel})"
        raise ConfigError(
            f"no policy.model_pins location holds the current pin '{pins.primary}' (model.name); "
            f"locations: {listed}",
            where="policy.model_pins",
            fix=fix,
        )
    files: dict[str, str] = {}
    for file in dict.fromkeys(loc.spec.file for loc in holding):
        text = pins.texts[file]
        assert text is not None  # a location holding a value was read from an existing file
        keys = [loc.spec.key for loc in holding if loc.spec.file == file]
        others = [loc.spec.key for loc in pins.locations if loc.spec.file == file]
        edited = apply(text, file, keys, new, others)
        if edited != text:
            files[file] = edited
    kept = tuple(loc for loc in pins.locations if loc not in holding)
    return PinEdit(pins.primary, new, files, tuple(str(loc.spec) for loc in holding), kept)


def write_edit(root: Path, edit: PinEdit) -> None:
    """Write the edited files in place (keeping each file's mode, unlike a temp-file rename)."""
    for file, text in edit.files.items():
        try:
            with open(root / file, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        except OSError as exc:
            raise ConfigError(f"cannot write the edited pin file: {exc.strerror}", file=file) from None
