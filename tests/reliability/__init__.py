"""The reliability suite (docs/reliability.md): quick by default, full with PAILS_RELIABILITY=full."""

from __future__ import annotations

import os

FULL = os.environ.get("PAILS_RELIABILITY") == "full"
