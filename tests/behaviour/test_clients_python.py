"""Third-party Python S3 clients (pyarrow, s3fs, obstore, minio-py) against a real Pails server.

Each client runs with its default settings; every scenario includes a multipart upload, checked
through the ETag of the stored object (a multipart ETag ends in ``-<number of parts>``).
"""

from __future__ import annotations

import hashlib
import random
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

MiB = 1024 * 1024


def _payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _parts(s3, bucket: str, key: str) -> int:
    """Number of parts of a stored object per its ETag (0 for a single PUT)."""
    etag = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    return int(etag.split("-")[1]) if "-" in etag else 0


def _keys(s3, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


# --------------------------------------------------------------------------------------------- pyarrow


@pytest.fixture
def arrow_fs(server):
    from pyarrow import fs

    return fs.S3FileSystem(endpoint_override=f"127.0.0.1:{server.port}", scheme="http",
                           access_key=server.access_key, secret_key=server.secret_key, region="us-east-1")


def test_pyarrow_parquet_round_trip_multipart(arrow_fs, s3, bucket):
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Random int64s do not compress: the file is > 20 MiB, past pyarrow's 10 MiB upload part size, so the
    # output stream uploads it in parts (UploadPart bodies are aws-chunked without Content-Length).
    n = 2_000_000
    ints = pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(_payload(n * 8, 1))])
    table = pa.table({"id": pa.array(range(n), pa.int64()), "value": ints,
                      "label": pa.array([f"row-{i % 1000}" for i in range(n)])})
    pq.write_table(table, f"{bucket}/data/table.parquet", filesystem=arrow_fs)

    info = arrow_fs.get_file_info(f"{bucket}/data/table.parquet")
    assert info.type.name == "File"
    assert info.size > 20 * MiB
    assert _parts(s3, bucket, "data/table.parquet") >= 2
    assert s3.head_object(Bucket=bucket, Key="data/table.parquet")["ContentLength"] == info.size

    back = pq.read_table(f"{bucket}/data/table.parquet", filesystem=arrow_fs)
    assert back.equals(table)
    # A column projection reads byte ranges of the object.
    assert pq.read_table(f"{bucket}/data/table.parquet", filesystem=arrow_fs, columns=["value"]).column(
        "value").equals(table.column("value"))


def test_pyarrow_output_stream_file_info_delete(arrow_fs, s3, bucket):
    from pyarrow import fs

    data = _payload(23 * MiB + 12345, 2)
    with arrow_fs.open_output_stream(f"{bucket}/stream/big.bin") as out:
        for i in range(0, len(data), 3 * MiB):  # many writes, buffered into 10 MiB parts
            out.write(data[i:i + 3 * MiB])
    assert _parts(s3, bucket, "stream/big.bin") >= 2
    assert s3.get_object(Bucket=bucket, Key="stream/big.bin")["Body"].read() == data

    with arrow_fs.open_output_stream(f"{bucket}/stream/small.txt") as out:
        out.write(b"hello arrow")
    with arrow_fs.open_input_stream(f"{bucket}/stream/small.txt") as f:
        assert f.read() == b"hello arrow"
    with arrow_fs.open_input_file(f"{bucket}/stream/big.bin") as f:
        assert f.size() == len(data)
        f.seek(10 * MiB - 5)
        assert f.read(10) == data[10 * MiB - 5:10 * MiB + 5]

    infos = arrow_fs.get_file_info(fs.FileSelector(f"{bucket}/stream", recursive=True))
    assert sorted((i.base_name, i.size) for i in infos) == [("big.bin", len(data)), ("small.txt", 11)]
    assert arrow_fs.get_file_info(f"{bucket}/stream").type == fs.FileType.Directory
    assert arrow_fs.get_file_info(f"{bucket}/stream/nope").type == fs.FileType.NotFound

    arrow_fs.copy_file(f"{bucket}/stream/small.txt", f"{bucket}/stream/copy.txt")
    assert s3.get_object(Bucket=bucket, Key="stream/copy.txt")["Body"].read() == b"hello arrow"

    arrow_fs.delete_file(f"{bucket}/stream/big.bin")
    arrow_fs.delete_file(f"{bucket}/stream/small.txt")
    arrow_fs.delete_file(f"{bucket}/stream/copy.txt")
    assert arrow_fs.get_file_info(f"{bucket}/stream/big.bin").type == fs.FileType.NotFound
    # pyarrow keeps the emptied parent "directory" as a zero-byte marker object; delete_dir removes it.
    assert _keys(s3, bucket) == ["stream/"]
    arrow_fs.delete_dir(f"{bucket}/stream")
    assert _keys(s3, bucket) == []


