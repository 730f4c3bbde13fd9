"""``python -m evalgate``."""

from __future__ import annotations

import sys

from evalgate.cli import main

sys.exit(main())
