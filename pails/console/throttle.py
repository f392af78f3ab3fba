"""Login throttling for the console: failed logins slow down further tries.

A secret Pails generates cannot be guessed, but an operator may set a
memorable one (``PAILS_ROOT_SECRET_KEY``), and the console's login form is
the one place a guess costs an attacker a single request.  So, after a few
failures in a row, each access key and each client address must wait before
its next try: 1 s, then 2, 4, ... up to five minutes.  While it waits, a try
is refused without checking the secret (no answer to learn from).  A
successful login clears its key's count; an address's count lapses after a
quiet quarter of an hour.  Addresses get more tries than keys: behind a
reverse proxy every user shares the proxy's address.

Kept in the admin process's memory (one per gateway), bounded in size.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

KEY_FREE_TRIES = 5  # failures in a row an access key may have before it waits
ADDRESS_FREE_TRIES = 20  # the same for a client address
MAX_WAIT = 300.0  # seconds
FORGET_AFTER = 900.0  # seconds without a failure after which a count lapses
MAX_ENTRIES = 10_000  # per table; past it the stalest entries are dropped


@dataclass(slots=True)
class _Failures:
    count: int
    last: float


class _Table:
    def __init__(self, free_tries: int) -> None:
        self.free_tries = free_tries
        self.entries: dict[str, _Failures] = {}

    def wait(self, name: str, now: float) -> float:
        """Seconds ``name`` must still wait before its next try (0: may try now)."""
        entry = self.entries.get(name)
        if entry is None:
            return 0.0
        if now - entry.last >= FORGET_AFTER:
            del self.entries[name]
            return 0.0
        over = entry.count - self.free_tries
        if over < 0:
            return 0.0
        return max(0.0, entry.last + min(2.0 ** over, MAX_WAIT) - now)

    def failed(self, name: str, now: float) -> None:
        entry = self.entries.get(name)
        if entry is None or now - entry.last >= FORGET_AFTER:
            if len(self.entries) >= MAX_ENTRIES:
                self._shrink(now)
            self.entries[name] = _Failures(1, now)
            return
        entry.count += 1
        entry.last = now

    def clear(self, name: str) -> None:
        self.entries.pop(name, None)

    def _shrink(self, now: float) -> None:
        stale = [n for n, e in self.entries.items() if now - e.last >= FORGET_AFTER]
        for name in stale:
            del self.entries[name]
        if len(self.entries) >= MAX_ENTRIES:  # still full: drop the oldest half
            by_age = sorted(self.entries, key=lambda n: self.entries[n].last)
            for name in by_age[: len(by_age) // 2]:
                del self.entries[name]


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.keys = _Table(KEY_FREE_TRIES)
        self.addresses = _Table(ADDRESS_FREE_TRIES)

    def wait(self, access_key: str, address: str) -> float:
        """Seconds before this key from this address may try (0: now)."""
        now = self.clock()
        return max(self.keys.wait(access_key, now), self.addresses.wait(address, now))

    def failed(self, access_key: str, address: str) -> None:
        now = self.clock()
        self.keys.failed(access_key, now)
        self.addresses.failed(address, now)

    def succeeded(self, access_key: str) -> None:
        self.keys.clear(access_key)
