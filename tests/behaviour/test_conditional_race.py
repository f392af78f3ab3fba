"""Racing conditional writes and appends against a real Pails server: the
decision is taken inside the metadata commit, so exactly one of the racers
wins and nothing is torn."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client

THREADS = 16
ROUNDS = 3


@pytest.fixture(scope="module")
def clients(server):
    return [client(server) for _ in range(THREADS)]


def _race(clients, fn):
    """Run fn(client, i) on every thread at once; [(i, result or None, error code or None)]."""
    barrier = threading.Barrier(len(clients))

    def one(i):
        barrier.wait()
        try:
            return i, fn(clients[i], i), None
        except ClientError as e:
            return i, None, (e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"])

    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(one, range(len(clients))))


def _exactly_one_winner(outcomes):
    winners = [o for o in outcomes if o[2] is None]
    losers = [o[2] for o in outcomes if o[2] is not None]
    assert len(winners) == 1, outcomes
    assert set(losers) == {(412, "PreconditionFailed")}, losers
    return winners[0][0]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_put_if_none_match_race(s3, clients, bucket, round_):
    key = f"new-{uuid.uuid4().hex}"
    bodies = [f"body of writer {i} ".encode() * (1 + 5000 * (i % 2)) for i in range(THREADS)]  # inline and files
    winner = _exactly_one_winner(_race(clients, lambda c, i: c.put_object(
        Bucket=bucket, Key=key, Body=bodies[i], IfNoneMatch="*")))
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == bodies[winner]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_complete_if_none_match_race(s3, clients, bucket, round_):
    key = f"mp-{uuid.uuid4().hex}"
    uploads = []
    for i in range(THREADS):
        uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=f"part {i}".encode())["ETag"]
        uploads.append((uid, etag))
    winner = _exactly_one_winner(_race(clients, lambda c, i: c.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=uploads[i][0], IfNoneMatch="*",
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": uploads[i][1]}]})))
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == f"part {winner}".encode()
    for i, (uid, _etag) in enumerate(uploads):
        if i != winner:  # a refused completion leaves its upload in place
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=uid)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_put_if_match_race(s3, clients, bucket, round_):
    key = f"old-{uuid.uuid4().hex}"
    etag = s3.put_object(Bucket=bucket, Key=key, Body=b"original")["ETag"]
    bodies = [f"replacement {i}".encode() for i in range(THREADS)]
    winner = _exactly_one_winner(_race(clients, lambda c, i: c.put_object(
        Bucket=bucket, Key=key, Body=bodies[i], IfMatch=etag)))
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == bodies[winner]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_append_race(s3, clients, bucket, round_):
    key = f"log-{uuid.uuid4().hex}"
    s3.put_object(Bucket=bucket, Key=key, Body=b"start|")
    accepted: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def appender(c, i):
        codes = []
        for attempt in range(4):
            # small pieces and ones past the inline limit, so inline, file and manifest shapes all race
            body = (f"<{i}.{attempt}>".encode() * (1 if (i + attempt) % 3 else 8000))
            size = c.head_object(Bucket=bucket, Key=key)["ContentLength"]
            try:
                c.put_object(Bucket=bucket, Key=key, Body=body, WriteOffsetBytes=size)
            except ClientError as e:
                codes.append((e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"]))
            else:
                with lock:
                    accepted.append((size, body))
        return codes

    outcomes = _race(clients, appender)
    rejected = [code for _i, codes, _err in outcomes for code in codes]
    assert all(err is None for _i, _codes, err in outcomes)
    assert set(rejected) <= {(400, "InvalidWriteOffset")}
    assert accepted
    final = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    expected = b"start|"
    for offset, body in sorted(accepted):
        assert offset == len(expected)  # each accepted append landed exactly at the end
        expected += body
    assert final == expected


def test_put_if_none_match_etag_list(s3, bucket):
    key = f"inm-{uuid.uuid4().hex}"
    etag = s3.put_object(Bucket=bucket, Key=key, Body=b"bar")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key=key, Body=b"zar", IfNoneMatch=f'"other", {etag}')
    assert e.value.response["Error"]["Code"] == "PreconditionFailed"
    s3.put_object(Bucket=bucket, Key=key, Body=b"zar", IfNoneMatch='"0123456789abcdef0123456789abcdef"')
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"zar"
