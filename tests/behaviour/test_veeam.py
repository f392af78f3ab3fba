"""Veeam's Smart Object Storage API (docs/backups.md): a bucket made the way
Veeam wants it (object lock at creation) serves system.xml and capacity.xml
once the operator turns it on, capacity follows the quota and the writes."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

from tests.behaviour.test_quota import pails, set_quota

FOLDER = ".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/"


def _xml(s3, bucket: str, name: str) -> ET.Element:
    got = s3.get_object(Bucket=bucket, Key=FOLDER + name)
    assert got["ContentType"] == "application/xml"
    head = s3.head_object(Bucket=bucket, Key=FOLDER + name)
    assert head["ContentLength"] == got["ContentLength"]
    return ET.fromstring(got["Body"].read())


def _capacity(s3, bucket: str) -> dict[str, int]:
    root = _xml(s3, bucket, "capacity.xml")
    assert root.tag == "CapacityInfo"
    return {child.tag: int(child.text or "") for child in root}


@pytest.fixture
def veeam_bucket(server, s3):
    name = f"veeam-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    yield name
    versions = s3.list_object_versions(Bucket=name)
    items = [{"Key": v["Key"], "VersionId": v["VersionId"]}
             for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])]
    if items:
        s3.delete_objects(Bucket=name, Delete={"Objects": items})
    s3.delete_bucket(Bucket=name)


def test_sosapi_objects_are_served_once_turned_on(server, s3, veeam_bucket):
    bucket = veeam_bucket
    with pytest.raises(ClientError) as err:  # off by default: an ordinary missing key
        s3.get_object(Bucket=bucket, Key=FOLDER + "system.xml")
    assert err.value.response["Error"]["Code"] == "NoSuchKey"
    out = pails(server, "bucket", "veeam", bucket, "on")
    assert out.returncode == 0, out.stderr
    system = _xml(s3, bucket, "system.xml")
    assert system.tag == "SystemInfo"
    assert system.findtext("ProtocolVersion") == '"1.0"'  # with its quotes: Veeam wants them
    assert system.findtext("ModelName") == '"Pails"'
    caps = system.find("ProtocolCapabilities")
    assert caps is not None
    assert {c.tag: c.text for c in caps} == {"CapacityInfo": "true", "UploadSessions": "false", "IAMSTS": "false"}
    # Without a quota: the filesystem of the data directory.
    fs = _capacity(s3, bucket)
    assert fs["Capacity"] > 0 and fs["Capacity"] == fs["Available"] + fs["Used"]
    # With one: the quota and what the bucket stores (every version).
    set_quota(server, bucket, "--max-bytes", "1MiB")
    assert _capacity(s3, bucket) == {"Capacity": 1 << 20, "Available": 1 << 20, "Used": 0}
    s3.put_object(Bucket=bucket, Key="Veeam/Backup/block", Body=b"b" * 70_000)
    s3.put_object(Bucket=bucket, Key="Veeam/Backup/block", Body=b"c" * 30_000)
    assert _capacity(s3, bucket) == {"Capacity": 1 << 20, "Available": (1 << 20) - 100_000, "Used": 100_000}
    # Not listed; Veeam reads them by name.
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=FOLDER)
    # An object the operator PUT there wins.
    s3.put_object(Bucket=bucket, Key=FOLDER + "system.xml", Body=b"<SystemInfo>mine</SystemInfo>")
    assert s3.get_object(Bucket=bucket, Key=FOLDER + "system.xml")["Body"].read() == b"<SystemInfo>mine</SystemInfo>"
    assert pails(server, "bucket", "veeam", bucket, "off").returncode == 0
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket=bucket, Key=FOLDER + "capacity.xml")
    assert err.value.response["Error"]["Code"] == "404"


def test_sosapi_objects_need_read_access(server, s3, alt_s3, veeam_bucket):
    assert pails(server, "bucket", "veeam", veeam_bucket, "on").returncode == 0
    with pytest.raises(ClientError) as err:
        alt_s3.get_object(Bucket=veeam_bucket, Key=FOLDER + "capacity.xml")
    assert err.value.response["Error"]["Code"] == "AccessDenied"
