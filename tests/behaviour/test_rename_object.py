"""RenameObject (``PUT /bucket/newkey?renameObject``, S3 Express's 2025
API) through boto3: the object moves whole (data, metadata, ETag,
Last-Modified), with its source and destination conditions, and atomically
when it races with other renames and with writes to both keys."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def _keys(s3, bucket: str) -> dict[str, str]:
    return {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


def test_rename_keeps_the_object(s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="old.txt", Body=b"hello", ContentType="text/plain", Metadata={"a": "1"},
                  Tagging="t=v")
    before = s3.head_object(Bucket=bucket, Key="old.txt")
    s3.rename_object(Bucket=bucket, Key="new dir/new.txt", RenameSource=f"{bucket}/old.txt")
    after = s3.head_object(Bucket=bucket, Key="new dir/new.txt")
    for field in ("ETag", "LastModified", "ContentType", "Metadata", "ContentLength"):
        assert after[field] == before[field], field
    assert s3.get_object(Bucket=bucket, Key="new dir/new.txt")["Body"].read() == b"hello"
    assert s3.get_object_tagging(Bucket=bucket, Key="new dir/new.txt")["TagSet"] == [{"Key": "t", "Value": "v"}]
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="old.txt")
    assert _error(exc)[0] == 404
    assert _keys(s3, bucket) == {"new dir/new.txt": before["ETag"]}


def test_rename_large_and_multipart_objects(s3, bucket: str) -> None:
    big = bytes(range(256)) * 4096 * 2  # 2 MiB: a data file, not an inline body
    s3.put_object(Bucket=bucket, Key="big", Body=big)
    s3.rename_object(Bucket=bucket, Key="big2", RenameSource=f"/{bucket}/big")
    assert s3.get_object(Bucket=bucket, Key="big2")["Body"].read() == big
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    part1 = b"a" * (5 * 1024 * 1024)
    parts = []
    for number, body in ((1, part1), (2, b"tail")):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=number, Body=body)
        parts.append({"PartNumber": number, "ETag": r["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload["UploadId"],
                                 MultipartUpload={"Parts": parts})
    s3.rename_object(Bucket=bucket, Key="mp2", RenameSource=f"/{bucket}/mp")
    assert s3.get_object(Bucket=bucket, Key="mp2")["Body"].read() == part1 + b"tail"
    # renaming over an existing object replaces it
    s3.rename_object(Bucket=bucket, Key="mp2", RenameSource=f"/{bucket}/big2")
    assert s3.get_object(Bucket=bucket, Key="mp2")["Body"].read() == big
    assert set(_keys(s3, bucket)) == {"mp2"}


def test_rename_errors(s3, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.rename_object(Bucket=bucket, Key="b", RenameSource=f"/{bucket}/missing")
    assert _error(exc) == (404, "NoSuchKey")
    s3.put_object(Bucket=bucket, Key="a", Body=b"a")
    with pytest.raises(ClientError) as exc:
        s3.rename_object(Bucket=bucket, Key="b", RenameSource="/some-other-bucket/a")
    assert _error(exc) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as exc:
        s3.rename_object(Bucket=bucket, Key="b/", RenameSource=f"/{bucket}/a")
    assert _error(exc) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as exc:
        s3.rename_object(Bucket="no-such-bucket-rename", Key="b", RenameSource="/no-such-bucket-rename/a")
    assert _error(exc) == (404, "NoSuchBucket")
    assert set(_keys(s3, bucket)) == {"a"}


def test_rename_needs_write_access(server, s3, bucket: str, alt_s3) -> None:
    s3.put_object(Bucket=bucket, Key="a", Body=b"a")
    with pytest.raises(ClientError) as exc:
        alt_s3.rename_object(Bucket=bucket, Key="b", RenameSource=f"/{bucket}/a")
    assert _error(exc) == (403, "AccessDenied")
    assert set(_keys(s3, bucket)) == {"a"}


def test_rename_in_versioned_bucket_is_not_implemented(s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="a", Body=b"a")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    with pytest.raises(ClientError) as exc:
        s3.rename_object(Bucket=bucket, Key="b", RenameSource=f"/{bucket}/a")
    assert _error(exc) == (501, "NotImplemented")
    assert set(_keys(s3, bucket)) == {"a"}
    s3.delete_object(Bucket=bucket, Key="a", VersionId="null")  # the bucket can go


def test_rename_conditions(s3, bucket: str) -> None:
    src = s3.put_object(Bucket=bucket, Key="src", Body=b"source")["ETag"]
    dst = s3.put_object(Bucket=bucket, Key="dst", Body=b"dest")["ETag"]
    src_time = s3.head_object(Bucket=bucket, Key="src")["LastModified"]
    past, future = "Mon, 01 Jan 2001 00:00:00 GMT", "Fri, 01 Jan 2100 00:00:00 GMT"
    refused = [
        {"SourceIfMatch": dst}, {"SourceIfNoneMatch": src}, {"SourceIfNoneMatch": "*"},
        {"SourceIfModifiedSince": future}, {"SourceIfUnmodifiedSince": past},
        {"DestinationIfMatch": src}, {"DestinationIfNoneMatch": "*"},
        {"DestinationIfModifiedSince": future}, {"DestinationIfUnmodifiedSince": past},
    ]
    for conditions in refused:
        with pytest.raises(ClientError) as exc:
            s3.rename_object(Bucket=bucket, Key="dst", RenameSource=f"/{bucket}/src", **conditions)
        assert _error(exc) == (412, "PreconditionFailed"), conditions
    assert _keys(s3, bucket) == {"src": src, "dst": dst}  # nothing moved
    with pytest.raises(ClientError) as exc:  # If-Match on a destination that does not exist
        s3.rename_object(Bucket=bucket, Key="none", RenameSource=f"/{bucket}/src", DestinationIfMatch=src)
    assert _error(exc) == (412, "PreconditionFailed")
    s3.rename_object(Bucket=bucket, Key="dst", RenameSource=f"/{bucket}/src", SourceIfMatch=src,
                     SourceIfNoneMatch=dst, SourceIfModifiedSince=past, SourceIfUnmodifiedSince=future,
                     DestinationIfMatch=dst, DestinationIfModifiedSince=past,
                     DestinationIfUnmodifiedSince=future)
    assert _keys(s3, bucket) == {"dst": src}
    assert s3.head_object(Bucket=bucket, Key="dst")["LastModified"] == src_time
    s3.rename_object(Bucket=bucket, Key="fresh", RenameSource=f"/{bucket}/dst", DestinationIfNoneMatch="*")
    assert _keys(s3, bucket) == {"fresh": src}


def test_concurrent_renames_are_atomic(server, s3, bucket: str) -> None:
    """Several threads rename the same sources at once (If-None-Match: *
    on the destination): exactly one rename of each source wins, and a
    listing taken at any moment shows each object under exactly one name."""
    count, threads = 12, 4
    for i in range(count):
        s3.put_object(Bucket=bucket, Key=f"src-{i:02d}", Body=f"body {i}".encode())
    wins: list[int] = []
    losses: list[tuple[int, str]] = []
    bad_listings: list[dict[str, str]] = []
    done = threading.Event()

    def renamer() -> None:
        c = client(server)
        for i in range(count):
            try:
                c.rename_object(Bucket=bucket, Key=f"dst-{i:02d}", RenameSource=f"/{bucket}/src-{i:02d}",
                                DestinationIfNoneMatch="*")
                wins.append(i)
            except ClientError as exc:
                losses.append((i, exc.response["Error"]["Code"]))

    def lister() -> None:
        c = client(server)
        while not done.is_set():
            keys = _keys(c, bucket)
            if any((f"src-{i:02d}" in keys) == (f"dst-{i:02d}" in keys) for i in range(count)):
                bad_listings.append(keys)

    watcher = threading.Thread(target=lister)
    watcher.start()
    workers = [threading.Thread(target=renamer) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    done.set()
    watcher.join()
    assert sorted(wins) == list(range(count))
    assert len(losses) == count * (threads - 1)
    assert {code for _, code in losses} <= {"NoSuchKey", "PreconditionFailed"}
    assert bad_listings == []
    assert set(_keys(s3, bucket)) == {f"dst-{i:02d}" for i in range(count)}
    for i in range(count):
        assert s3.get_object(Bucket=bucket, Key=f"dst-{i:02d}")["Body"].read() == f"body {i}".encode()


def test_rename_racing_with_writes(server, s3, bucket: str) -> None:
    """Writers overwrite the source and the destination while a renamer
    moves the source it last saw (x-amz-rename-source-if-match): every body
    read back is one that was written whole; a renamed body never stays at
    the source; no body is renamed twice; the condition is honoured."""
    written: dict[str, bytes] = {}  # ETag -> body, of every PUT
    lock = threading.Lock()
    stop = threading.Event()
    renamed: list[str] = []  # the ETags of successful renames
    refused: list[str] = []
    failures: list[BaseException] = []

    def writer(key: str) -> None:
        c = client(server)
        n = 0
        try:
            while not stop.is_set():
                body = f"{key} {n} {uuid.uuid4().hex}".encode()
                n += 1
                etag = c.put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
                with lock:
                    written[etag] = body
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    def renamer() -> None:
        c = client(server)
        try:
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                try:
                    etag = c.head_object(Bucket=bucket, Key="A")["ETag"]
                except ClientError:
                    continue  # renamed away and not written yet
                try:
                    c.rename_object(Bucket=bucket, Key="B", RenameSource=f"/{bucket}/A", SourceIfMatch=etag)
                    renamed.append(etag)
                except ClientError as exc:
                    code = exc.response["Error"]["Code"]
                    assert code in ("PreconditionFailed", "NoSuchKey"), code
                    refused.append(code)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in ("A", "B")]
    threads += [threading.Thread(target=renamer) for _ in range(2)]
    for t in threads[2:]:
        t.start()
    for t in threads[:2]:
        t.start()
    for t in threads[2:]:
        t.join()
    stop.set()
    for t in threads[:2]:
        t.join()
    assert failures == []
    assert renamed, "no rename succeeded"
    assert len(renamed) == len(set(renamed))  # a body moved once: the source was gone with it
    assert all(e in written and written[e].startswith(b"A ") for e in renamed)
    final = _keys(s3, bucket)
    assert set(final) <= {"A", "B"}
    if "A" in final:
        assert final["A"] not in renamed  # a renamed body is not left behind at the source
    for key, etag in final.items():
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert f'"{hashlib.md5(body).hexdigest()}"' == etag and written[etag] == body
