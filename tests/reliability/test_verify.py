"""Bit rot (docs/reliability.md, "Bit rot"): ``pails verify`` reads every
stored version back against its checksums, on a running server, on both
stores; data corrupted on purpose is reported, and a GET of a corrupted
small object fails instead of serving wrong bytes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, IncompleteReadError, ResponseStreamingError

from tests.conftest import client
from tests.pails_server import STORE, Server, free_port, wait_for_port

SSE_C_KEY = b"k" * 32
MIB = 1024 * 1024


def _verify(srv: Server, *args: str) -> tuple[int, dict[str, Any]]:
    out = subprocess.run([sys.executable, "-m", "pails", "verify", *args, "--data", str(srv.data_dir),
                          *srv.meta_args, "--json"], capture_output=True, text=True, timeout=120)
    assert out.stderr == "", out.stderr
    return out.returncode, json.loads(out.stdout)


def _sql(srv: Server, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run ``sql`` (``?`` placeholders) on the server's metadata store."""
    if srv.meta_url:
        import psycopg

        with psycopg.connect(srv.meta_url, autocommit=True) as conn:
            cur = conn.execute(sql.replace("?", "%s"), args)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []
    with sqlite3.connect(srv.data_dir / "meta.sqlite3", isolation_level=None) as conn:
        return conn.execute(sql, args).fetchall()


def _blob_path(srv: Server, blob_id: str) -> Path:
    for path in (srv.data_dir / "blobs" / blob_id[:2] / blob_id, srv.data_dir / "tmp" / blob_id):
        if path.exists():
            return path
    raise AssertionError(f"no data file {blob_id}")


def _flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x40]))


def _corrupt_inline(srv: Server, key: str) -> None:
    if srv.meta_url:
        _sql(srv, "UPDATE objects SET inline = overlay(inline placing 'X'::bytea from 3 for 1) WHERE key=?", (key,))
    else:
        _sql(srv, "UPDATE inline_data SET data = CAST(substr(data, 1, 2) || X'58' || substr(data, 4) AS BLOB) "
                  "WHERE id = (SELECT inline_id FROM objects WHERE key=?)", (key,))


