import os
import zlib

import pytest
from awscrt import checksums as crt

from pails.protocol.crc_combine import combine, combine_all

FUNCS = {"CRC32": zlib.crc32, "CRC32C": crt.crc32c, "CRC64NVME": crt.crc64nvme}


@pytest.mark.parametrize("alg", sorted(FUNCS))
@pytest.mark.parametrize("sizes", [(0, 0), (1, 0), (0, 1), (1, 1), (3, 7), (1000, 1), (4096, 65537), (12345, 99)])
def test_combine_matches_whole_buffer(alg, sizes):
    fn = FUNCS[alg]
    a, b = os.urandom(sizes[0]), os.urandom(sizes[1])
    assert combine(alg, fn(a, 0), fn(b, 0), len(b)) == fn(a + b, 0)


@pytest.mark.parametrize("alg", sorted(FUNCS))
def test_combine_all_many_parts(alg):
    fn = FUNCS[alg]
    parts = [os.urandom(n) for n in (17, 0, 5000, 1, 300000, 64)]
    assert combine_all(alg, [(fn(p, 0), len(p)) for p in parts]) == fn(b"".join(parts), 0)


def test_known_s3_tests_value():
    # ceph/s3-tests test_multipart_use_cksum_helper_crc64nvme: 3 x 5 MiB of 'A', 'B', 'C'
    import base64
    size = 5 * 1024 * 1024
    parts = [(crt.crc64nvme(c * size, 0), size) for c in (b"A", b"B", b"C")]
    assert base64.b64encode(combine_all("CRC64NVME", parts).to_bytes(8, "big")).decode() == "i+6LR0y3eFo="


def test_combine_large_length_is_fast():
    # lengths of many GiB take O(log n) steps
    assert isinstance(combine("CRC64NVME", 123, 456, 5 * 1024**4), int)