# ----------------------------------------------------------------------------------------------- s3fs


@pytest.fixture
def s3fs_fs(server):
    import s3fs

    return s3fs.S3FileSystem(key=server.access_key, secret=server.secret_key, endpoint_url=server.endpoint,
                             client_kwargs={"region_name": "us-east-1"}, skip_instance_cache=True)


def test_s3fs_put_get_ls_info_rm(s3fs_fs, s3, bucket, tmp_path: Path):
    fs = s3fs_fs
    small = tmp_path / "small.txt"
    small.write_bytes(b"hello s3fs\n")
    fs.put(str(small), f"{bucket}/dir/small.txt")
    fs.pipe(f"{bucket}/dir/sub/piped.bin", b"\x00\x01piped")

    assert fs.cat(f"{bucket}/dir/small.txt") == b"hello s3fs\n"
    assert fs.cat(f"{bucket}/dir/sub/piped.bin") == b"\x00\x01piped"
    assert fs.cat_file(f"{bucket}/dir/small.txt", start=6, end=10) == b"s3fs"
    assert sorted(fs.ls(f"{bucket}/dir", detail=False)) == [f"{bucket}/dir/small.txt", f"{bucket}/dir/sub"]
    assert sorted(fs.find(f"{bucket}/dir")) == [f"{bucket}/dir/small.txt", f"{bucket}/dir/sub/piped.bin"]
    info = fs.info(f"{bucket}/dir/small.txt")
    assert info["size"] == 11 and info["type"] == "file"
    assert info["ETag"].strip('"') == _md5(b"hello s3fs\n")
    assert fs.info(f"{bucket}/dir/sub")["type"] == "directory"
    assert fs.exists(f"{bucket}/dir/small.txt") and not fs.exists(f"{bucket}/dir/nope")

    # Multipart through put_file: chunksize below the file size.
    big = tmp_path / "big.bin"
    big.write_bytes(_payload(11 * MiB + 7, 3))
    fs.put_file(str(big), f"{bucket}/dir/big.bin", chunksize=5 * MiB)
    assert _parts(s3, bucket, "dir/big.bin") == 3
    fs.get(f"{bucket}/dir/big.bin", str(tmp_path / "big.out"))
    assert (tmp_path / "big.out").read_bytes() == big.read_bytes()

    fs.copy(f"{bucket}/dir/small.txt", f"{bucket}/dir/copied.txt")
    assert fs.cat(f"{bucket}/dir/copied.txt") == b"hello s3fs\n"

    fs.rm(f"{bucket}/dir/small.txt")
    assert not fs.exists(f"{bucket}/dir/small.txt")
    fs.rm(f"{bucket}/dir", recursive=True)
    assert _keys(s3, bucket) == []


def test_s3fs_open_write_blocks_multipart(s3fs_fs, s3, bucket):
    fs = s3fs_fs
    data = _payload(13 * MiB + 99, 4)
    with fs.open(f"{bucket}/written.bin", "wb", block_size=5 * MiB) as f:
        for i in range(0, len(data), MiB):
            f.write(data[i:i + MiB])
    assert _parts(s3, bucket, "written.bin") >= 2
    assert fs.cat(f"{bucket}/written.bin") == data
    with fs.open(f"{bucket}/written.bin", "rb") as f:
        f.seek(7 * MiB)
        assert f.read(100) == data[7 * MiB:7 * MiB + 100]
    assert fs.info(f"{bucket}/written.bin")["size"] == len(data)
    fs.rm(f"{bucket}/written.bin")
    assert _keys(s3, bucket) == []


