"""evalgate: eval suites, quality gates and monitored canaries for LLM features."""

from __future__ import annotations

__version__ = "0.1.0"
