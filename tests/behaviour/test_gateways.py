"""Three gateways on one PostgreSQL database and one data directory: what a
client of any gateway sees is what a single server would show.  (Each
gateway is a `pails server --meta` process; here they share a local
directory, which gives what a shared filesystem must: test_shared_fs puts
each on its own FUSE mount.)"""

from __future__ import annotations

import itertools
import json
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.pails_server import STORE, Server
from tests.pg import create_database, drop_database

pytestmark = pytest.mark.skipif(STORE != "postgresql", reason="runs in the PostgreSQL pass of make test")

INTENT_TIMEOUT = 3  # seconds: the files of killed uploads go this long after they were announced


class Cluster:
    def __init__(self, root: Path, gateways: int = 3, *extra: str) -> None:
        self.data_dir = root / "data"
        self.meta_url = create_database()
        # Each gateway gets a temporary directory of its own, as on a host of its own (the
        # workers of one gateway share a bucket change counter there).
        hosts = [root / f"host{i}" for i in range(gateways)]
        for host in hosts:
            host.mkdir()
        self.gateways = [Server(self.data_dir, meta_url=self.meta_url, log_name=f"gw{i}", env={"TMPDIR": str(host)},
                                extra_args=["--workers", "1", "--intent-timeout", str(INTENT_TIMEOUT), *extra])
                         for i, host in enumerate(hosts)]
        for gw in self.gateways:
            gw.start()

    def clients(self, **config: object) -> list:
        return [client(gw, **config) for gw in self.gateways]

    def close(self) -> None:
        for gw in self.gateways:
            gw.stop()
        drop_database(self.meta_url)

    def sql(self, statement: str, args: tuple[object, ...] = ()) -> list[tuple]:
        with psycopg.connect(self.meta_url, autocommit=True) as conn:
            return conn.execute(statement, args).fetchall()

    def referenced_files(self) -> set[str]:
        ids = {r[0] for r in self.sql("SELECT blob_id FROM objects WHERE blob_id IS NOT NULL UNION "
                                      "SELECT blob_id FROM object_versions WHERE blob_id IS NOT NULL UNION "
                                      "SELECT blob_id FROM multipart_parts")}
        for (manifest,) in self.sql("SELECT manifest FROM objects WHERE manifest IS NOT NULL UNION ALL "
                                    "SELECT manifest FROM object_versions WHERE manifest IS NOT NULL"):
            ids.update(entry[0] for entry in json.loads(manifest))
        return ids

    def files(self) -> set[str]:
        return {name for _, _, names in os.walk(self.data_dir / "blobs") for name in names}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("gateways"))
    yield c
    c.close()


@pytest.fixture
def shared_bucket(cluster: Cluster) -> str:
    name = f"gw-{uuid.uuid4().hex[:12]}"
    client(cluster.gateways[0]).create_bucket(Bucket=name)
    return name


def test_read_and_list_after_write_across_gateways(cluster: Cluster, shared_bucket: str) -> None:
    a, b, c = cluster.clients()
    rng = random.Random(1)
    written: dict[str, bytes] = {}
    for i in range(60):
        key = f"k/{i:03d}"
        body = rng.randbytes(rng.choice((10, 5000, 200_000)))  # inline and data-file bodies
        writer, reader, lister = rng.sample((a, b, c), 3)
        writer.put_object(Bucket=shared_bucket, Key=key, Body=body)
        written[key] = body
        assert reader.get_object(Bucket=shared_bucket, Key=key)["Body"].read() == body
        listed = lister.list_objects_v2(Bucket=shared_bucket, Prefix=key)["Contents"]
        assert [(o["Key"], o["Size"]) for o in listed] == [(key, len(body))]
    for key, body in written.items():  # an overwrite on one gateway is what the others read next
        new = body[::-1] + b"!"
        a.put_object(Bucket=shared_bucket, Key=key, Body=new)
        assert c.get_object(Bucket=shared_bucket, Key=key)["Body"].read() == new
        b.delete_object(Bucket=shared_bucket, Key=key)
        with pytest.raises(ClientError) as err:
            c.head_object(Bucket=shared_bucket, Key=key)
        assert err.value.response["Error"]["Code"] == "404"
    assert "Contents" not in a.list_objects_v2(Bucket=shared_bucket)


def _status(fn, **kwargs: object) -> int:
    """``fn(**kwargs)``: 200, or the HTTP status of the S3 error it raised."""
    try:
        fn(**kwargs)
        return 200
    except ClientError as e:
        return int(e.response["ResponseMetadata"]["HTTPStatusCode"])


