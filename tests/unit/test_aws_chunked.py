"""aws-chunked decoding against AWS's published streaming examples, plus hostile input."""

from __future__ import annotations

import random

import pytest

from pails.access import sigv4
from pails.access.aws_chunked import AwsChunkedDecoder
from pails.access.request import ChunkSigningContext
from pails.errors import S3Error

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEY = sigv4.signing_key(SECRET, "20130524", "us-east-1", "s3")
SCOPE = "20130524/us-east-1/s3/aws4_request"
PAYLOAD = b"a" * 66560


def ctx(seed: str) -> ChunkSigningContext:
    return ChunkSigningContext(KEY, "20130524T000000Z", SCOPE, seed)


# sigv4-streaming example: 64 KiB + 1 KiB + final chunk.
SIGNED_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
SIGNED_BODY = (
    b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n"
    + b"a" * 65536
    + b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n"
    + b"a" * 1024
    + b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n"
)
# sigv4-streaming-trailers example: same payload, CRC32C trailer, trailer signature.
TRAILER_SEED = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
TRAILER_BODY = (
    b"10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n"
    + b"a" * 65536
    + b"\r\n400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n"
    + b"a" * 1024
    + b"\r\n0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n"
    + b"x-amz-checksum-crc32c:sOO8/Q==\r\n"
    + b"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n"
)
UNSIGNED_BODY = (
    b"10000\r\n"
    + b"a" * 65536
    + b"\r\n400\r\n"
    + b"a" * 1024
    + b"\r\n0\r\nx-amz-checksum-crc32c:sOO8/Q==\r\n\r\n"
)


def signed() -> AwsChunkedDecoder:
    return AwsChunkedDecoder(signing=ctx(SIGNED_SEED), expect_trailer=False, signed_trailer=False)


def with_trailer() -> AwsChunkedDecoder:
    return AwsChunkedDecoder(signing=ctx(TRAILER_SEED), expect_trailer=True, signed_trailer=True)


def unsigned() -> AwsChunkedDecoder:
    return AwsChunkedDecoder(signing=None, expect_trailer=True, signed_trailer=False)


def decode(
    decoder: AwsChunkedDecoder, body: bytes, pieces: list[int] | None = None
) -> tuple[bytes, dict[str, str]]:
    out = bytearray()
    if pieces is None:
        pieces = [len(body)]
    pos = 0
    for size in pieces:
        for piece in decoder.feed(body[pos : pos + size]):
            out += piece
        pos += size
    assert pos == len(body)
    trailers = decoder.finish()
    assert decoder.decoded_bytes == len(out)
    return bytes(out), trailers


@pytest.mark.parametrize(
    ("factory", "body", "trailers"),
    [
        (signed, SIGNED_BODY, {}),
        (with_trailer, TRAILER_BODY, {"x-amz-checksum-crc32c": "sOO8/Q=="}),
        (unsigned, UNSIGNED_BODY, {"x-amz-checksum-crc32c": "sOO8/Q=="}),
    ],
)
def test_published_examples(factory, body: bytes, trailers: dict[str, str]) -> None:
    assert decode(factory(), body) == (PAYLOAD, trailers)


@pytest.mark.parametrize(
    ("factory", "body"), [(signed, SIGNED_BODY), (with_trailer, TRAILER_BODY), (unsigned, UNSIGNED_BODY)]
)
def test_one_byte_at_a_time(factory, body: bytes) -> None:
    whole = decode(factory(), body)
    assert decode(factory(), body, [1] * len(body)) == whole


def test_split_at_every_boundary_near_framing() -> None:
    # Every two-piece split around the chunk headers and CRLFs.
    cut_points = (
        set(range(0, 120)) | set(range(65600, 65780)) | set(range(len(TRAILER_BODY) - 220, len(TRAILER_BODY)))
    )
    for cut in sorted(cut_points):
        out, trailers = decode(with_trailer(), TRAILER_BODY, [cut, len(TRAILER_BODY) - cut])
        assert out == PAYLOAD and trailers == {"x-amz-checksum-crc32c": "sOO8/Q=="}


def test_random_splits() -> None:
    rng = random.Random(1234)
    for _ in range(50):
        pieces, left = [], len(SIGNED_BODY)
        while left:
            n = min(left, rng.choice((1, 2, 3, 7, 100, 4096, 70000)))
            pieces.append(n)
            left -= n
        assert decode(signed(), SIGNED_BODY, pieces)[0] == PAYLOAD


def test_payload_is_streamed_not_buffered() -> None:
    decoder = signed()
    header_len = SIGNED_BODY.index(b"\r\n") + 2
    out = decoder.feed(SIGNED_BODY[: header_len + 1000])
    assert sum(len(p) for p in out) == 1000
    assert isinstance(out[0], memoryview)


@pytest.mark.parametrize("offset", [100, 65536 + 200, 66000])
def test_tampered_data_fails(offset: int) -> None:
    body = bytearray(SIGNED_BODY)
    body[offset] = ord("b")
    with pytest.raises(S3Error) as info:
        decode(signed(), bytes(body))
    assert info.value.code == "SignatureDoesNotMatch"


