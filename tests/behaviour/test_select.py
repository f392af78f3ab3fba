"""S3 Select (SelectObjectContent) against a real Pails server with boto3:
CSV, JSON, GZIP/BZIP2, Parquet, aggregates, output options, ScanRange,
progress and errors (on either metadata store: PAILS_TEST_STORE)."""

from __future__ import annotations

import bz2
import gzip
import io
import json

import pytest
from botocore.exceptions import ClientError, EventStreamError

CSV = "name,city,age\nalice,Paris,31\nbob,Oslo,25\ncarol,Paris,47\ndave,\"Rome, IT\",19\n"
PEOPLE = [{"name": "alice", "age": 31, "tags": ["a"], "home": {"city": "Paris"}},
          {"name": "bob", "age": 25, "home": {"city": "Oslo"}},
          {"name": "carol", "age": 47, "home": {"city": "Paris"}}]


def select(s3, bucket: str, key: str, sql: str, inp: dict | None = None, out: dict | None = None,
           **extra) -> tuple[str, dict]:
    """(the Records text, the other events by name)."""
    r = s3.select_object_content(
        Bucket=bucket, Key=key, ExpressionType="SQL", Expression=sql,
        InputSerialization=inp if inp is not None else {"CSV": {"FileHeaderInfo": "USE"}},
        OutputSerialization=out if out is not None else {"CSV": {}}, **extra)
    records, events = [], {}
    for event in r["Payload"]:
        for name, body in event.items():
            if name == "Records":
                records.append(body["Payload"].decode())
            else:
                events[name] = body
    return "".join(records), events


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def test_csv_projection_where_and_quoting(s3, bucket):
    s3.put_object(Bucket=bucket, Key="p.csv", Body=CSV.encode())
    text, events = select(s3, bucket, "p.csv", "SELECT s.name, s.age FROM S3Object s WHERE s.city = 'Paris'")
    assert text == "alice,31\ncarol,47\n"
    assert "Stats" in events and "End" in events
    stats = events["Stats"]["Details"]
    assert stats["BytesScanned"] == len(CSV) and stats["BytesReturned"] == len(text)
    text, _ = select(s3, bucket, "p.csv", "SELECT city FROM S3Object WHERE CAST(age AS INT) < 20")
    assert text == '"Rome, IT"\n'
    text, _ = select(s3, bucket, "p.csv", "SELECT * FROM S3Object WHERE name LIKE 'b%'")
    assert text == "bob,Oslo,25\n"
    text, _ = select(s3, bucket, "p.csv", "SELECT _1, UPPER(_2) FROM S3Object LIMIT 2",
                     inp={"CSV": {"FileHeaderInfo": "IGNORE"}})
    assert text == "alice,PARIS\nbob,OSLO\n"


def test_csv_aggregates_and_functions(s3, bucket):
    s3.put_object(Bucket=bucket, Key="p.csv", Body=CSV.encode())
    text, _ = select(s3, bucket, "p.csv", "SELECT COUNT(*), SUM(CAST(age AS INT)), MIN(CAST(age AS INT)), "
                     "MAX(CAST(age AS INT)), AVG(CAST(age AS INT)) FROM S3Object")
    assert text == "4,122,19,47,30.5\n"
    text, _ = select(s3, bucket, "p.csv", "SELECT COUNT(*) FROM S3Object WHERE city IN ('Oslo', 'Paris') "
                     "AND CAST(age AS INT) BETWEEN 20 AND 40")
    assert text == "2\n"
    text, _ = select(s3, bucket, "p.csv", "SELECT SUBSTRING(name, 2, 3), CHAR_LENGTH(name), "
                     "COALESCE(NULLIF(city, 'Oslo'), 'none'), TRIM(LEADING 'a' FROM name) FROM S3Object")
    assert text.splitlines()[:2] == ["lic,5,Paris,lice", "ob,3,none,bob"]
    text, _ = select(s3, bucket, "p.csv", "SELECT EXTRACT(YEAR FROM TO_TIMESTAMP('2021-03-04T05:06:07Z')), "
                     "DATE_DIFF(day, TO_TIMESTAMP('2021-01-01T'), TO_TIMESTAMP('2021-03-01T')) FROM S3Object LIMIT 1")
    assert text == "2021,59\n"