# -------------------------------------------------------------------------------------------- obstore


@pytest.fixture
def obstore_store(server, bucket):
    from obstore.store import S3Store

    return S3Store(bucket, endpoint=server.endpoint, access_key_id=server.access_key,
                   secret_access_key=server.secret_key, region="us-east-1", client_options={"allow_http": True})


def test_obstore_put_get_list_delete_range(obstore_store, s3, bucket):
    import obstore

    store = obstore_store
    obstore.put(store, "a/one.txt", b"first object")
    obstore.put(store, "a/two.txt", b"second", tags={"team": "storage"})
    obstore.put(store, "b/three.txt", b"third")

    assert obstore.get(store, "a/one.txt").bytes().to_bytes() == b"first object"
    assert obstore.get_range(store, "a/one.txt", start=6, end=12).to_bytes() == b"object"
    assert obstore.get_range(store, "a/one.txt", start=0, length=5).to_bytes() == b"first"
    head = obstore.head(store, "a/one.txt")
    assert head["size"] == 12 and head["e_tag"].strip('"') == _md5(b"first object")
    assert s3.get_object_tagging(Bucket=bucket, Key="a/two.txt")["TagSet"] == [{"Key": "team", "Value": "storage"}]

    listed = sorted((m["path"], m["size"]) for batch in obstore.list(store) for m in batch)
    assert listed == [("a/one.txt", 12), ("a/two.txt", 6), ("b/three.txt", 5)]
    assert sorted(m["path"] for batch in obstore.list(store, prefix="a") for m in batch) == ["a/one.txt", "a/two.txt"]
    by_dir = obstore.list_with_delimiter(store, "a")
    assert [m["path"] for m in by_dir["objects"]] == ["a/one.txt", "a/two.txt"]
    assert obstore.list_with_delimiter(store)["common_prefixes"] == ["a", "b"]

    obstore.copy(store, "a/one.txt", "b/copy.txt")
    assert obstore.get(store, "b/copy.txt").bytes().to_bytes() == b"first object"
    obstore.rename(store, "b/copy.txt", "b/renamed.txt")
    assert sorted(m["path"] for batch in obstore.list(store, prefix="b") for m in batch) == [
        "b/renamed.txt", "b/three.txt"]

    with pytest.raises(FileNotFoundError):
        obstore.get(store, "missing.txt")
    for path in ("a/one.txt", "a/two.txt", "b/three.txt", "b/renamed.txt"):
        obstore.delete(store, path)
    assert _keys(s3, bucket) == []


def test_obstore_multipart(obstore_store, s3, bucket):
    import obstore

    store = obstore_store
    data = _payload(12 * MiB + 3, 5)
    # A bytes payload larger than the 5 MiB default chunk_size goes through a multipart upload.
    obstore.put(store, "big/bytes.bin", data)
    assert _parts(s3, bucket, "big/bytes.bin") == 3
    # An iterator of chunks is always uploaded in parts.
    obstore.put(store, "big/iter.bin", (data[i:i + MiB] for i in range(0, len(data), MiB)), use_multipart=True)
    assert _parts(s3, bucket, "big/iter.bin") >= 2
    # The buffered writer (10 MiB buffer by default).
    with obstore.open_writer(store, "big/writer.bin") as w:
        for i in range(0, len(data), 2 * MiB):
            w.write(data[i:i + 2 * MiB])
    assert _parts(s3, bucket, "big/writer.bin") >= 2

    for key in ("big/bytes.bin", "big/iter.bin", "big/writer.bin"):
        assert _md5(obstore.get(store, key).bytes().to_bytes()) == _md5(data), key
        assert obstore.get_range(store, key, start=5 * MiB - 3, end=5 * MiB + 3).to_bytes() == \
            data[5 * MiB - 3:5 * MiB + 3]
    ranges = obstore.get_ranges(store, "big/bytes.bin", starts=[0, 11 * MiB], ends=[10, 11 * MiB + 10])
    assert [r.to_bytes() for r in ranges] == [data[:10], data[11 * MiB:11 * MiB + 10]]
    reader = obstore.open_reader(store, "big/writer.bin")
    try:
        reader.seek(12 * MiB)
        assert reader.read().to_bytes() == data[12 * MiB:]
    finally:
        reader.close()
    for key in ("big/bytes.bin", "big/iter.bin", "big/writer.bin"):
        obstore.delete(store, key)
    assert _keys(s3, bucket) == []


