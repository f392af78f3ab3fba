"""The order of S3 Select's event-stream messages (pails.s3.select.handler):
Records as output accumulates, Cont and Progress between steps, then Stats
and End, or an error message that ends the stream."""

from __future__ import annotations

import asyncio

import pytest
from botocore.eventstream import EventStreamBuffer

from pails.errors import S3Error
from pails.s3.select import config, handler
from pails.s3.select.scanner import Scanner
from pails.s3.select.sql import parse


class FakeSteps:
    def __init__(self, outputs: list[object]) -> None:
        self.outputs = outputs
        self.closed = False

    def step(self) -> tuple[str, bool]:
        out = self.outputs.pop(0)
        if isinstance(out, Exception):
            raise out
        return str(out), not self.outputs

    def close(self) -> None:
        self.closed = True


def kinds(steps: FakeSteps, progress: bool, first: str = "") -> list[tuple[str, bytes]]:
    scanner = Scanner(config.Settings(expression="", input_format="csv"), parse("SELECT * FROM S3Object"))

    async def collect() -> bytes:
        return b"".join([m async for m in handler._messages(steps, scanner, first, False, progress, "req")])

    buf = EventStreamBuffer()
    buf.add_data(asyncio.run(collect()))
    return [(m.headers.get(":event-type") or m.headers[":error-code"], m.payload) for m in buf]


def test_records_then_stats_and_end(monkeypatch):
    monkeypatch.setattr(handler, "KEEPALIVE", 3600.0)
    steps = FakeSteps(["b\n", "", "c\n"])
    got = kinds(steps, progress=False, first="a\n")
    assert got[0] == ("Records", b"a\nb\nc\n")  # small outputs gathered into one message
    assert [k for k, _ in got[1:]] == ["Stats", "End"]
    assert steps.closed


def test_cont_and_progress_between_steps(monkeypatch):
    monkeypatch.setattr(handler, "KEEPALIVE", 0.0)
    assert [k for k, _ in kinds(FakeSteps(["", "", "x\n"]), progress=False)] == \
        ["Cont", "Cont", "Cont", "Records", "Stats", "End"]
    monkeypatch.setattr(handler, "PROGRESS_EVERY", 0.0)
    assert [k for k, _ in kinds(FakeSteps(["", "x\n"]), progress=True)] == \
        ["Progress", "Progress", "Records", "Progress", "Stats", "End"]


def test_flush_when_output_grows(monkeypatch):
    monkeypatch.setattr(handler, "FLUSH", 4)
    got = kinds(FakeSteps(["bbbb\n", "c\n"]), progress=False, first="a\n")
    assert [k for k, _ in got] == ["Records", "Records", "Stats", "End"]


@pytest.mark.parametrize(("error", "code"), [(S3Error("CastFailed", "no"), "CastFailed"),
                                              (RuntimeError("bug"), "InternalError")])
def test_error_ends_the_stream(error, code):
    steps = FakeSteps(["a\n", error, "never\n"])
    got = kinds(steps, progress=False)
    assert got == [("Records", b"a\n"), (code, b"")]  # what came before, then the error; no End
    assert steps.closed