def test_verify_finds_corruption_and_get_refuses_it(tmp_path: Path) -> None:
    srv = Server(tmp_path / "data").start()
    try:
        s3 = client(srv)
        s3.create_bucket(Bucket="rot")
        s3.create_bucket(Bucket="fine")
        s3.put_bucket_versioning(Bucket="rot", VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket="rot", Key="inline", Body=b"small body " * 100)
        s3.put_object(Bucket="rot", Key="inline", Body=b"a newer small body " * 100)  # the old one: noncurrent
        s3.put_object(Bucket="rot", Key="file", Body=os.urandom(300_000), ChecksumAlgorithm="SHA256")
        s3.put_object(Bucket="rot", Key="sse-s3", Body=os.urandom(200_000), ServerSideEncryption="AES256")
        s3.put_object(Bucket="rot", Key="sse-s3-inline", Body=b"secret " * 50, ServerSideEncryption="AES256")
        s3.put_object(Bucket="rot", Key="sse-kms", Body=os.urandom(100_000), ServerSideEncryption="aws:kms")
        s3.put_object(Bucket="rot", Key="sse-c", Body=os.urandom(100_000), SSECustomerAlgorithm="AES256",
                      SSECustomerKey=SSE_C_KEY)
        s3.put_object(Bucket="rot", Key="empty", Body=b"")
        upload = s3.create_multipart_upload(Bucket="rot", Key="multi", ChecksumAlgorithm="CRC32")["UploadId"]
        parts = []
        for n, size in ((1, 5 * MIB), (2, 100_000)):
            etag = s3.upload_part(Bucket="rot", Key="multi", UploadId=upload, PartNumber=n, Body=os.urandom(size),
                                  ChecksumAlgorithm="CRC32")
            parts.append({"PartNumber": n, "ETag": etag["ETag"], "ChecksumCRC32": etag["ChecksumCRC32"]})
        s3.complete_multipart_upload(Bucket="rot", Key="multi", UploadId=upload, MultipartUpload={"Parts": parts})
        s3.put_object(Bucket="rot", Key="multi-2", Body=b"")
        s3.copy_object(Bucket="rot", Key="multi-2", CopySource={"Bucket": "rot", "Key": "multi"})
        s3.put_object(Bucket="fine", Key="k", Body=b"untouched")
        for offset, size in ((0, 100_000), (100_000, 100_000), (200_000, 50_000)):  # appends: a chained ETag
            s3.put_object(Bucket="fine", Key="appended", Body=os.urandom(size), WriteOffsetBytes=offset)

        stored = sum(len(s3.list_object_versions(Bucket=b).get("Versions", [])) for b in ("rot", "fine"))
        assert stored >= 12
        status, clean = _verify(srv)
        assert status == 0, clean
        assert [p["problem"] for p in clean["problems"]] == ["unverifiable"]  # SSE-C only
        assert clean["summary"]["corrupt"] == clean["summary"]["missing"] == 0
        assert clean["summary"]["versions"] == stored and clean["summary"]["ok"] == stored - 1

        # Damage: a byte of a plain data file, of an inline body (current), of an encrypted file; a part file gone.
        (blob,) = _sql(srv, "SELECT blob_id FROM objects WHERE key='file'")[0]
        _flip(_blob_path(srv, blob), 150_000)
        _corrupt_inline(srv, "inline")
        (sse_blob,) = _sql(srv, "SELECT blob_id FROM objects WHERE key='sse-s3'")[0]
        _flip(_blob_path(srv, sse_blob), 10)
        (manifest,) = _sql(srv, "SELECT manifest FROM objects WHERE key='multi'")[0]
        _blob_path(srv, json.loads(manifest)[1][0]).unlink()
        (manifest2,) = _sql(srv, "SELECT manifest FROM objects WHERE key='multi-2'")[0]
        _flip(_blob_path(srv, json.loads(manifest2)[1][0]), 50_000)  # (a hard link of multi's part 2)

        status, found = _verify(srv)
        assert status == 1
        problems = {(p["key"], p["problem"]) for p in found["problems"]}
        assert problems == {("file", "corrupt"), ("inline", "corrupt"), ("sse-s3", "corrupt"),
                            ("multi", "missing"), ("multi-2", "corrupt"), ("sse-c", "unverifiable")}, found
        details = {p["key"]: p["detail"] for p in found["problems"]}
        assert "SHA256" in details["file"] or "MD5" in details["file"]
        assert "integrity tag" in details["sse-s3"]
        assert "CRC32" in details["multi-2"]
        assert found["summary"] == {"versions": stored, "bytes": found["summary"]["bytes"], "ok": stored - 6,
                                    "corrupt": 4, "missing": 1, "unverifiable": 1}
        text = subprocess.run([sys.executable, "-m", "pails", "verify", "--data", str(srv.data_dir), *srv.meta_args],
                              capture_output=True, text=True, timeout=120)
        assert text.returncode == 1 and "CORRUPT: rot/file (version" in text.stdout
        assert "MISSING: rot/multi (version" in text.stdout
        assert text.stdout.splitlines()[-1].endswith(f"{stored - 6} ok, 4 corrupt, 1 missing, 1 not checkable")
        assert _verify(srv, "fine") == (0, {"problems": [], "summary": {
            "versions": 2, "bytes": 250_009, "ok": 2, "corrupt": 0, "missing": 0, "unverifiable": 0}})

        # A GET of the corrupted small object fails loudly; the old version (intact) still reads.
        once = client(srv, retries={"total_max_attempts": 1})  # SDKs retry a 500: one request, one log line
        with pytest.raises(ClientError) as err:
            once.get_object(Bucket="rot", Key="inline")["Body"].read()
        assert err.value.response["Error"]["Code"] == "InternalError"
        assert "does not match" in err.value.response["Error"]["Message"]
        old = [v["VersionId"] for v in s3.list_object_versions(Bucket="rot", Prefix="inline")["Versions"]
               if not v["IsLatest"]]
        assert s3.get_object(Bucket="rot", Key="inline", VersionId=old[0])["Body"].read() == b"small body " * 100
        # Ranges are not checked (the checksum covers the whole object).
        assert s3.get_object(Bucket="rot", Key="inline", Range="bytes=0-1")["Body"].read() == b"a "
        # An encrypted data file is streamed through Python: its integrity tag fails before the last slice
        # (here the only one: the HTTP server, which has sent no byte yet, answers a bare 500).
        with pytest.raises((ClientError, IncompleteReadError, ResponseStreamingError)) as cut:
            once.get_object(Bucket="rot", Key="sse-s3")["Body"].read()
        if isinstance(cut.value, ClientError):
            assert cut.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        log = (srv.log_path or Path()).read_text()
        assert log.count("does not match its ETag") == 1 and "Traceback" not in log
        assert log.count("does not match its encryption integrity tag; response cut short") == 1
    finally:
        srv.stop()


