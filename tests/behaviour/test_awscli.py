"""The AWS CLI (v1, from the test virtualenv) against a real Pails server."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

AWS = str(Path(sys.executable).with_name("aws"))


@pytest.fixture
def aws(server, tmp_path):
    """Run ``aws --endpoint-url ... ARGS``; returns the CompletedProcess (check=True unless told)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=server.access_key, AWS_SECRET_ACCESS_KEY=server.secret_key,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "no-such-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-such-credentials"), AWS_PAGER="")

    def run(*args: str, check: bool = True, config: str | None = None, timeout: float = 120):
        e = dict(env)
        if config is not None:
            cfg = tmp_path / f"config-{uuid.uuid4().hex[:8]}"
            cfg.write_text(config)
            e["AWS_CONFIG_FILE"] = str(cfg)
        proc = subprocess.run([AWS, "--endpoint-url", server.endpoint, *args], env=e, capture_output=True,
                              text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run


@pytest.fixture
def cli_bucket(aws, s3):
    name = f"cli-{uuid.uuid4().hex[:16]}"
    yield name
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for o in page.get("Contents", []):
                s3.delete_object(Bucket=name, Key=o["Key"])
        s3.delete_bucket(Bucket=name)
    except Exception:
        pass


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_mb_ls_rb(aws, s3, cli_bucket):
    out = aws("s3", "mb", f"s3://{cli_bucket}").stdout
    assert f"make_bucket: {cli_bucket}" in out
    s3.head_bucket(Bucket=cli_bucket)
    assert cli_bucket in aws("s3", "ls").stdout
    out = aws("s3", "rb", f"s3://{cli_bucket}").stdout
    assert f"remove_bucket: {cli_bucket}" in out
    assert cli_bucket not in aws("s3", "ls").stdout


def test_cp_small_up_and_down(aws, s3, cli_bucket, tmp_path):
    aws("s3", "mb", f"s3://{cli_bucket}")
    src = tmp_path / "small.txt"
    src.write_bytes(os.urandom(1000) + b"small file\n")
    aws("s3", "cp", str(src), f"s3://{cli_bucket}/dir/small.txt")
    assert s3.get_object(Bucket=cli_bucket, Key="dir/small.txt")["Body"].read() == src.read_bytes()
    # the CLI guesses a Content-Type from the file name
    assert s3.head_object(Bucket=cli_bucket, Key="dir/small.txt")["ContentType"] == "text/plain"
    dst = tmp_path / "down.txt"
    aws("s3", "cp", f"s3://{cli_bucket}/dir/small.txt", str(dst))
    assert dst.read_bytes() == src.read_bytes()


def test_cp_12mib_file_single_put(aws, s3, cli_bucket, tmp_path):
    aws("s3", "mb", f"s3://{cli_bucket}")
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(12 * 1024 * 1024))
    config = "[default]\ns3 =\n  multipart_threshold = 64MB\n"
    aws("s3", "cp", str(src), f"s3://{cli_bucket}/big.bin", config=config)
    head = s3.head_object(Bucket=cli_bucket, Key="big.bin")
    assert head["ContentLength"] == 12 * 1024 * 1024
    assert head["ETag"] == f'"{hashlib.md5(src.read_bytes()).hexdigest()}"'
    dst = tmp_path / "big.down"
    aws("s3", "cp", f"s3://{cli_bucket}/big.bin", str(dst), config=config)
    assert _sha(dst) == _sha(src)


def test_cp_stdin_and_stdout(aws, server, s3, cli_bucket):
    aws("s3", "mb", f"s3://{cli_bucket}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=server.access_key, AWS_SECRET_ACCESS_KEY=server.secret_key,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/nonexistent/config",
               AWS_SHARED_CREDENTIALS_FILE="/nonexistent/credentials")
    subprocess.run([AWS, "--endpoint-url", server.endpoint, "s3", "cp", "-", f"s3://{cli_bucket}/piped"],
                   input=b"from stdin\n", env=env, check=True, capture_output=True, timeout=120)
    out = subprocess.run([AWS, "--endpoint-url", server.endpoint, "s3", "cp", f"s3://{cli_bucket}/piped", "-"],
                         env=env, check=True, capture_output=True, timeout=120).stdout
    assert out == b"from stdin\n"


