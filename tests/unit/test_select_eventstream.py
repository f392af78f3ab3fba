"""S3 Select's event-stream framing, checked by decoding with botocore's own
EventStream parser (what boto3's select_object_content reads)."""

from __future__ import annotations

import struct
import zlib

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from pails.s3.select import eventstream


def decode(data: bytes) -> list:
    buf = EventStreamBuffer()
    buf.add_data(data)
    return list(buf)


def test_messages_decode_with_botocore():
    data = (eventstream.records(b"a,b\n") + eventstream.cont() + eventstream.progress(10, 20, 4)
            + eventstream.stats(10, 20, 4) + eventstream.end())
    messages = decode(data)
    kinds = [m.headers[":event-type"] for m in messages]
    assert kinds == ["Records", "Cont", "Progress", "Stats", "End"]
    assert all(m.headers[":message-type"] == "event" for m in messages)
    assert messages[0].payload == b"a,b\n"
    assert messages[0].headers[":content-type"] == "application/octet-stream"
    assert b"<BytesScanned>10</BytesScanned><BytesProcessed>20</BytesProcessed><BytesReturned>4</BytesReturned>" \
        in messages[3].payload
    assert messages[4].payload == b""


def test_error_message():
    (m,) = decode(eventstream.error("CastFailed", "Cannot cast 'x' to INT."))
    assert m.headers == {":error-code": "CastFailed", ":error-message": "Cannot cast 'x' to INT.",
                         ":message-type": "error"}


def test_crcs_are_checked():
    data = bytearray(eventstream.records(b"payload"))
    total, headers_len, prelude_crc = struct.unpack("!III", data[:12])
    assert total == len(data) and prelude_crc == zlib.crc32(bytes(data[:8]))
    data[-6] ^= 0xFF  # a payload byte: the message CRC no longer matches
    with pytest.raises(ChecksumMismatch):
        decode(bytes(data))


def test_botocore_parses_the_response_shapes():
    """The whole stream read by boto3's parser into the dicts callers see."""
    import botocore.session
    from botocore.eventstream import EventStream
    from botocore.parsers import EventStreamXMLParser

    model = botocore.session.get_session().get_service_model("s3")
    op = model.operation_model("SelectObjectContent")
    shape = op.output_shape.members["Payload"]

    class Raw:
        def stream(self):
            yield eventstream.records(b"1\n") + eventstream.stats(3, 3, 2) + eventstream.end()

        def close(self):
            pass

    events = list(EventStream(Raw(), shape, EventStreamXMLParser(), "SelectObjectContent"))
    assert events[0] == {"Records": {"Payload": b"1\n"}}
    assert events[1] == {"Stats": {"Details": {"BytesScanned": 3, "BytesProcessed": 3, "BytesReturned": 2}}}
    assert events[2] == {"End": {}}