@pytest.mark.parametrize("sig_index", [0, 1, 2])
def test_tampered_chunk_signature_fails(sig_index: int) -> None:
    sigs = [m for m in (b"ad80c730", b"0055627c", b"b6c6ea8a")]
    body = SIGNED_BODY.replace(sigs[sig_index], b"00000000")
    with pytest.raises(S3Error) as info:
        decode(signed(), body)
    assert info.value.code == "SignatureDoesNotMatch"


def test_wrong_seed_fails() -> None:
    decoder = AwsChunkedDecoder(signing=ctx(TRAILER_SEED), expect_trailer=False, signed_trailer=False)
    with pytest.raises(S3Error):
        decode(decoder, SIGNED_BODY)


def test_tampered_trailer_fails() -> None:
    for body in (
        TRAILER_BODY.replace(b"sOO8/Q==", b"AAAAAA=="),
        TRAILER_BODY.replace(b"x-amz-trailer-signature:d81f", b"x-amz-trailer-signature:0000"),
        TRAILER_BODY.replace(
            b"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n",
            b"",
        ),
    ):
        with pytest.raises(S3Error) as info:
            decode(with_trailer(), body)
        assert info.value.code == "SignatureDoesNotMatch"


def test_lenient_endings() -> None:
    assert decode(signed(), SIGNED_BODY[:-2])[0] == PAYLOAD  # no final CRLF
    assert decode(with_trailer(), TRAILER_BODY[:-2])[1] == {"x-amz-checksum-crc32c": "sOO8/Q=="}
    assert decode(with_trailer(), TRAILER_BODY[:-4])[1] == {"x-amz-checksum-crc32c": "sOO8/Q=="}
    assert decode(unsigned(), UNSIGNED_BODY[:-2])[1] == {"x-amz-checksum-crc32c": "sOO8/Q=="}
    # Some clients end trailer lines with LF and put a blank line before the signature.
    variant = TRAILER_BODY.replace(b"sOO8/Q==\r\nx-amz", b"sOO8/Q==\n\r\nx-amz")
    assert decode(with_trailer(), variant)[1] == {"x-amz-checksum-crc32c": "sOO8/Q=="}


@pytest.mark.parametrize("cut", [0, 10, 90, 5000, 65625, 66700, len(SIGNED_BODY) - 4])
def test_truncated_body_is_incomplete(cut: int) -> None:
    decoder = signed()
    decoder.feed(SIGNED_BODY[:cut])
    with pytest.raises(S3Error) as info:
        decoder.finish()
    assert info.value.code == "IncompleteBody"


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\n",
        b"-1\r\n",
        b"0x10\r\n",
        b" \r\n",
        b"1_0\r\n",
        b"\xff\xfe\r\n",
        b"10000000001\r\n",  # 2^40 + 1
        b"ffffffffffffffffff\r\n",
        b"1" * 5000,
        b"4;" + b"x" * 5000 + b"\r\n",
        b"4\r\nabcdXY0\r\n\r\n",  # data not followed by CRLF
        b"4\r\nabcd\r\nnot-a-trailer\r\n\r\n",
        b"0\r\n\r\ngarbage",
    ],
)
def test_hostile_input_raises_s3error(body: bytes) -> None:
    decoder = AwsChunkedDecoder(signing=None, expect_trailer=True, signed_trailer=False)
    with pytest.raises(S3Error):
        for i in range(0, len(body), 7):
            decoder.feed(body[i : i + 7])
        decoder.finish()


@pytest.mark.parametrize(
    "header",
    [b"10000\r\n", b"10000;chunk-signature=\r\n", b"10000;chunk-signature=xyz\r\n", b"10000;foo=bar\r\n"],
)
def test_signed_mode_requires_chunk_signature(header: bytes) -> None:
    with pytest.raises(S3Error) as info:
        signed().feed(header)
    assert info.value.code == "SignatureDoesNotMatch"


def test_trailer_without_trailer_mode_is_rejected() -> None:
    decoder = AwsChunkedDecoder(signing=None, expect_trailer=False, signed_trailer=False)
    with pytest.raises(S3Error):
        decoder.feed(b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n")


def test_unsigned_chunk_extensions_are_ignored() -> None:
    body = b"3;name=value\r\nabc\r\n0;x=y\r\n\r\n"
    decoder = AwsChunkedDecoder(signing=None, expect_trailer=True, signed_trailer=False)
    assert decode(decoder, body) == (b"abc", {})


def test_min_chunk_size() -> None:
    body = b"3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n"
    with pytest.raises(S3Error) as info:
        decode(
            AwsChunkedDecoder(signing=None, expect_trailer=True, signed_trailer=False, min_chunk_size=8192),
            body,
        )
    assert info.value.code == "InvalidChunkSizeError"
    small_last = b"3\r\nabc\r\n0\r\n\r\n"
    decoder = AwsChunkedDecoder(signing=None, expect_trailer=True, signed_trailer=False, min_chunk_size=8192)
    assert decode(decoder, small_last)[0] == b"abc"


def test_signed_trailer_requires_signing_context_and_implies_trailers() -> None:
    with pytest.raises(ValueError):
        AwsChunkedDecoder(signing=None, expect_trailer=True, signed_trailer=True)
    decoder = AwsChunkedDecoder(signing=ctx(TRAILER_SEED), expect_trailer=False, signed_trailer=True)
    assert decode(decoder, TRAILER_BODY)[1] == {"x-amz-checksum-crc32c": "sOO8/Q=="}