def test_json_document_and_lines(s3, bucket):
    doc = json.dumps({"people": PEOPLE})
    s3.put_object(Bucket=bucket, Key="doc.json", Body=doc.encode())
    text, _ = select(s3, bucket, "doc.json", "SELECT p.name, p.home.city FROM S3Object[*].people[*] p "
                     "WHERE p.age > 30", inp={"JSON": {"Type": "DOCUMENT"}}, out={"JSON": {}})
    assert [json.loads(line) for line in text.splitlines()] == [
        {"name": "alice", "city": "Paris"}, {"name": "carol", "city": "Paris"}]
    lines = "".join(json.dumps(p) + "\n" for p in PEOPLE)
    s3.put_object(Bucket=bucket, Key="l.json", Body=lines.encode())
    text, _ = select(s3, bucket, "l.json", "SELECT * FROM S3Object s WHERE s.home.city = 'Oslo'",
                     inp={"JSON": {"Type": "LINES"}}, out={"JSON": {}})
    assert json.loads(text) == PEOPLE[1]
    text, _ = select(s3, bucket, "l.json", "SELECT MAX(s.age), COUNT(s.tags) FROM S3Object s",
                     inp={"JSON": {"Type": "LINES"}}, out={"CSV": {}})
    assert text == "47,1\n"


@pytest.mark.parametrize("compression", ["GZIP", "BZIP2"])
def test_compressed_input(s3, bucket, compression):
    rows = "".join(f"{i},{i * 2}\n" for i in range(20000))
    packed = gzip.compress(rows.encode()) if compression == "GZIP" else bz2.compress(rows.encode())
    s3.put_object(Bucket=bucket, Key="big.csv", Body=packed)
    text, events = select(s3, bucket, "big.csv", "SELECT COUNT(*), SUM(CAST(_2 AS INT)) FROM S3Object",
                          inp={"CSV": {}, "CompressionType": compression})
    assert text == f"20000,{sum(i * 2 for i in range(20000))}\n"
    assert events["Stats"]["Details"]["BytesScanned"] == len(packed)
    assert events["Stats"]["Details"]["BytesProcessed"] == len(rows)


def test_output_options_scan_range_and_progress(s3, bucket):
    s3.put_object(Bucket=bucket, Key="p.csv", Body=CSV.encode())
    text, _ = select(s3, bucket, "p.csv", "SELECT name, city FROM S3Object",
                     out={"CSV": {"QuoteFields": "ALWAYS", "FieldDelimiter": ";", "RecordDelimiter": "|"}})
    assert text.startswith('"alice";"Paris"|"bob";"Oslo"|')
    body = "a,1\nb,2\nc,3\nd,4\n"
    s3.put_object(Bucket=bucket, Key="r.csv", Body=body.encode())
    text, _ = select(s3, bucket, "r.csv", "SELECT _1 FROM S3Object", inp={"CSV": {}},
                     ScanRange={"Start": 5, "End": 9})  # records starting at 4..9: b (4) and c (8)
    assert text == "c\n"
    text, events = select(s3, bucket, "r.csv", "SELECT _1 FROM S3Object", inp={"CSV": {}},
                          RequestProgress={"Enabled": True})
    assert text == "a\nb\nc\nd\n"
    assert events["Progress"]["Details"]["BytesScanned"] == len(body)


def test_parquet(s3, bucket):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"name": ["alice", "bob", "carol"], "age": [31, 25, 47]})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    s3.put_object(Bucket=bucket, Key="t.parquet", Body=buf.getvalue())
    text, _ = select(s3, bucket, "t.parquet", "SELECT s.name FROM S3Object s WHERE s.age > 30",
                     inp={"Parquet": {}})
    assert text == "alice\ncarol\n"


def test_encrypted_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="e.csv", Body=CSV.encode(), ServerSideEncryption="AES256")
    text, _ = select(s3, bucket, "e.csv", "SELECT COUNT(*) FROM S3Object")
    assert text == "4\n"


def test_errors(s3, bucket):
    s3.put_object(Bucket=bucket, Key="p.csv", Body=CSV.encode())
    with pytest.raises(ClientError) as exc:
        select(s3, bucket, "p.csv", "SELECT FROM S3Object")
    assert _code(exc)[0] == 400
    with pytest.raises(ClientError) as exc:
        select(s3, bucket, "p.csv", "SELECT nosuch FROM S3Object")
    assert _code(exc) == (400, "EvaluatorBindingDoesNotExist")
    with pytest.raises(ClientError) as exc:
        select(s3, bucket, "p.csv", "SELECT * FROM S3Object", inp={"CSV": {}, "CompressionType": "LZ4"})
    assert _code(exc) == (400, "InvalidCompressionFormat")
    with pytest.raises(ClientError) as exc:
        s3.select_object_content(Bucket=bucket, Key="p.csv", ExpressionType="SQL", Expression="SELECT 1",
                                 InputSerialization={"CSV": {}, "CompressionType": "NONE"},
                                 OutputSerialization={"CSV": {}}, ScanRange={"Start": 5, "End": 1})
    assert _code(exc) == (400, "InvalidRequestParameter")
    with pytest.raises(ClientError) as exc:
        select(s3, bucket, "missing.csv", "SELECT * FROM S3Object")
    assert _code(exc) == (404, "NoSuchKey")
    s3.put_object(Bucket=bucket, Key="bad.gz", Body=b"this is not gzip data" * 10)
    with pytest.raises((ClientError, EventStreamError)) as exc:
        select(s3, bucket, "bad.gz", "SELECT * FROM S3Object", inp={"CSV": {}, "CompressionType": "GZIP"})
    assert "InvalidCompressionFormat" in str(exc.value)


