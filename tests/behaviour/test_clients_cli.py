"""Command-line S3 clients (rclone, s3cmd) against a real Pails server, with their default settings.

``make test`` installs both: s3cmd from PyPI into the test virtualenv, rclone with apt-get when it
runs as root. Only a non-root run without rclone on the PATH skips the rclone tests (with the reason).
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

MiB = 1024 * 1024


def _write(path: Path, size: int, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _parts(s3, bucket: str, key: str) -> int:
    """Number of parts of a stored object per its ETag (0 for a single PUT)."""
    etag = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    return int(etag.split("-")[1]) if "-" in etag else 0


def _objects(s3, bucket: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        out.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    return out


def _run(cmd: list[str], env: dict[str, str], check: bool = True, timeout: float = 180):
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, errors="replace", timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("AWS_", "RCLONE_", "S3CMD")) and k not in ("HTTP_PROXY", "http_proxy")}


@pytest.fixture
def fresh_bucket(s3):
    """A bucket name the client itself creates; removed afterwards whatever happened."""
    name = f"cli-{uuid.uuid4().hex[:16]}"
    yield name
    try:
        for key in _objects(s3, name):
            s3.delete_object(Bucket=name, Key=key)
        s3.delete_bucket(Bucket=name)
    except Exception:
        pass


# --------------------------------------------------------------------------------------------- rclone


@pytest.fixture
def rclone(server, tmp_path):
    exe = shutil.which("rclone")
    if exe is None:
        if os.geteuid() == 0:
            pytest.fail("rclone is not installed; `make test` installs it as root with `apt-get install -y rclone`")
        pytest.skip("rclone is not installed and this is not root: install it with `sudo apt-get install rclone`")
    conf = tmp_path / "rclone.conf"
    conf.write_text("")
    env = _clean_env()
    env.update(RCLONE_CONFIG=str(conf), RCLONE_CONFIG_PAILS_TYPE="s3", RCLONE_CONFIG_PAILS_PROVIDER="Other",
               RCLONE_CONFIG_PAILS_ACCESS_KEY_ID=server.access_key,
               RCLONE_CONFIG_PAILS_SECRET_ACCESS_KEY=server.secret_key,
               RCLONE_CONFIG_PAILS_ENDPOINT=server.endpoint, RCLONE_CONFIG_PAILS_REGION="us-east-1")

    def run(*args: str, check: bool = True):
        # The upload cutoff (200 MiB by default) is lowered so a 12 MiB file takes rclone's multipart path.
        return _run([exe, "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", *args], env, check=check)

    return run


def test_rclone_copy_sync_check_ls(rclone, s3, fresh_bucket, tmp_path):
    src = tmp_path / "src"
    big = _write(src / "big.bin", 12 * MiB + 5, 1)
    for i in range(5):
        _write(src / f"small-{i}.txt", 100 + i * 1000, 10 + i)
    _write(src / "nested" / "deep" / "file.dat", 70_000, 20)
    (src / "empty.txt").write_bytes(b"")

    # copy creates the bucket (rclone's default bucket check) and uploads everything.
    rclone("copy", str(src), f"pails:{fresh_bucket}/tree")
    stored = _objects(s3, fresh_bucket)
    assert stored == {f"tree/{p.relative_to(src).as_posix()}": p.stat().st_size
                      for p in src.rglob("*") if p.is_file()}
    assert _parts(s3, fresh_bucket, "tree/big.bin") == 3
    assert _parts(s3, fresh_bucket, "tree/small-0.txt") == 0

    rclone("check", str(src), f"pails:{fresh_bucket}/tree")  # sizes and hashes (MD5 metadata for multipart)

    ls = rclone("ls", f"pails:{fresh_bucket}").stdout
    listed = {line.split(maxsplit=1)[1]: int(line.split(maxsplit=1)[0]) for line in ls.splitlines() if line.strip()}
    assert listed == stored
    assert "tree/" in rclone("lsf", f"pails:{fresh_bucket}").stdout.split()
    assert fresh_bucket in rclone("lsd", "pails:").stdout

    # Nothing changed: a second copy transfers nothing.
    again = rclone("copy", "-v", str(src), f"pails:{fresh_bucket}/tree")
    assert "Transferred:" in again.stderr and "Copied (new)" not in again.stderr

    # sync makes the destination match: one file changed, one removed, one added.
    _write(src / "small-1.txt", 4321, 99)
    (src / "small-2.txt").unlink()
    (src / "added.txt").write_text("added by sync\n")
    rclone("sync", str(src), f"pails:{fresh_bucket}/tree")
    rclone("check", str(src), f"pails:{fresh_bucket}/tree")
    stored = _objects(s3, fresh_bucket)
    assert "tree/small-2.txt" not in stored and stored["tree/small-1.txt"] == 4321 and "tree/added.txt" in stored

    # And back down again, byte for byte.
    dst = tmp_path / "dst"
    rclone("copy", f"pails:{fresh_bucket}/tree", str(dst))
    rclone("check", str(src), str(dst))
    assert (dst / "big.bin").read_bytes() == big.read_bytes()

    # A check that must find a difference.
    _write(src / "small-3.txt", 5, 101)
    assert rclone("check", str(src), f"pails:{fresh_bucket}/tree", check=False).returncode != 0

    assert rclone("cat", f"pails:{fresh_bucket}/tree/added.txt").stdout == "added by sync\n"
    rclone("deletefile", f"pails:{fresh_bucket}/tree/added.txt")
    assert "tree/added.txt" not in _objects(s3, fresh_bucket)
    rclone("purge", f"pails:{fresh_bucket}")
    assert fresh_bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


# --------------------------------------------------------------------------------------------- s3cmd


@pytest.fixture
def s3cmd(server, tmp_path):
    exe = Path(sys.executable).with_name("s3cmd")
    assert exe.exists(), "s3cmd is a test extra (pyproject.toml): reinstall with `make test`"
    cfg = tmp_path / "s3cfg"
    cfg.write_text("[default]\n"
                   f"access_key = {server.access_key}\n"
                   f"secret_key = {server.secret_key}\n"
                   f"host_base = 127.0.0.1:{server.port}\n"
                   f"host_bucket = 127.0.0.1:{server.port}\n"
                   "use_https = False\n")
    env = _clean_env()
    env["HOME"] = str(tmp_path)  # no ~/.s3cfg of the machine

    def run(*args: str, check: bool = True):
        return _run([sys.executable, str(exe), "-c", str(cfg), *args], env, check=check)

    return run


def test_s3cmd_put_get_sync_info_ls_del_signurl(s3cmd, s3, fresh_bucket, tmp_path):
    b = fresh_bucket
    s3cmd("mb", f"s3://{b}")
    assert b in [x["Name"] for x in s3.list_buckets()["Buckets"]]

    small = tmp_path / "hello.txt"
    small.write_bytes(b"hello s3cmd\n")
    s3cmd("put", str(small), f"s3://{b}/docs/hello.txt")
    # Larger than the 15 MiB default multipart chunk: uploaded in two parts.
    big = _write(tmp_path / "big.bin", 16 * MiB + 3, 2)
    s3cmd("put", str(big), f"s3://{b}/docs/big.bin")
    assert _parts(s3, b, "docs/big.bin") == 2
    assert _parts(s3, b, "docs/hello.txt") == 0

    s3cmd("get", str(f"s3://{b}/docs/big.bin"), str(tmp_path / "big.out"))
    assert (tmp_path / "big.out").read_bytes() == big.read_bytes()
    s3cmd("get", "--force", f"s3://{b}/docs/hello.txt", str(tmp_path / "hello.out"))
    assert (tmp_path / "hello.out").read_bytes() == b"hello s3cmd\n"

    info = s3cmd("info", f"s3://{b}/docs/hello.txt").stdout
    assert "File size: 12" in info and _md5(b"hello s3cmd\n") in info, info
    big_info = s3cmd("info", f"s3://{b}/docs/big.bin").stdout
    # s3cmd stores the whole file's MD5 as metadata (x-amz-meta-s3cmd-attrs) and shows it for a multipart ETag.
    assert f"File size: {16 * MiB + 3}" in big_info and _md5(big.read_bytes()) in big_info, big_info
    assert f"s3://{b}/" in s3cmd("info", f"s3://{b}").stdout

    ls = s3cmd("ls", f"s3://{b}/").stdout
    assert f"DIR  s3://{b}/docs/" in " ".join(ls.split()) or f"s3://{b}/docs/" in ls, ls
    rls = s3cmd("ls", "--recursive", f"s3://{b}").stdout
    assert f"s3://{b}/docs/hello.txt" in rls and f"s3://{b}/docs/big.bin" in rls, rls
    assert f"s3://{b}" in s3cmd("ls").stdout

    # signurl (a query-string signed GET) fetched without credentials.
    url = s3cmd("signurl", f"s3://{b}/docs/hello.txt", "+600").stdout.strip()
    assert url.startswith("http://127.0.0.1:"), url
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.status == 200 and r.read() == b"hello s3cmd\n"

    # sync up, change things, sync again with deletions, then sync back down.
    tree = tmp_path / "tree"
    for i in range(4):
        _write(tree / f"f{i}.txt", 50 + i, 30 + i)
    _write(tree / "sub" / "g.bin", 3000, 40)
    s3cmd("sync", f"{tree}/", f"s3://{b}/sync/")
    assert {k: v for k, v in _objects(s3, b).items() if k.startswith("sync/")} == {
        f"sync/{p.relative_to(tree).as_posix()}": p.stat().st_size for p in tree.rglob("*") if p.is_file()}
    (tree / "f0.txt").unlink()
    _write(tree / "f1.txt", 77, 50)
    s3cmd("sync", "--delete-removed", f"{tree}/", f"s3://{b}/sync/")
    stored = _objects(s3, b)
    assert "sync/f0.txt" not in stored and stored["sync/f1.txt"] == 77
    down = tmp_path / "down"
    down.mkdir()
    s3cmd("sync", f"s3://{b}/sync/", f"{down}/")
    assert sorted(p.relative_to(down).as_posix() for p in down.rglob("*") if p.is_file()) == [
        "f1.txt", "f2.txt", "f3.txt", "sub/g.bin"]
    assert (down / "sub" / "g.bin").read_bytes() == (tree / "sub" / "g.bin").read_bytes()
    assert (down / "f1.txt").read_bytes() == (tree / "f1.txt").read_bytes()

    s3cmd("cp", f"s3://{b}/docs/hello.txt", f"s3://{b}/docs/copy.txt")
    assert s3.get_object(Bucket=b, Key="docs/copy.txt")["Body"].read() == b"hello s3cmd\n"

    s3cmd("del", f"s3://{b}/docs/hello.txt")
    assert "docs/hello.txt" not in _objects(s3, b)
    missing = s3cmd("info", f"s3://{b}/docs/hello.txt", check=False)
    assert missing.returncode != 0
    s3cmd("del", "--recursive", "--force", f"s3://{b}/")
    assert _objects(s3, b) == {}
    s3cmd("rb", f"s3://{b}")
    assert b not in [x["Name"] for x in s3.list_buckets()["Buckets"]]
