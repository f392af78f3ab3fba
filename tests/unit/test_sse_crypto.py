"""The encryption-at-rest primitives (pails.storage.crypto) and SSE header
parsing (pails.protocol.sse)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import stat
import threading

import pytest

from pails.errors import S3Error
from pails.protocol import sse
from pails.storage.crypto import IntegrityError, KeyRing, Piece, UnwrapError, unwrap, wrap

MASTER = bytes(range(32))


def _sealed(data: bytes, chunk: int = 7) -> tuple[Piece, bytes]:
    piece = Piece.new(MASTER)
    sealer = piece.sealer()
    out = b"".join(sealer.update(data[i:i + chunk]) for i in range(0, len(data), chunk))
    sealer.finish()
    return piece, out


def test_round_trip_and_ciphertext_differs():
    data = os.urandom(5000)
    piece, ct = _sealed(data)
    assert len(ct) == len(data) and ct != data
    again = Piece.decode(piece.encode(), MASTER)
    assert again.decrypt_all(ct) == data


def test_same_plaintext_new_key_and_iv_each_time():
    data = b"A" * 100
    (p1, c1), (p2, c2) = _sealed(data), _sealed(data)
    assert c1 != c2 and p1.iv != p2.iv and p1.key != p2.key


@pytest.mark.parametrize("first", [0, 1, 15, 16, 17, 4095, 4096, 4999])
def test_ranged_open_at_any_offset(first):
    data = os.urandom(5000)
    piece, ct = _sealed(data)
    length = len(data) - first
    opener = piece.opener(first, length, len(data))
    out = b"".join(opener.update(ct[i:i + 333]) for i in range(first, len(ct), 333))
    opener.finish()
    assert out == data[first:]


def test_counter_wraps_around():
    piece = Piece(os.urandom(32), b"\xff" * 16, b"")
    sealer = piece.sealer()
    ct = sealer.update(b"x" * 64)
    sealer.finish()
    opener = piece.opener(33, 31, 64)
    assert opener.update(ct[33:]) == b"x" * 31


def test_tampering_is_detected_on_whole_reads_only():
    data = os.urandom(3000)
    piece, ct = _sealed(data)
    bad = bytearray(ct)
    bad[100] ^= 1
    with pytest.raises(IntegrityError):
        piece.decrypt_all(bytes(bad))
    partial = piece.opener(0, 50, len(data))
    assert partial.update(bytes(bad[:50])) == data[:50]
    partial.finish()  # not the whole piece: no tag to check


def test_wrong_wrapping_key_fails():
    piece, _ct = _sealed(b"hello")
    with pytest.raises(UnwrapError):
        Piece.decode(piece.encode(), bytes(32))
    with pytest.raises(UnwrapError):
        Piece.decode("1:garbage", MASTER)
    with pytest.raises(UnwrapError):
        unwrap(MASTER, wrap(bytes(32), os.urandom(32)))


def test_encoded_piece_holds_no_key():
    piece, _ct = _sealed(b"x")
    text = piece.encode()
    assert base64.b64encode(piece.key).decode() not in text
    assert piece.key not in text.encode()


def test_keyring_creates_0600_keys_once(tmp_path):
    ring = KeyRing(str(tmp_path))
    k1 = ring.sse_s3()
    assert len(k1) == 32
    assert KeyRing(str(tmp_path)).sse_s3() == k1
    kms_a, kms_b = ring.kms("alpha"), ring.kms("beta")
    assert len({k1, kms_a, kms_b}) == 3
    assert KeyRing(str(tmp_path)).kms("alpha") == kms_a
    files = list((tmp_path / "keys").iterdir())
    assert len(files) == 3
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        assert json.loads(f.read_text())["key"]
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700


def test_keyring_racing_creators_agree(tmp_path):
    results: list[bytes] = []
    barrier = threading.Barrier(8)

    def make() -> None:
        barrier.wait()
        results.append(KeyRing(str(tmp_path)).kms("shared"))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    assert [p.name for p in (tmp_path / "keys").iterdir() if p.name.endswith(".tmp")] == []


# --- header parsing ----------------------------------------------------------------------------------------------

KEY = secrets.token_bytes(32)
KEY_B64 = base64.b64encode(KEY).decode()
KEY_MD5 = base64.b64encode(hashlib.md5(KEY).digest()).decode()
C = {"x-amz-server-side-encryption-customer-algorithm": "AES256",
     "x-amz-server-side-encryption-customer-key": KEY_B64,
     "x-amz-server-side-encryption-customer-key-md5": KEY_MD5}


def test_requested_modes():
    assert not sse.requested({}).any
    r = sse.requested({"x-amz-server-side-encryption": "AES256"})
    assert r.algorithm == "AES256" and r.customer is None
    r = sse.requested({"x-amz-server-side-encryption": "aws:kms",
                       "x-amz-server-side-encryption-aws-kms-key-id": "k",
                       "x-amz-server-side-encryption-bucket-key-enabled": "true"})
    assert (r.algorithm, r.kms_key_id, r.bucket_key) == ("aws:kms", "k", True)
    r = sse.requested(C)
    assert r.customer is not None and r.customer.key == KEY and r.customer.md5 == KEY_MD5


@pytest.mark.parametrize(("headers", "code"), [
    ({"x-amz-server-side-encryption": "aes:kms"}, "InvalidArgument"),
    ({"x-amz-server-side-encryption-aws-kms-key-id": "k"}, "InvalidArgument"),
    ({"x-amz-server-side-encryption": "AES256", "x-amz-server-side-encryption-aws-kms-key-id": "k"},
     "InvalidArgument"),
    ({**C, "x-amz-server-side-encryption": "AES256"}, "InvalidArgument"),
    ({**C, "x-amz-server-side-encryption-customer-algorithm": "AES192"}, "InvalidEncryptionAlgorithmError"),
    ({**C, "x-amz-server-side-encryption-customer-key-md5": "AAAAAAAAAAAAAAAAAAAAAA=="}, "InvalidArgument"),
    ({**C, "x-amz-server-side-encryption-customer-key": base64.b64encode(b"short").decode()}, "InvalidArgument"),
    ({**C, "x-amz-server-side-encryption-customer-key": "not base64!"}, "InvalidArgument"),
    ({k: v for k, v in C.items() if not k.endswith("md5")}, "InvalidArgument"),
    ({k: v for k, v in C.items() if not k.endswith("algorithm")}, "InvalidArgument"),
    ({"x-amz-server-side-encryption-customer-algorithm": "AES256"}, "InvalidArgument"),
    ({"x-amz-server-side-encryption": "AES256", "x-amz-server-side-encryption-bucket-key-enabled": "yes"},
     "InvalidArgument"),
])
def test_requested_refuses(headers, code):
    with pytest.raises(S3Error) as e:
        sse.requested(headers)
    assert e.value.code == code and e.value.status == 400


def test_copy_source_customer_key():
    headers = {"x-amz-copy-source-" + k.removeprefix("x-amz-"): v for k, v in C.items()}
    assert sse.customer_key(headers) is None
    got = sse.customer_key(headers, copy_source=True)
    assert got is not None and got.key == KEY


def test_refuse_on_read():
    sse.refuse_on_read(C)
    with pytest.raises(S3Error) as e:
        sse.refuse_on_read({"x-amz-server-side-encryption": "AES256"})
    assert e.value.status == 400
