"""restic (the Debian package) backs up into Pails with its defaults: init,
two backups, ``check --read-data``, ``forget --keep-last 1 --prune`` and a
restore compared byte for byte, into a versioned bucket and into a bucket
created with Object Lock and a default retention (GOVERNANCE, 1 day).

What to expect of the locked bucket: restic deletes without version ids, so
each delete of prune (packs, indexes, locks) only puts a delete marker on
top and succeeds; the versions under them stay, still under their
retention, and cannot be removed without bypassing governance.  That is
the point of backing up into such a bucket: a client holding the keys
(ransomware) can hide data, not destroy it.

``make test`` installs restic with apt-get when it runs as root; otherwise
the tests are skipped with the reason."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

MiB = 1024 * 1024


@pytest.fixture
def restic(server, tmp_path):
    exe = shutil.which("restic")
    if exe is None:
        if os.geteuid() == 0:
            pytest.fail("restic is not installed; `make test` installs it as root with `apt-get install -y restic`")
        pytest.skip("restic is not installed and this is not root: install it with `sudo apt-get install restic`")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RESTIC_"))}
    env.update(AWS_ACCESS_KEY_ID=server.access_key, AWS_SECRET_ACCESS_KEY=server.secret_key,
               AWS_DEFAULT_REGION="us-east-1", RESTIC_PASSWORD="pails-test", RESTIC_CACHE_DIR=str(tmp_path / "cache"))

    def run(repo: str, *args: str) -> str:
        cmd = [exe, "-r", f"s3:{server.endpoint}/{repo}", "-o", "s3.bucket-lookup=path", *args]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, errors="replace", timeout=300,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    return run


def _tree(root: Path, seed: int) -> None:
    """Files of several sizes (inline, data files, a few MiB), some shared between runs."""
    rnd = random.Random(seed)
    for i in range(30):
        size = rnd.choice([0, 100, 5000, 70 * 1024, 300 * 1024])
        path = root / f"d{i % 4}" / f"f{i}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rnd.randbytes(size))
    (root / "big.bin").write_bytes(rnd.randbytes(6 * MiB + 7))


def _same_tree(a: Path, b: Path) -> None:
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def _versions(s3, bucket: str) -> tuple[dict[tuple[str, str], bool], dict[str, str]]:
    """((key, version id) -> is latest) of every version, and key -> id of each current delete marker."""
    versions: dict[tuple[str, str], bool] = {}
    markers: dict[str, str] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            versions[(v["Key"], v["VersionId"])] = v["IsLatest"]
        for m in page.get("DeleteMarkers", []):
            if m["IsLatest"]:
                markers[m["Key"]] = m["VersionId"]
    return versions, markers


@pytest.mark.parametrize("kind", ["locked", "versioned"])
def test_restic_backup_check_prune_restore(restic, s3, tmp_path: Path, kind: str) -> None:
    bucket = f"restic-{uuid.uuid4().hex[:12]}"
    if kind == "locked":
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    else:
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    repo = f"{bucket}/repo"
    src = tmp_path / "src"
    _tree(src, 1)
    restic(repo, "init")
    restic(repo, "backup", "--host", "pails", str(src))
    # The second snapshot changes most files, so the first one's packs become garbage for prune.
    shutil.rmtree(src)
    _tree(src, 2)
    restic(repo, "backup", "--host", "pails", str(src))
    restic(repo, "check", "--read-data")
    before, _ = _versions(s3, bucket)

    restic(repo, "forget", "--keep-last", "1", "--prune")
    restic(repo, "check", "--read-data")
    assert len(json.loads(restic(repo, "snapshots", "--json"))) == 1
    out = tmp_path / "restored"
    restic(repo, "restore", "latest", "--target", str(out))
    _same_tree(src, out / src.relative_to("/"))

    after, markers = _versions(s3, bucket)
    pruned = [key for key in markers if key.startswith("repo/data/")]
    assert pruned, "prune deleted no pack"
    # Every version written stays (the deletes only put markers on top) ...
    assert set(before) <= set(after)
    if kind == "locked":
        # ... under its retention: no one removes it without bypassing governance.
        key = pruned[0]
        version = next(v for (k, v) in after if k == key)
        head = s3.head_object(Bucket=bucket, Key=key, VersionId=version)
        assert head["ObjectLockMode"] == "GOVERNANCE"
        with pytest.raises(ClientError) as exc:
            s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
        assert exc.value.response["Error"]["Code"] == "AccessDenied"