def test_other_user_needs_s3_get_object(s3, alt_s3, bucket, alt_user):
    s3.put_object(Bucket=bucket, Key="p.csv", Body=CSV.encode())
    with pytest.raises(ClientError) as exc:
        select(alt_s3, bucket, "p.csv", "SELECT * FROM S3Object")
    assert _code(exc) == (403, "AccessDenied")
    # a bucket policy granting s3:GetObject (AWS's action for Select) lets the other user select
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::x:user/{alt_user['display_name']}"},
         "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    text, _ = select(alt_s3, bucket, "p.csv", "SELECT COUNT(*) FROM S3Object")
    assert text == "4\n"
    s3.delete_bucket_policy(Bucket=bucket)


def test_sse_c_object_needs_its_key(s3, bucket):
    key = b"k" * 32
    s3.put_object(Bucket=bucket, Key="c.csv", Body=CSV.encode(), SSECustomerAlgorithm="AES256", SSECustomerKey=key)
    with pytest.raises(ClientError) as exc:
        select(s3, bucket, "c.csv", "SELECT COUNT(*) FROM S3Object")
    assert _code(exc) == (400, "InvalidRequest")
    text, _ = select(s3, bucket, "c.csv", "SELECT name FROM S3Object WHERE age = '25'",
                     SSECustomerAlgorithm="AES256", SSECustomerKey=key)
    assert text == "bob\n"


def test_multipart_object_and_many_records_messages(s3, bucket):
    row = "".join(f"{i:07d},{'x' * 90}\n" for i in range(60000))  # ~5.9 MB: records cross part edges
    body = row.encode()
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp.csv")
    cut = 5 * 1024 * 1024 + 3
    parts = []
    for n, chunk in enumerate((body[:cut], body[cut:]), start=1):
        etag = s3.upload_part(Bucket=bucket, Key="mp.csv", UploadId=up["UploadId"], PartNumber=n, Body=chunk)["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    s3.complete_multipart_upload(Bucket=bucket, Key="mp.csv", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": parts})
    r = s3.select_object_content(Bucket=bucket, Key="mp.csv", ExpressionType="SQL",
                                 Expression="SELECT _1 FROM S3Object", InputSerialization={"CSV": {}},
                                 OutputSerialization={"CSV": {}})
    messages = [e["Records"]["Payload"] for e in r["Payload"] if "Records" in e]
    assert len(messages) > 1  # streamed in pieces, not one body
    assert b"".join(messages) == "".join(f"{i:07d}\n" for i in range(60000)).encode()


def test_error_after_records_ends_the_stream(s3, bucket):
    body = "".join(f"{i}\n" for i in range(100000)) + "oops\n"
    s3.put_object(Bucket=bucket, Key="n.csv", Body=body.encode())
    r = s3.select_object_content(Bucket=bucket, Key="n.csv", ExpressionType="SQL",
                                 Expression="SELECT CAST(_1 AS INT) FROM S3Object",
                                 InputSerialization={"CSV": {}}, OutputSerialization={"CSV": {}})
    got = []
    with pytest.raises(EventStreamError) as exc:
        for event in r["Payload"]:
            if "Records" in event:
                got.append(event["Records"]["Payload"])
            assert "End" not in event
    assert exc.value.response["Error"]["Code"] == "CastFailed"
    assert got  # records before the bad one were sent


def _peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory):
    from pathlib import Path

    from tests.pails_server import Server

    srv = Server(Path(tmp_path_factory.mktemp("select")) / "data", extra_args=["--workers", "1"]).start()
    yield srv
    srv.stop()


def test_memory_does_not_grow_with_the_object(one_worker):
    """120 MB of CSV (2 MB stored, GZIP) scanned by a worker whose peak
    resident memory grows by far less than the object."""
    from tests.conftest import client

    s3 = client(one_worker)
    s3.create_bucket(Bucket="mem")
    line = ("x" * 1000 + "," + "y" * 200 + "\n").encode()
    rows = 100_000
    packed = gzip.compress(line * rows, compresslevel=6)
    s3.put_object(Bucket="mem", Key="big.csv.gz", Body=packed)
    (pid,) = one_worker.worker_pids()
    before = _peak_rss(pid)
    text, events = select(s3, "mem", "big.csv.gz", "SELECT COUNT(*), MAX(CHAR_LENGTH(_2)) FROM S3Object",
                          inp={"CSV": {}, "CompressionType": "GZIP"})
    assert text == f"{rows},200\n"
    assert events["Stats"]["Details"]["BytesProcessed"] == len(line) * rows
    grown = _peak_rss(pid) - before
    assert grown < 48 * 1024 * 1024, grown  # the object is 120 MB decompressed
