from pails.console import throttle
from pails.console.throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_waits_after_its_free_tries_and_the_wait_doubles() -> None:
    clock = Clock()
    t = LoginThrottle(clock)
    for _ in range(throttle.KEY_FREE_TRIES - 1):
        t.failed("AK", "1.2.3.4")
        assert t.wait("AK", "1.2.3.4") == 0
    t.failed("AK", "1.2.3.4")
    assert t.wait("AK", "1.2.3.4") == 1.0
    assert t.wait("AK", "5.6.7.8") == 1.0  # the key waits whatever the address
    assert t.wait("OTHER", "1.2.3.4") == 0  # the address has more tries
    clock.now += 1
    assert t.wait("AK", "1.2.3.4") == 0
    t.failed("AK", "1.2.3.4")
    assert t.wait("AK", "1.2.3.4") == 2.0
    for _ in range(20):
        t.failed("AK", "9.9.9.9")
    assert t.wait("AK", "9.9.9.9") == throttle.MAX_WAIT


def test_success_clears_a_key_and_counts_lapse() -> None:
    clock = Clock()
    t = LoginThrottle(clock)
    for _ in range(throttle.KEY_FREE_TRIES):
        t.failed("AK", "a")
    assert t.wait("AK", "b") > 0
    t.succeeded("AK")
    assert t.wait("AK", "b") == 0
    for _ in range(throttle.ADDRESS_FREE_TRIES):
        t.failed(f"K{_}", "proxy")
    assert t.wait("new", "proxy") == 1.0
    clock.now += throttle.FORGET_AFTER
    assert t.wait("new", "proxy") == 0
    assert "proxy" not in t.addresses.entries


def test_the_tables_stay_bounded(monkeypatch) -> None:
    monkeypatch.setattr(throttle, "MAX_ENTRIES", 10)
    clock = Clock()
    t = LoginThrottle(clock)
    for i in range(25):
        clock.now += 1
        t.failed(f"K{i}", f"A{i}")
    assert len(t.keys.entries) <= 10 and len(t.addresses.entries) <= 10
    assert "K24" in t.keys.entries  # the newest kept
