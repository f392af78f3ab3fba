"""S3 additional checksums: published check values and the header-name mapping."""

from __future__ import annotations

import base64

import pytest

from pails.errors import S3Error
from pails.protocol.checksums import ALGORITHMS, algorithm_for_header, header_name, new_checksum

CHECK = b"123456789"
# Standard "check" values of each CRC over "123456789", and the SHA digests of it.
EXPECTED = {
    "CRC32": (0xCBF43926).to_bytes(4, "big"),
    "CRC32C": (0xE3069283).to_bytes(4, "big"),
    "CRC64NVME": (0xAE8B14860A799888).to_bytes(8, "big"),
    "SHA1": bytes.fromhex("f7c3bc1d808e04732adf679965ccc34ca7ae3441"),
    "SHA256": bytes.fromhex("15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"),
}


def test_algorithms() -> None:
    assert ALGORITHMS == ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_check_values(algorithm: str) -> None:
    c = new_checksum(algorithm)
    c.update(CHECK)
    assert c.algorithm == algorithm
    assert c.digest() == EXPECTED[algorithm]
    assert c.b64digest() == base64.b64encode(EXPECTED[algorithm]).decode()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_incremental_and_memoryview(algorithm: str) -> None:
    c = new_checksum(algorithm.lower())
    view = memoryview(CHECK)
    for i in range(len(CHECK)):
        c.update(view[i : i + 1])
    assert c.digest() == EXPECTED[algorithm]


def test_known_s3_values() -> None:
    # The CRC32C trailer of the sigv4-streaming-trailers example (66560 x 'a').
    c = new_checksum("CRC32C")
    c.update(b"a" * 66560)
    assert c.b64digest() == "sOO8/Q=="
    empty = new_checksum("CRC32")
    assert empty.b64digest() == "AAAAAA=="
    assert new_checksum("CRC64NVME").b64digest() == "AAAAAAAAAAA="


def test_header_names() -> None:
    assert header_name("CRC32") == "x-amz-checksum-crc32"
    assert header_name("crc64nvme") == "x-amz-checksum-crc64nvme"
    assert algorithm_for_header("x-amz-checksum-sha256") == "SHA256"
    assert algorithm_for_header("X-Amz-Checksum-CRC32C") == "CRC32C"
    assert algorithm_for_header("x-amz-checksum-md5") is None
    assert algorithm_for_header("x-amz-checksum-algorithm") is None
    for algorithm in ALGORITHMS:
        assert algorithm_for_header(header_name(algorithm)) == algorithm


@pytest.mark.parametrize("name", ["MD5", "CRC16", ""])
def test_unknown_algorithm(name: str) -> None:
    with pytest.raises(S3Error) as info:
        new_checksum(name)
    assert (info.value.code, info.value.status) == ("InvalidRequest", 400)
    with pytest.raises(S3Error):
        header_name(name)


def test_whole_object_check_picks_the_cheapest_that_covers_the_whole() -> None:
    import json

    from pails.protocol.checksums import WholeCheck, read_check, whole_object_check

    md5 = '"5d41402abc4b2a76b9719d911017c592"'  # MD5 of "hello"
    sums = json.dumps({"SHA256": "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=", "CRC32": "NhCmhg=="})
    assert whole_object_check(None, md5, True) == ("MD5", "5d41402abc4b2a76b9719d911017c592")
    assert whole_object_check(sums, md5, True) == ("CRC32", "NhCmhg==")
    # Multipart: only a FULL_OBJECT CRC covers the whole; composite values (-N) and the ETag do not.
    assert whole_object_check(json.dumps({"CRC32": "NhCmhg==-2", "ChecksumType": "COMPOSITE"}), '"ab-2"', False) \
        is None
    assert whole_object_check(json.dumps({"CRC32C": "AAAAAA==", "ChecksumType": "FULL_OBJECT"}), '"ab-2"',
                              False) == ("CRC32C", "AAAAAA==")
    assert whole_object_check(None, '"ab-2"', False) is None
    # What each --verify-reads mode checks.
    assert read_check(("CRC32", "NhCmhg=="), "crc") == ("CRC32", "NhCmhg==")
    assert read_check(("MD5", "x"), "crc") is None and read_check(("SHA256", "x"), "crc") is None
    assert read_check(("MD5", "x"), "all") == ("MD5", "x")
    assert read_check(("CRC32", "NhCmhg=="), "off") is None
    for algorithm, value in (("CRC32", "NhCmhg=="), ("MD5", "5d41402abc4b2a76b9719d911017c592"),
                             ("SHA256", "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=")):
        good, bad = WholeCheck(algorithm, value), WholeCheck(algorithm, value)
        good.update(b"hel")
        good.update(memoryview(b"lo"))
        bad.update(b"hellO")
        assert good.matches() and not bad.matches(), algorithm
