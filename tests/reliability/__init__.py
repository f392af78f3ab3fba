"""The reliability suite (docs/reliability.md): quick by default, inside
`make test`; full with PAILS_RELIABILITY=full (`make reliability`)."""

from __future__ import annotations

import os

FULL = os.environ.get("PAILS_RELIABILITY") == "full"