def test_sync_up_and_back(aws, s3, cli_bucket, tmp_path):
    aws("s3", "mb", f"s3://{cli_bucket}")
    src = tmp_path / "src"
    files = {"a.txt": b"alpha", "b/c.bin": os.urandom(5000), "b/d/e f.txt": b"spaced name", "empty": b""}
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    out = aws("s3", "sync", str(src), f"s3://{cli_bucket}/backup").stdout
    assert out.count("upload:") == len(files)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=cli_bucket)["Contents"])
    assert keys == sorted(f"backup/{k}" for k in files)
    # a second sync has nothing to do
    assert "upload:" not in aws("s3", "sync", str(src), f"s3://{cli_bucket}/backup").stdout
    dst = tmp_path / "dst"
    out = aws("s3", "sync", f"s3://{cli_bucket}/backup", str(dst)).stdout
    assert out.count("download:") == len(files)
    for rel, data in files.items():
        assert (dst / rel).read_bytes() == data


def test_ls_objects_and_recursive(aws, s3, cli_bucket):
    aws("s3", "mb", f"s3://{cli_bucket}")
    for k in ("top.txt", "dir/one.txt", "dir/sub/two.txt"):
        s3.put_object(Bucket=cli_bucket, Key=k, Body=b"12345")
    out = aws("s3", "ls", f"s3://{cli_bucket}/").stdout
    lines = out.splitlines()
    assert any(line.strip() == "PRE dir/" for line in lines)
    assert any(line.endswith(" 5 top.txt") for line in lines)
    assert "one.txt" not in out
    out = aws("s3", "ls", "--recursive", f"s3://{cli_bucket}").stdout
    names = sorted(line.split()[-1] for line in out.splitlines() if line.strip())
    assert names == ["dir/one.txt", "dir/sub/two.txt", "top.txt"]
    out = aws("s3", "ls", f"s3://{cli_bucket}/dir/").stdout
    assert "PRE sub/" in out and "one.txt" in out


def test_ls_missing_bucket_fails(aws):
    proc = aws("s3", "ls", f"s3://missing-{uuid.uuid4().hex[:12]}", check=False)
    assert proc.returncode != 0
    assert "NoSuchBucket" in proc.stderr


def _tamper_signature(url: str) -> str:
    for name in ("X-Amz-Signature=", "Signature="):
        i = url.find(name)
        if i >= 0:
            j = i + len(name)
            return url[:j] + ("0" if url[j] != "0" else "1") + url[j + 1:]
    raise AssertionError(f"no signature in {url}")


@pytest.mark.parametrize("config", [None, "[default]\ns3 =\n  signature_version = s3v4\n"], ids=["default", "s3v4"])
def test_presign_and_tamper(aws, s3, cli_bucket, config):
    aws("s3", "mb", f"s3://{cli_bucket}")
    s3.put_object(Bucket=cli_bucket, Key="shared/file.txt", Body=b"presigned content")
    url = aws("s3", "presign", f"s3://{cli_bucket}/shared/file.txt", "--expires-in", "300",
              config=config).stdout.strip()
    assert url.startswith("http://127.0.0.1:")
    if config:
        assert "X-Amz-Signature=" in url
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert resp.status == 200
        assert resp.read() == b"presigned content"
    tampered = url.replace("shared/file.txt", "shared/other.txt")
    assert tampered != url
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(tampered, timeout=30)
    assert e.value.code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in e.value.read()
    bad_sig = _tamper_signature(url)
    assert bad_sig != url
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(bad_sig, timeout=30)
    assert e.value.code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in e.value.read()