def test_if_none_match_race_has_one_winner_per_key(cluster: Cluster, shared_bucket: str) -> None:
    keys = [f"race/{i}" for i in range(25)]
    clients = [cl for _ in range(3) for cl in cluster.clients(retries={"max_attempts": 1})]  # 9 racers
    bodies = {(k, r): f"{k} by racer {r}".encode() for k in keys for r in range(len(clients))}

    def racer(r: int) -> list[tuple[str, int]]:
        out = []
        for key in keys:
            out.append((key, _status(clients[r].put_object, Bucket=shared_bucket, Key=key, Body=bodies[key, r],
                                     IfNoneMatch="*")))
        return out

    with ThreadPoolExecutor(len(clients)) as pool:
        results = list(pool.map(racer, range(len(clients))))
    reader = cluster.clients()[1]
    for key in keys:
        statuses = [dict(res)[key] for res in results]
        winners = [r for r, s in enumerate(statuses) if s == 200]
        assert len(winners) == 1, (key, statuses)
        assert set(statuses) <= {200, 412, 409}, statuses
        assert reader.get_object(Bucket=shared_bucket, Key=key)["Body"].read() == bodies[key, winners[0]]


def test_if_match_counter_loses_no_update(cluster: Cluster, shared_bucket: str) -> None:
    seed = cluster.clients()[0]
    seed.put_object(Bucket=shared_bucket, Key="counter", Body=b"0")
    successes = itertools.count()
    counted = [0]
    lock = threading.Lock()

    def worker(i: int) -> None:
        c = cluster.clients(retries={"max_attempts": 1})[i % 3]
        for _ in range(25):
            got = c.get_object(Bucket=shared_bucket, Key="counter")
            value = int(got["Body"].read())
            if _status(c.put_object, Bucket=shared_bucket, Key="counter", Body=str(value + 1).encode(),
                       IfMatch=got["ETag"]) == 200:
                with lock:
                    counted[0] = next(successes) + 1

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(worker, range(6)))
    final = int(cluster.clients()[2].get_object(Bucket=shared_bucket, Key="counter")["Body"].read())
    assert final == counted[0] > 0


def test_parts_from_two_gateways_complete_on_a_third(cluster: Cluster, shared_bucket: str) -> None:
    a, b, c = cluster.clients()
    part = 5 * 1024 * 1024
    bodies = [bytes([n]) * part for n in range(1, 4)] + [b"tail"]
    uid = a.create_multipart_upload(Bucket=shared_bucket, Key="mp")["UploadId"]
    etags = []
    for n, body in enumerate(bodies, start=1):
        uploader = a if n % 2 else b
        etags.append(uploader.upload_part(Bucket=shared_bucket, Key="mp", UploadId=uid, PartNumber=n,
                                          Body=body)["ETag"])
    assert len(c.list_parts(Bucket=shared_bucket, Key="mp", UploadId=uid)["Parts"]) == 4
    c.complete_multipart_upload(Bucket=shared_bucket, Key="mp", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]})
    assert a.get_object(Bucket=shared_bucket, Key="mp")["Body"].read() == b"".join(bodies)
    assert b.get_object(Bucket=shared_bucket, Key="mp", Range="bytes=5242878-5242881")["Body"].read() == \
        b"\x01\x01\x02\x02"


