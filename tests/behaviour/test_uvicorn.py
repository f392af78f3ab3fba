"""The same ASGI application runs under uvicorn."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3

from tests.pails_server import free_port, wait_for_port


def test_uvicorn_serves_the_app(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    user = json.loads(subprocess.run(
        [sys.executable, "-m", "pails", "user", "add", "alice", "--data", str(data), "--json"],
        check=True, capture_output=True, text=True).stdout)
    port = free_port()
    env = dict(os.environ, PAILS_DATA_DIR=str(data))
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "pails.http.app:app", "--port", str(port),
                             "--log-level", "warning"], env=env)
    try:
        wait_for_port(port)
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                          aws_access_key_id=user["access_key"], aws_secret_access_key=user["secret_key"])
        s3.create_bucket(Bucket="under-uvicorn")
        s3.put_object(Bucket="under-uvicorn", Key="k", Body=b"x" * 100_000)
        assert s3.get_object(Bucket="under-uvicorn", Key="k")["Body"].read() == b"x" * 100_000
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="under-uvicorn")["Contents"]] == ["k"]
        # a streamed (chunked) body: S3 Select's event stream
        s3.put_object(Bucket="under-uvicorn", Key="c.csv", Body=b"a,1\nb,2\n")
        r = s3.select_object_content(Bucket="under-uvicorn", Key="c.csv", ExpressionType="SQL",
                                     Expression="SELECT SUM(CAST(_2 AS INT)) FROM S3Object",
                                     InputSerialization={"CSV": {}}, OutputSerialization={"CSV": {}})
        assert [e["Records"]["Payload"] for e in r["Payload"] if "Records" in e] == [b"3\n"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