def test_s3api_object_commands(aws, s3, cli_bucket, tmp_path):
    aws("s3api", "create-bucket", "--bucket", cli_bucket)
    body = tmp_path / "body.json"
    body.write_bytes(b'{"hello": "world"}')
    out = json.loads(aws("s3api", "put-object", "--bucket", cli_bucket, "--key", "doc.json", "--body", str(body),
                         "--content-type", "application/json", "--metadata", "owner=me,kind=doc").stdout)
    assert out["ETag"] == f'"{hashlib.md5(body.read_bytes()).hexdigest()}"'
    head = json.loads(aws("s3api", "head-object", "--bucket", cli_bucket, "--key", "doc.json").stdout)
    assert head["ContentLength"] == len(body.read_bytes())
    assert head["ContentType"] == "application/json"
    assert head["Metadata"] == {"owner": "me", "kind": "doc"}
    dst = tmp_path / "got.json"
    got = json.loads(aws("s3api", "get-object", "--bucket", cli_bucket, "--key", "doc.json", str(dst)).stdout)
    assert got["ETag"] == out["ETag"]
    assert dst.read_bytes() == body.read_bytes()
    listing = json.loads(aws("s3api", "list-objects-v2", "--bucket", cli_bucket).stdout)
    assert [o["Key"] for o in listing["Contents"]] == ["doc.json"]
    acl = json.loads(aws("s3api", "get-bucket-acl", "--bucket", cli_bucket).stdout)
    assert acl["Grants"][0]["Permission"] == "FULL_CONTROL"
    assert acl["Grants"][0]["Grantee"]["ID"] == acl["Owner"]["ID"]
    proc = aws("s3api", "head-object", "--bucket", cli_bucket, "--key", "missing", check=False)
    assert proc.returncode != 0 and "404" in proc.stderr


def test_s3api_get_object_range(aws, s3, cli_bucket, tmp_path):
    aws("s3", "mb", f"s3://{cli_bucket}")
    s3.put_object(Bucket=cli_bucket, Key="r", Body=b"0123456789")
    dst = tmp_path / "part"
    out = json.loads(aws("s3api", "get-object", "--bucket", cli_bucket, "--key", "r", "--range", "bytes=2-4",
                         str(dst)).stdout)
    assert out["ContentRange"] == "bytes 2-4/10"
    assert dst.read_bytes() == b"234"


def test_rm_recursive_then_rb(aws, s3, cli_bucket):
    aws("s3", "mb", f"s3://{cli_bucket}")
    keys = [f"p/{i}" for i in range(7)] + ["q/x", "root"]
    for k in keys:
        s3.put_object(Bucket=cli_bucket, Key=k, Body=b"x")
    proc = aws("s3", "rb", f"s3://{cli_bucket}", check=False)
    assert proc.returncode != 0 and "BucketNotEmpty" in proc.stderr
    out = aws("s3", "rm", "--recursive", f"s3://{cli_bucket}/p/").stdout
    assert out.count("delete:") == 7
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=cli_bucket)["Contents"]) == ["q/x", "root"]
    aws("s3", "rm", "--recursive", f"s3://{cli_bucket}")
    assert s3.list_objects_v2(Bucket=cli_bucket)["KeyCount"] == 0
    aws("s3", "rb", f"s3://{cli_bucket}")


def test_rb_force(aws, s3, cli_bucket):
    aws("s3", "mb", f"s3://{cli_bucket}")
    for k in ("a", "b/c"):
        s3.put_object(Bucket=cli_bucket, Key=k, Body=b"x")
    aws("s3", "rb", "--force", f"s3://{cli_bucket}")
    assert cli_bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_mv_upload(aws, s3, cli_bucket, tmp_path):
    """Upload with mv: the local file goes away."""
    aws("s3", "mb", f"s3://{cli_bucket}")
    src = tmp_path / "moveme.txt"
    src.write_bytes(b"moving")
    aws("s3", "mv", str(src), f"s3://{cli_bucket}/moved.txt")
    assert not src.exists()
    assert s3.get_object(Bucket=cli_bucket, Key="moved.txt")["Body"].read() == b"moving"


def test_wrong_secret_fails(server, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=server.access_key, AWS_SECRET_ACCESS_KEY="wrong-secret",
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "c"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "s"))
    proc = subprocess.run([AWS, "--endpoint-url", server.endpoint, "s3", "ls"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    assert "SignatureDoesNotMatch" in proc.stderr