@pytest.mark.skipif(STORE != "sqlite", reason="one store is enough for the command's errors")
def test_verify_errors(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "pails", "verify", "--data", str(tmp_path / "nowhere")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "no data directory" in out.stderr


def test_verify_while_objects_are_overwritten_and_deleted(tmp_path: Path) -> None:
    """Data files collected after a concurrent overwrite or delete are not
    reported missing: the version is looked up again first."""
    import threading

    srv = Server(tmp_path / "data").start()
    stop = threading.Event()
    try:
        s3 = client(srv)
        s3.create_bucket(Bucket="churn")
        for i in range(40):
            s3.put_object(Bucket="churn", Key=f"k{i:02d}", Body=os.urandom(1_000_000))

        def churn() -> None:
            c = client(srv)
            i = 0
            while not stop.is_set():
                key = f"k{i % 40:02d}"
                if i % 3:
                    c.put_object(Bucket="churn", Key=key, Body=os.urandom(1_000_000))
                else:
                    c.delete_object(Bucket="churn", Key=key)
                i += 1

        t = threading.Thread(target=churn)
        t.start()
        try:
            for _ in range(8):
                status, out = _verify(srv, "churn")
                assert status == 0 and out["problems"] == [], out
                assert out["summary"]["versions"] > 0
        finally:
            stop.set()
            t.join()
    finally:
        srv.stop()


@pytest.mark.skipif(STORE != "sqlite", reason="uvicorn serves a SQLite data directory here")
def test_a_streamed_data_file_is_checked_against_its_etag(tmp_path: Path) -> None:
    """Where the HTTP server cannot send files itself (uvicorn: no
    ``pathsend``), a whole data file passes through Python and its MD5 is
    checked before the last slice: a damaged one ends the response short."""
    import http.client

    data = tmp_path / "data"
    data.mkdir()
    user = json.loads(subprocess.run([sys.executable, "-m", "pails", "user", "add", "u", "--data", str(data),
                                      "--json"], check=True, capture_output=True, text=True).stdout)
    port = free_port()
    log = open(tmp_path / "uvicorn.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "pails.http.app:app", "--port", str(port),
                             "--log-level", "warning"], env=dict(os.environ, PAILS_DATA_DIR=str(data)),
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
        import boto3

        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                          aws_access_key_id=user["access_key"], aws_secret_access_key=user["secret_key"])
        s3.create_bucket(Bucket="stream")
        body = os.urandom(3 * MIB)
        s3.put_object(Bucket="stream", Key="k", Body=body, ACL="public-read")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/stream/k")
        assert conn.getresponse().read() == body  # intact: served whole
        with sqlite3.connect(data / "meta.sqlite3") as c:
            (blob,) = c.execute("SELECT blob_id FROM objects WHERE key='k'").fetchone()
        _flip(data / "blobs" / blob[:2] / blob, 2 * MIB + 5)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/stream/k")
        response = conn.getresponse()
        assert response.status == 200
        with pytest.raises(http.client.IncompleteRead):
            response.read()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/stream/k", headers={"Range": "bytes=0-99"})  # ranges are not checked
        assert conn.getresponse().read() == body[:100]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
    assert (tmp_path / "uvicorn.log").read_text().count("does not match the object's CRC32") == 1