# ------------------------------------------------------------------------------------------- minio-py


@pytest.fixture
def minio_client(server):
    from minio import Minio

    return Minio(f"127.0.0.1:{server.port}", access_key=server.access_key, secret_key=server.secret_key,
                 secure=False)


def test_minio_objects_multipart_presigned(minio_client, s3, tmp_path: Path):
    import io

    from minio.error import S3Error

    mc = minio_client
    name = f"minio-{uuid.uuid4().hex[:16]}"
    assert not mc.bucket_exists(bucket_name=name)
    mc.make_bucket(bucket_name=name)
    try:
        assert mc.bucket_exists(bucket_name=name)
        assert name in [b.name for b in mc.list_buckets()]

        result = mc.put_object(bucket_name=name, object_name="docs/hello.txt", data=io.BytesIO(b"hello minio"),
                               length=11, content_type="text/plain", metadata={"x-amz-meta-colour": "blue"})
        assert result.etag == _md5(b"hello minio")

        big = tmp_path / "big.bin"
        data = _payload(12 * MiB + 1, 6)
        big.write_bytes(data)
        mc.fput_object(bucket_name=name, object_name="docs/big.bin", file_path=str(big), part_size=5 * MiB)
        assert _parts(s3, name, "docs/big.bin") == 3

        resp = mc.get_object(bucket_name=name, object_name="docs/hello.txt")
        try:
            assert resp.read() == b"hello minio"
        finally:
            resp.close()
            resp.release_conn()
        resp = mc.get_object(bucket_name=name, object_name="docs/big.bin", offset=5 * MiB, length=16)
        try:
            assert resp.read() == data[5 * MiB:5 * MiB + 16]
        finally:
            resp.close()
            resp.release_conn()
        mc.fget_object(bucket_name=name, object_name="docs/big.bin", file_path=str(tmp_path / "big.out"))
        assert (tmp_path / "big.out").read_bytes() == data

        st = mc.stat_object(bucket_name=name, object_name="docs/hello.txt")
        assert st.size == 11 and st.content_type == "text/plain"
        assert st.metadata.get("x-amz-meta-colour") == "blue"
        assert mc.stat_object(bucket_name=name, object_name="docs/big.bin").size == len(data)

        listed = sorted((o.object_name, o.size) for o in mc.list_objects(bucket_name=name, recursive=True))
        assert listed == [("docs/big.bin", len(data)), ("docs/hello.txt", 11)]
        assert [o.object_name for o in mc.list_objects(bucket_name=name)] == ["docs/"]

        url = mc.presigned_get_object(bucket_name=name, object_name="docs/hello.txt", expires=timedelta(minutes=5))
        with urllib.request.urlopen(url, timeout=30) as r:
            assert r.status == 200 and r.read() == b"hello minio"

        mc.remove_object(bucket_name=name, object_name="docs/hello.txt")
        mc.remove_object(bucket_name=name, object_name="docs/big.bin")
        with pytest.raises(S3Error) as err:
            mc.stat_object(bucket_name=name, object_name="docs/hello.txt")
        assert err.value.code == "NoSuchKey"
        assert list(mc.list_objects(bucket_name=name, recursive=True)) == []
        mc.remove_bucket(bucket_name=name)
        assert not mc.bucket_exists(bucket_name=name)
    finally:
        if name in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
            for o in s3.list_objects_v2(Bucket=name).get("Contents", []):
                s3.delete_object(Bucket=name, Key=o["Key"])
            s3.delete_bucket(Bucket=name)