def _within(seconds: float, check) -> float:
    """Poll ``check`` until it holds; how long that took.  Fails past ``seconds``."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < seconds, f"not seen within {seconds} s"
        time.sleep(0.005)
    return time.monotonic() - start


def test_bucket_policy_and_acl_changes_reach_other_gateways(cluster: Cluster, shared_bucket: str) -> None:
    """Requests that read the object anyway (GET, HEAD) see a bucket change
    made on another gateway at once; the others within BUCKET_TTL (1 s),
    usually milliseconds (NOTIFY)."""
    anon = [client(gw, signature_version=UNSIGNED, retries={"max_attempts": 1}) for gw in cluster.gateways]
    a, b, c = cluster.clients()
    a.put_object(Bucket=shared_bucket, Key="doc", Body=b"public?")

    def readable(anonymous) -> bool:
        return _status(anonymous.get_object, Bucket=shared_bucket, Key="doc") == 200

    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{shared_bucket}/*"}]})
    for _ in range(5):  # each gateway has the bucket cached when the change happens elsewhere
        assert not any(readable(x) for x in anon)
        a.put_bucket_policy(Bucket=shared_bucket, Policy=policy)
        assert readable(anon[1]) and readable(anon[2]) and readable(anon[0])
        b.delete_bucket_policy(Bucket=shared_bucket)
        assert not readable(anon[2]) and not readable(anon[0]) and not readable(anon[1])
    seen = []
    c.put_bucket_acl(Bucket=shared_bucket, ACL="public-read")
    seen.append(_within(1.25, lambda: _status(anon[0].list_objects_v2, Bucket=shared_bucket) == 200))
    c.put_bucket_acl(Bucket=shared_bucket, ACL="private")
    seen.append(_within(1.25, lambda: _status(anon[1].list_objects_v2, Bucket=shared_bucket) == 403))
    print(f"bucket ACL changes seen by listings on another gateway after {[round(s * 1000, 1) for s in seen]} ms")


def test_without_notify_reads_are_exact_and_listings_within_a_second(tmp_path: Path) -> None:
    """--no-notify (databases without LISTEN/NOTIFY): nothing tells a gateway
    that a bucket changed, yet a GET decided on its stale cached record finds
    the newer epoch in the object read and runs again; a listing waits out
    the cache's second."""
    quiet = Cluster(tmp_path, 2, "--no-notify")
    try:
        a, b = quiet.clients()
        anon = client(quiet.gateways[1], signature_version=UNSIGNED, retries={"max_attempts": 1})
        a.create_bucket(Bucket="quiet")
        a.put_object(Bucket="quiet", Key="doc", Body=b"x")
        policy = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": ["arn:aws:s3:::quiet/*", "arn:aws:s3:::quiet"]}]})
        for _ in range(3):
            assert _status(anon.get_object, Bucket="quiet", Key="doc") == 403  # cached on gateway 1
            assert _status(anon.list_objects_v2, Bucket="quiet") == 403
            a.put_bucket_policy(Bucket="quiet", Policy=policy)
            assert _status(anon.get_object, Bucket="quiet", Key="doc") == 200
            # BUCKET_TTL (1 s) after the record was cached, plus the time of the request that sees it.
            assert _within(1.25, lambda: _status(anon.list_objects_v2, Bucket="quiet") == 200) > 0
            a.delete_bucket_policy(Bucket="quiet")
            assert _status(anon.get_object, Bucket="quiet", Key="doc") == 403
            _within(1.25, lambda: _status(anon.list_objects_v2, Bucket="quiet") == 403)
    finally:
        quiet.close()


def test_a_request_with_a_body_runs_again_when_its_bucket_changed(tmp_path: Path) -> None:
    """A request decided on a stale bucket record that has read its body
    (CompleteMultipartUpload of an upload that is gone: the XML body, then the
    object read that finds the newer epoch) runs again on the new record with
    the body it read, instead of answering 503 (seen once in the server fuzzer,
    where the NOTIFY had not reached the worker yet; --no-notify makes the
    window a second)."""
    quiet = Cluster(tmp_path, 2, "--no-notify")
    try:
        a, b = quiet.clients(retries={"total_max_attempts": 1})  # no retry: a 503 shows
        a.create_bucket(Bucket="quiet")
        a.put_object(Bucket="quiet", Key="doc", Body=b"x")
        for i in range(3):
            b.head_object(Bucket="quiet", Key="doc")  # gateway 1 caches the record
            a.put_bucket_versioning(Bucket="quiet", VersioningConfiguration={
                "Status": "Enabled" if i % 2 == 0 else "Suspended"})
            b.put_object_tagging(Bucket="quiet", Key="doc", Tagging={"TagSet": [{"Key": "n", "Value": str(i)}]})
            assert a.get_object_tagging(Bucket="quiet", Key="doc")["TagSet"] == [{"Key": "n", "Value": str(i)}]
            # A completion whose upload is gone reads its body, then the object (a retried completion).
            b.head_object(Bucket="quiet", Key="doc")
            a.put_bucket_versioning(Bucket="quiet", VersioningConfiguration={"Status": "Enabled"})
            assert _status(b.complete_multipart_upload, Bucket="quiet", Key="doc", UploadId="gone",
                           MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"' + 'a' * 32 + '"'}]}) == 404
    finally:
        quiet.close()


def test_versioning_on_one_gateway_applies_to_writes_on_another(cluster: Cluster, shared_bucket: str) -> None:
    a, b, c = cluster.clients()
    a.put_bucket_versioning(Bucket=shared_bucket, VersioningConfiguration={"Status": "Enabled"})

    def put(i: int) -> None:
        cluster.clients()[i % 3].put_object(Bucket=shared_bucket, Key="v", Body=f"v{i}".encode())

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(put, range(30)))
    versions = c.list_object_versions(Bucket=shared_bucket, Prefix="v")["Versions"]
    assert len(versions) == 30 and sum(v["IsLatest"] for v in versions) == 1
    latest = b.get_object(Bucket=shared_bucket, Key="v")
    assert latest["VersionId"] == next(v["VersionId"] for v in versions if v["IsLatest"])


def _start_stalled_put(url: str, size: int, sent: int) -> socket.socket:
    """A presigned PUT that announces ``size`` bytes and sends ``sent`` of them, then stalls."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port))
    sock.sendall(f"PUT {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                 f"Content-Length: {size}\r\n\r\n".encode() + b"s" * sent)
    return sock


def test_killed_gateway_loses_no_acknowledged_write_and_leaks_no_file(cluster: Cluster, shared_bucket: str) -> None:
    a, b, c = cluster.clients(retries={"max_attempts": 1})
    victim = cluster.gateways[1]
    acknowledged: dict[str, bytes] = {}
    for i in range(20):
        body = os.urandom(100_000 + i)
        (a, b, c)[i % 3].put_object(Bucket=shared_bucket, Key=f"ack/{i}", Body=body)
        acknowledged[f"ack/{i}"] = body
    uid = a.create_multipart_upload(Bucket=shared_bucket, Key="mp-kill")["UploadId"]
    part1 = a.upload_part(Bucket=shared_bucket, Key="mp-kill", UploadId=uid, PartNumber=1, Body=b"1" * 5242880)
    stalled = [_start_stalled_put(b.generate_presigned_url("put_object", Params={
                   "Bucket": shared_bucket, "Key": "ack/0"}), 8 << 20, 3 << 20),
               _start_stalled_put(b.generate_presigned_url("upload_part", Params={
                   "Bucket": shared_bucket, "Key": "mp-kill", "UploadId": uid, "PartNumber": 2}), 6 << 20, 2 << 20)]
    # Both bodies are partly on disk when the gateway dies.
    _within(10, lambda: len(cluster.sql("SELECT 1 FROM blob_intents")) >= 2)
    _within(10, lambda: len(cluster.files() - cluster.referenced_files()) >= 2)
    victim.kill()
    for sock in stalled:
        sock.close()
    # The other gateways go on: every acknowledged object is whole; the upload completes without part 2.
    for key, body in acknowledged.items():
        assert c.get_object(Bucket=shared_bucket, Key=key)["Body"].read() == body
    c.complete_multipart_upload(Bucket=shared_bucket, Key="mp-kill", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part1["ETag"]}]})
    assert a.head_object(Bucket=shared_bucket, Key="mp-kill")["ContentLength"] == 5242880
    # The killed uploads' files are reaped by the survivors once their intents expire.
    _within(INTENT_TIMEOUT + 15, lambda: cluster.files() == cluster.referenced_files()
            and not cluster.sql("SELECT 1 FROM blob_intents") and not cluster.sql("SELECT 1 FROM blob_garbage"))
    victim.start()  # and the restarted gateway serves everything
    assert client(victim).get_object(Bucket=shared_bucket, Key="ack/5")["Body"].read() == acknowledged["ack/5"]


def test_database_outage_answers_503_then_recovers_losing_nothing(cluster: Cluster, shared_bucket: str) -> None:
    """The gateways' database connections are cut and refused for a while
    (what a PostgreSQL restart does to them, without disturbing the other
    tests' databases), under a load of writers on every gateway."""
    clients = cluster.clients(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=20)
    database = cluster.meta_url.rpartition("/")[2]
    acknowledged: dict[str, bytes] = {}
    statuses: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(w: int) -> None:
        for n in itertools.count():
            if stop.is_set():
                return
            key, body = f"outage/{w}/{n}", os.urandom(random.choice((200, 90_000)))
            status = _status(clients[w % 3].put_object, Bucket=shared_bucket, Key=key, Body=body)
            with lock:
                statuses.append(status)
                if status == 200:
                    acknowledged[key] = body

    admin = psycopg.connect(cluster.meta_url.rpartition("/")[0] + "/postgres", autocommit=True)
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(writer, w) for w in range(6)]
        time.sleep(0.5)
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))
        time.sleep(1.5)
        with lock:
            during = len(statuses)
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        _within(10, lambda: statuses[-5:] == [200] * 5)
        stop.set()
        for f in futures:
            f.result()
    admin.close()
    assert 503 in statuses[:during], sorted(set(statuses))
    assert set(statuses) <= {200, 503}, sorted(set(statuses))  # never a 500, never a hang
    reader = cluster.clients()[0]
    for key, body in acknowledged.items():
        assert reader.get_object(Bucket=shared_bucket, Key=key)["Body"].read() == body
    print(f"{len(statuses)} writes: {statuses.count(200)} acknowledged (all read back), {statuses.count(503)} "
          "answered 503 during the outage")