def _whole_get(srv: Server, key: str, size: int) -> tuple[int, bytes, bool]:
    """A whole GET over a raw connection: (status, bytes received, whether the body was complete)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    try:
        conn.request("GET", f"/rot/{key}")
        response = conn.getresponse()
        try:
            return response.status, response.read(), True
        except http.client.IncompleteRead as exc:
            return response.status, exc.partial, False
    finally:
        conn.close()


@pytest.mark.parametrize("mode", ["crc", "all"])
def test_a_damaged_data_file_fails_its_get(tmp_path: Path, mode: str) -> None:
    """Whole GETs of large objects whose data file was damaged in place (same
    size, one byte flipped), under Granian: where the object has a checksum
    the mode checks, the response ends short (the status line and most of the
    body are already sent) and one line is logged; never a complete body of
    wrong bytes.  Under ``crc`` (the default) an object with only its MD5 ETag
    is sent by Granian unchecked (docs/reliability.md, "Bit rot")."""
    import base64
    import zlib

    srv = Server(tmp_path / "data", extra_args=["--verify-reads", mode]).start()
    try:
        s3 = client(srv)
        s3.create_bucket(Bucket="rot")
        s3.put_bucket_policy(Bucket="rot", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::rot/*"}]}))
        body = os.urandom(8 * MIB)
        s3.put_object(Bucket="rot", Key="crc32", Body=body)  # botocore's default: a CRC32
        s3.put_object(Bucket="rot", Key="crc32c", Body=body, ChecksumAlgorithm="CRC32C")
        client(srv, request_checksum_calculation="when_required").put_object(Bucket="rot", Key="md5", Body=body)
        parts = [body[:5 * MIB], body[5 * MIB:]]
        up = s3.create_multipart_upload(Bucket="rot", Key="multipart", ChecksumAlgorithm="CRC32",
                                        ChecksumType="FULL_OBJECT")["UploadId"]
        done = [{"PartNumber": i + 1, "ETag": s3.upload_part(Bucket="rot", Key="multipart", UploadId=up,
                                                             PartNumber=i + 1, Body=p, ChecksumAlgorithm="CRC32")
                 ["ETag"]} for i, p in enumerate(parts)]
        s3.complete_multipart_upload(Bucket="rot", Key="multipart", UploadId=up, MultipartUpload={"Parts": done},
                                     ChecksumType="FULL_OBJECT",
                                     ChecksumCRC32=base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode())
        keys = ["crc32", "crc32c", "md5", "multipart"]
        for key in keys:
            assert _whole_get(srv, key, len(body)) == (200, body, True)  # intact: served whole
        for key in keys[:3]:
            (blob,) = _sql(srv, "SELECT blob_id FROM objects WHERE key=?", (key,))[0]
            _flip(_blob_path(srv, blob), 5 * MIB + 3)
        (manifest,) = _sql(srv, "SELECT manifest FROM objects WHERE key=?", ("multipart",))[0]
        _flip(_blob_path(srv, json.loads(manifest)[1][0]), 1000)  # in the second part
        checked = keys if mode == "all" else ["crc32", "crc32c", "multipart"]
        for key in keys:
            status, got, complete = _whole_get(srv, key, len(body))
            assert status == 200  # sent before the last slice is read
            if key in checked:
                assert not complete and len(got) < len(body), key  # cut short: the client knows
            else:
                assert complete and got != body and len(got) == len(body)  # unchecked: wrong bytes, silently
        # Ranges are not checked (the checksums cover the whole object).
        assert s3.get_object(Bucket="rot", Key="crc32", Range="bytes=0-99")["Body"].read() == body[:100]
        log = (srv.log_path or Path()).read_text()
        assert log.count("response cut short") == len(checked) and "Traceback" not in log
    finally:
        srv.stop()
