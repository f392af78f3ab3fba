"""The reliability suite (docs/reliability.md): quick by default, full with PAILS_RELIABILITY=full."""

import os

FULL = os.environ.get("PAILS_RELIABILITY") == "full"
