"""``evalgate pin show|set``, ``evalgate compare``, ``evalgate drift`` and ``evalgate upgrade``.

The commands that watch a model between pull requests. Parsing and printing only; the logic lives in
``pinfiles``/``pinedit``, ``compare``, ``drift`` and ``upgrade``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any, Protocol

from evalgate.errors import EXIT_PASSED


class Printer(Protocol):
    def say(self, text: str) -> None: ...

    def warn(self, text: str) -> None: ...


def add_parsers(sub: Any, with_config: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register the commands on the main parser."""
    pin = sub.add_parser("pin", help="show or move the model pin at every policy.model_pins location")
    verbs = pin.add_subparsers(dest="pin_command", required=True, parser_class=type(pin))
    show = verbs.add_parser("show", help="list every pin location with its value")
    with_config(show)
    show.add_argument("--json", action="store_true", help="print JSON")
    pin_set = verbs.add_parser("set", help="replace the primary pin (model.name) wherever it is pinned")
    with_config(pin_set)
    pin_set.add_argument("name", help="the new pinned model, e.g. gpt-4o-2025-03-12")
    pin_set.add_argument("--dry-run", action="store_true", help="say what would change; write nothing")


def dispatch(args: argparse.Namespace, out: Printer) -> int:
    """Run the parsed command."""
    if args.command == "pin":
        return cmd_pin_show(args, out) if args.pin_command == "show" else cmd_pin_set(args, out)
    raise AssertionError(f"unknown command {args.command}")  # pragma: no cover - argparse rejects it


def cmd_pin_show(args: argparse.Namespace, out: Printer) -> int:
    """Every ``policy.model_pins`` location with its value; the primary pin's locations are marked."""
    from evalgate.config import load_config
    from evalgate.pinfiles import read_pins

    pins = read_pins(load_config(args.config))
    if args.json:
        rows = [
            {
                "location": str(loc.spec),
                **loc.value.to_dict(),
                "primary": loc.value.state == "set" and loc.value.value == pins.primary,
            }
            for loc in pins.locations
        ]
        out.say(json.dumps({"primary": pins.primary, "root": str(pins.root), "pins": rows}, indent=2))
        return EXIT_PASSED
    width = max((len(str(loc.spec)) for loc in pins.locations), default=0)
    for loc in pins.locations:
        value = loc.value.short(200)
        mark = "  (primary)" if loc.value.state == "set" and loc.value.value == pins.primary else ""
        out.say(f"{loc.spec!s:<{width}}  {value}{mark}")
    return EXIT_PASSED


def cmd_pin_set(args: argparse.Namespace, out: Printer) -> int:
    """Move the primary pin to ``args.name`` at every location holding it, keeping formatting."""
    from evalgate.config import load_config
    from evalgate.pinfiles import plan_set, read_pins, write_edit

    loaded = load_config(args.config)
    pins = read_pins(loaded)
    if args.name == pins.primary:
        out.say(f"already pinned to {args.name}; nothing to change")
        return EXIT_PASSED
    allow = {entry.model: entry.reason for entry in loaded.config.pins.allow}
    edit = plan_set(pins, args.name, allow)
    if not args.dry_run:
        write_edit(pins.root, edit)
    verb = "would change" if args.dry_run else "changed"
    for location in edit.moved:
        out.say(f"{verb} {location}: {edit.old} → {edit.new}")
    for loc in edit.kept:
        out.say(f"kept {loc.spec}: {loc.value.short()}")
    return EXIT_PASSED
