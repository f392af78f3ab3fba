"""Three gateways, one PostgreSQL database and one shared filesystem: each
gateway serves its own FUSE mount of one JuiceFS volume (its own client and
kernel page cache, as on separate hosts; ``tests/juicefs.py``).  Whatever one
gateway acknowledges, the others serve at once; a gateway killed in the middle
of an upload leaves only a data file that the intent timeout removes
(``pails/storage/blobs.py``: intent-fenced data files, written in place)."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.juicefs import Unavailable, Volume, volume
from tests.pails_server import STORE, Server
from tests.pg import create_database, drop_database

pytestmark = pytest.mark.skipif(STORE != "postgresql", reason="runs in the PostgreSQL pass of make test")

INTENT_TIMEOUT = 3  # seconds: --intent-timeout of the gateways
MIB = 1024 * 1024
NAMES = ("a", "b", "c")


@dataclass
class Cluster:
    volume: Volume
    meta_url: str  # Pails' metadata database
    mounts: dict[str, Path]
    gateways: dict[str, Server]
    # Every object a gateway acknowledged and nothing deleted since: (bucket, key) -> sha256
    acked: dict[tuple[str, str], str] = field(default_factory=dict)

    def s3(self, name: str):  # type: ignore[no-untyped-def]
        return client(self.gateways[name], retries={"max_attempts": 1, "mode": "standard"})

    def bucket(self) -> str:
        name = f"shared-{uuid.uuid4().hex[:12]}"
        self.s3("a").create_bucket(Bucket=name)
        return name

    def put(self, via: str, bucket: str, key: str, body: bytes) -> None:
        self.s3(via).put_object(Bucket=bucket, Key=key, Body=body)
        self.acked[bucket, key] = _sha(body)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _start(server: Server) -> Server:
    return server.start()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    workdir = Path(tmp_path_factory.mktemp("shared-fs"))
    failed_before = request.session.testsfailed
    try:
        with volume(workdir) as vol:
            meta_url = create_database()
            gateways: dict[str, Server] = {}
            try:
                try:
                    mounts = {n: vol.mount(workdir / f"gw-{n}").path for n in NAMES}
                except Unavailable as exc:
                    pytest.skip(str(exc))
                gateways = {n: Server(mounts[n], meta_url=meta_url,
                                      extra_args=["--workers", "1", "--intent-timeout", str(INTENT_TIMEOUT)])
                            for n in NAMES}
                with ThreadPoolExecutor(len(NAMES)) as pool:  # gateways starting together share the schema set-up
                    list(pool.map(_start, gateways.values()))
                yield Cluster(vol, meta_url, mounts, gateways)
            finally:
                try:
                    for gw in gateways.values():
                        gw.stop()
                finally:
                    try:
                        vol.destroy()  # unmounted before the database goes
                    finally:
                        drop_database(meta_url)
    except Unavailable as exc:
        pytest.skip(str(exc))
    finally:
        # Keep the logs (gateways, JuiceFS clients) of a failed run for its report;
        # never recurse into a mount that failed to go away.
        keep_logs = request.session.testsfailed != failed_before
        for path in workdir.iterdir():
            if os.path.ismount(path):
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif not (keep_logs and path.suffix == ".log"):
                path.unlink()
        if not keep_logs and not any(workdir.iterdir()):
            workdir.rmdir()


def _get(cluster: Cluster, via: str, bucket: str, key: str) -> bytes:
    return cluster.s3(via).get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]


def _status(cluster: Cluster, via: str, bucket: str, key: str) -> int:
    try:
        cluster.s3(via).head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    return 200


def _listed(cluster: Cluster, via: str, bucket: str) -> dict[str, tuple[int, str]]:
    r = cluster.s3(via).list_objects_v2(Bucket=bucket)
    return {o["Key"]: (o["Size"], o["ETag"]) for o in r.get("Contents", [])}


def test_put_on_a_is_read_and_listed_on_b_and_c_at_once(cluster: Cluster) -> None:
    bucket = cluster.bucket()
    bodies = {"small": os.urandom(1000), "file": os.urandom(3 * MIB + 17)}  # inline / a data file
    etags = {}
    for key, body in bodies.items():
        etags[key] = cluster.s3("a").put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
        cluster.acked[bucket, key] = _sha(body)

    def read_and_list(via: str) -> None:  # no waiting: acknowledged means visible everywhere
        for key, body in bodies.items():
            assert _get(cluster, via, bucket, key) == body, f"{key} read through {via}"
        assert _listed(cluster, via, bucket) == {k: (len(b), etags[k]) for k, b in bodies.items()}, via

    with ThreadPoolExecutor(2) as pool:  # b and c at the same time
        list(pool.map(read_and_list, ("b", "c")))


def test_multipart_parts_through_a_and_b_completed_on_c(cluster: Cluster) -> None:
    bucket = cluster.bucket()
    parts = [(1, "a", os.urandom(5 * MIB)), (2, "b", os.urandom(5 * MIB)), (3, "a", os.urandom(MIB + 3))]
    upload = cluster.s3("a").create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    done = []
    for number, via, body in parts:
        r = cluster.s3(via).upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=number, Body=body)
        done.append({"PartNumber": number, "ETag": r["ETag"]})
    listed = cluster.s3("c").list_parts(Bucket=bucket, Key="mp", UploadId=upload)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in listed] == [(n, len(b)) for n, _, b in parts]
    cluster.s3("c").complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload,
                                              MultipartUpload={"Parts": done})
    whole = b"".join(b for _, _, b in parts)
    cluster.acked[bucket, "mp"] = _sha(whole)
    assert _get(cluster, "a", bucket, "mp") == whole
    r = cluster.s3("b").get_object(Bucket=bucket, Key="mp", Range=f"bytes={5 * MIB - 10}-{5 * MIB + 9}")
    assert r["Body"].read() == whole[5 * MIB - 10:5 * MIB + 10]  # across the parts written by a and b


def test_large_overwrite_on_b_is_read_new_on_a_and_c(cluster: Cluster) -> None:
    bucket = cluster.bucket()
    old, new = os.urandom(8 * MIB), os.urandom(6 * MIB + 5)
    cluster.put("a", bucket, "big", old)
    for via in ("a", "c"):  # the old data file is in these mounts' page caches now
        assert _get(cluster, via, bucket, "big") == old
    cluster.put("b", bucket, "big", new)
    for via in ("a", "c"):
        assert _get(cluster, via, bucket, "big") == new, f"read through {via} after the overwrite"
        assert cluster.s3(via).head_object(Bucket=bucket, Key="big")["ContentLength"] == len(new)


def test_delete_on_c_is_404_on_a(cluster: Cluster) -> None:
    bucket = cluster.bucket()
    body = os.urandom(2 * MIB)
    for key in ("gone", "small"):
        cluster.put("a", bucket, key, body if key == "gone" else body[:100])
        assert _get(cluster, "a", bucket, key) == (body if key == "gone" else body[:100])
    for key in ("gone", "small"):
        cluster.s3("c").delete_object(Bucket=bucket, Key=key)
        del cluster.acked[bucket, key]
        for via in ("a", "b"):
            assert _status(cluster, via, bucket, key) == 404, f"HEAD {key} through {via}"
            with pytest.raises(ClientError) as e:
                cluster.s3(via).get_object(Bucket=bucket, Key=key)
            assert e.value.response["Error"]["Code"] == "NoSuchKey"
    assert _listed(cluster, "a", bucket) == {}


def test_copy_on_a_of_object_written_on_b(cluster: Cluster) -> None:
    bucket, other = cluster.bucket(), cluster.bucket()
    body = os.urandom(4 * MIB + 1)
    cluster.put("b", bucket, "src", body)
    cluster.s3("a").copy_object(Bucket=other, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    cluster.acked[other, "dst"] = _sha(body)
    for via in NAMES:
        assert _get(cluster, via, other, "dst") == body, f"copy read through {via}"
    cluster.s3("b").delete_object(Bucket=bucket, Key="src")  # the copy has its own data file (or link)
    del cluster.acked[bucket, "src"]
    for via in NAMES:
        assert _get(cluster, via, other, "dst") == body, f"copy read through {via} after its source was deleted"


# --- a gateway killed in the middle of an upload -------------------------------------------------------


def _db(cluster: Cluster, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(cluster.meta_url, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def _referenced(cluster: Cluster) -> set[str]:
    """The data files the metadata references: objects, versions, parts of open uploads."""
    ids: set[str] = set()
    for blob_id, manifest in _db(cluster, "SELECT blob_id, manifest FROM objects "
                                          "UNION ALL SELECT blob_id, manifest FROM object_versions "
                                          "UNION ALL SELECT blob_id, NULL FROM multipart_parts"):
        if blob_id:
            ids.add(str(blob_id))
        if manifest:
            ids.update(str(part[0]) for part in json.loads(str(manifest)))
    return ids


def _data_files(mount: Path) -> set[str]:
    names: set[str] = set()
    with os.scandir(mount / "blobs") as dirs:
        for d in dirs:
            with os.scandir(d.path) as files:
                names.update(f.name for f in files)
    return names


def _intents(cluster: Cluster) -> set[str]:
    return {str(r[0]) for r in _db(cluster, "SELECT blob_id FROM blob_intents")}


def _wait_for(condition: Callable[[], object], timeout: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what()}")
        time.sleep(0.1)


class _StalledPut:
    """A PUT (presigned, so any HTTP client can send it) whose body
    generator stops after ``stall_at`` bytes until released."""

    def __init__(self, url: str, size: int, stall_at: int) -> None:
        self.url, self.size, self.stall_at = url, size, stall_at
        self.sent = 0
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.status: int | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _body(self) -> Iterator[bytes]:
        chunk = os.urandom(256 * 1024)
        while self.sent < self.size:
            if self.sent >= self.stall_at and not self.release.is_set():
                self.stalled.set()
                self.release.wait(60)
            yield chunk
            self.sent += len(chunk)

    def _run(self) -> None:
        u = urlsplit(self.url)
        conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=60)
        try:
            conn.request("PUT", f"{u.path}?{u.query}", body=self._body(), headers={"Content-Length": str(self.size)})
            self.status = conn.getresponse().status
        except (OSError, http.client.HTTPException) as exc:  # the gateway was killed: no response
            self.error = exc
        finally:
            conn.close()


def test_kill_gateway_in_the_middle_of_a_large_put(cluster: Cluster) -> None:
    bucket = cluster.bucket()
    cluster.put("b", bucket, "before-small", b"acknowledged by b")
    cluster.put("b", bucket, "before-large", os.urandom(3 * MIB))
    intents_before = _intents(cluster)
    mount_a = cluster.mounts["a"]

    b = cluster.gateways["b"]
    url = cluster.s3("b").generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "interrupted"},
                                                 ExpiresIn=600)
    put = _StalledPut(url, size=32 * MIB, stall_at=4 * MIB)
    put.thread.start()
    try:
        assert put.stalled.wait(30), "the upload never reached its stall point"
        # The upload's intent is committed and its data file exists on the shared directory (seen from a's mount).
        orphan: list[str] = []

        def file_in_place() -> bool:
            new = _intents(cluster) - intents_before
            orphan[:] = [i for i in new if (mount_a / "blobs" / i[:2] / i).exists()]
            return bool(orphan)

        _wait_for(file_in_place, 15, lambda: f"the interrupted upload's data file (intents {_intents(cluster)})")
        b.kill()
    finally:
        put.release.set()
        put.thread.join(60)
    assert put.status != 200, "the killed gateway acknowledged the upload"
    (orphan_id,) = orphan
    orphan_path = f"blobs/{orphan_id[:2]}/{orphan_id}"

    def serves_everything(via: str) -> None:
        for (bkt, key), digest in cluster.acked.items():
            assert _sha(_get(cluster, via, bkt, key)) == digest, f"{bkt}/{key} through {via}"
        assert _status(cluster, via, bucket, "interrupted") == 404

    for via in ("a", "c"):  # the survivors, while b is down
        serves_everything(via)
    b.start()  # the same mount and database
    for via in NAMES:
        serves_everything(via)

    # The intent times out; some gateway reaps it and unlinks the file.  Then
    # the data files on the shared directory are exactly those the metadata references.
    state: dict[str, object] = {}

    def clean() -> bool:
        files, referenced, intents = _data_files(mount_a), _referenced(cluster), _intents(cluster)
        state.update(orphan=(mount_a / orphan_path).exists(), intents=intents, unreferenced=files - referenced,
                     missing=referenced - files, files=len(files), referenced=len(referenced))
        return not state["orphan"] and not intents and files == referenced

    _wait_for(clean, INTENT_TIMEOUT + 25, lambda: f"the orphan {orphan_path} to be reaped: {state}")
    for via in ("b", "c"):  # every mount sees the same directory
        assert _data_files(cluster.mounts[via]) == _referenced(cluster), f"data files seen through {via}'s mount"
    for name, mount in cluster.mounts.items():
        assert not os.listdir(mount / "tmp"), f"a shared data directory has nothing in tmp ({name})"
    for via in NAMES:
        serves_everything(via)
    assert _referenced(cluster), "no data files at all: the test wrote none"
