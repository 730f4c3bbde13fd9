"""``python -m evalgate``."""

from __future__ import annotations

from evalgate.cli import console

console()
