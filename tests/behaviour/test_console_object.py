"""The console's object page (docs/console.md) in headless Chromium against a
real server: what HEAD says about an object, its metadata replaced by a copy
onto itself, its tags, its retention and legal hold (the bypass a GOVERNANCE
removal needs), and the same for one version; every change checked with boto3.

Needs Debian's ``chromium`` and the ``playwright`` package (skipped without them).
"""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.behaviour.test_console import _login, page, shots  # noqa: F401 - fixtures
from tests.behaviour.test_cors_browser import browser  # noqa: F401 - a fixture


def _open(page: Any, server: Any, hash_: str) -> None:  # noqa: F811 - page is the fixture's value
    _login(page, server, server.access_key, server.secret_key)
    page.wait_for_selector("#buckets")  # the dashboard: logged in
    page.goto(server.admin_endpoint + "/console/" + hash_)


def _click(page: Any, selector: str) -> None:  # noqa: F811
    """Click, with the status line emptied first (so _status waits for what this click says)."""
    page.evaluate("() => { const s = document.getElementById('status'); s.textContent = ''; s.className = ''; }")
    page.click(selector)


def _shoot(page: Any, shots: list[Path], name: str) -> None:  # noqa: F811
    """The whole page (it is longer than the window), without the status line."""
    page.evaluate("() => { document.getElementById('status').className = ''; }")
    page.wait_for_load_state("networkidle")
    first = shots[0] / f"{name}.png"
    page.screenshot(path=str(first), type="png", full_page=True)
    for directory in shots[1:]:
        shutil.copyfile(first, directory / f"{name}.png")


def _status(page: Any, wanted: str, error: bool = False) -> str:  # noqa: F811
    """The status line once it says ``wanted`` (failing at once on an error the test did not expect)."""
    page.wait_for_function("([wanted, error]) => { const s = document.getElementById('status'); "
                           "return s.textContent.includes(wanted) || (!error && s.classList.contains('error')); }",
                           arg=[wanted, error])
    said = page.inner_text("#status")
    assert wanted in said and page.locator("#status.error").count() == error, said
    return said


def _pair(page: Any, box: str, name: str) -> Any:  # noqa: F811
    """The row of a key/value editor whose first input holds ``name``."""
    rows = page.locator(f"{box} .pair")
    for i in range(rows.count()):
        if rows.nth(i).locator("input").first.input_value() == name:
            return rows.nth(i)
    raise AssertionError(f"no row {name} in {box}")


def test_object_page_metadata_and_tags(page, server, s3, bucket, shots) -> None:  # noqa: F811
    key = "reports/q3 summary?#ü.txt"  # the router decodes what the link encodes
    s3.put_object(Bucket=bucket, Key=key, Body=b"quarterly numbers", ContentType="text/plain",
                  CacheControl="max-age=60", ContentLanguage="en", Metadata={"owner": "alice", "stage": "draft"},
                  Tagging="team=finance&year=2026", ServerSideEncryption="AES256", ChecksumAlgorithm="CRC32")
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    _open(page, server, f"#/objects/{bucket}/reports%2F")
    page.click("#objects >> text=q3 summary?#ü.txt")  # the row's link
    page.wait_for_selector("#facts")
    facts = page.inner_text("#facts")
    for fact in (key, "17 bytes", head["ETag"], "text/plain", "max-age=60", "AES256", f"CRC32 {head['ChecksumCRC32']}",
                 "x-amz-meta-owner\talice", "x-amz-meta-stage\tdraft", "STANDARD"):
        assert fact in facts, (fact, facts)
    assert page.inner_text("#lock") == "The bucket has no object lock."
    assert _pair(page, "#tag-rows", "team").locator("input").nth(1).input_value() == "finance"
    _shoot(page, shots, "object")

    # Metadata: change the type and one value, add one, remove one (a copy onto itself with REPLACE).
    page.fill("#metadata input[name=content-type]", "text/markdown")
    page.fill("#metadata input[name=cache-control]", "")
    _pair(page, "#user-meta", "owner").locator("input").nth(1).fill("bob")
    _pair(page, "#user-meta", "stage").locator("button").click()
    page.click("#metadata >> text=Add")
    page.locator("#user-meta .pair").last.locator("input").first.fill("Reviewed")
    page.locator("#user-meta .pair").last.locator("input").nth(1).fill("yes")
    _click(page, "#metadata >> text=Save metadata")
    _status(page, "metadata saved")
    after = s3.head_object(Bucket=bucket, Key=key)
    assert after["Metadata"] == {"owner": "bob", "reviewed": "yes"}
    assert after["ContentType"] == "text/markdown" and "CacheControl" not in after
    assert after["ContentLanguage"] == "en" and after["ServerSideEncryption"] == "AES256"  # kept
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"quarterly numbers"
    tags = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "finance", "year": "2026"}  # the copy keeps them
    page.wait_for_selector("#facts >> text=x-amz-meta-reviewed")

    # Tags: change one, remove one, add one (with the punctuation S3 allows in tags).
    _pair(page, "#tag-rows", "team").locator("input").nth(1).fill("audit")
    _pair(page, "#tag-rows", "year").locator("button").click()
    page.click("#tags >> text=Add")
    page.locator("#tag-rows .pair").last.locator("input").first.fill("note")
    page.locator("#tag-rows .pair").last.locator("input").nth(1).fill("Q3 + Q4: a/b@c")
    _click(page, "#tags >> text=Save tags")
    _status(page, "2 tags saved")
    tags = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "audit", "note": "Q3 + Q4: a/b@c"}
    page.wait_for_selector("#tag-rows .pair >> nth=1")
    for name in ("team", "note"):
        _pair(page, "#tag-rows", name).locator("button").click()
    _click(page, "#tags >> text=Save tags")
    _status(page, "tags removed")
    assert s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"] == []

    # A value a header cannot carry is refused in the page, and nothing changes.
    _pair(page, "#user-meta", "owner").locator("input").nth(1).fill("Zoë ☃")
    _click(page, "#metadata >> text=Save metadata")
    _status(page, "not sent", error=True)
    assert s3.head_object(Bucket=bucket, Key=key)["Metadata"]["owner"] == "bob"


@pytest.fixture
def locked_bucket(s3) -> Any:
    name = f"lock-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    yield name
    listed = s3.list_object_versions(Bucket=name)
    for v in listed.get("Versions", []) + listed.get("DeleteMarkers", []):
        if "Size" in v:  # a version, not a delete marker
            s3.put_object_legal_hold(Bucket=name, Key=v["Key"], VersionId=v["VersionId"], LegalHold={"Status": "OFF"})
        s3.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"], BypassGovernanceRetention=True)
    s3.delete_bucket(Bucket=name)


def _local(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M")  # the datetime-local field, read as UTC by the page


def test_retention_and_legal_hold(page, server, s3, locked_bucket, shots) -> None:  # noqa: F811
    key = "contract.pdf"
    version = s3.put_object(Bucket=locked_bucket, Key=key, Body=b"%PDF signed")["VersionId"]
    _open(page, server, f"#/object/{locked_bucket}/{key}")
    page.wait_for_selector("#retention-now")
    assert page.inner_text("#retention-now") == "none" and page.inner_text("#legal-hold") == "OFF"

    until = (datetime.now(UTC) + timedelta(days=2)).replace(second=0, microsecond=0)
    page.select_option("#retention select[name=mode]", "GOVERNANCE")
    page.fill("#retention input[name=until]", _local(until))
    page.click("#retention >> text=Set retention")
    page.wait_for_selector("#retention-now:has-text('GOVERNANCE')")
    got = s3.get_object_retention(Bucket=locked_bucket, Key=key, VersionId=version)["Retention"]
    assert got["Mode"] == "GOVERNANCE" and got["RetainUntilDate"] == until

    page.click("#legal-hold-toggle")
    page.wait_for_selector("#legal-hold:text-is('ON')")
    assert s3.get_object_legal_hold(Bucket=locked_bucket, Key=key)["LegalHold"]["Status"] == "ON"
    _shoot(page, shots, "object-lock")

    # Shortening or removing GOVERNANCE retention needs the bypass: S3 refuses, the page says so.
    _click(page, "#remove-retention")
    assert "AccessDenied" in _status(page, "AccessDenied", error=True)
    assert s3.get_object_retention(Bucket=locked_bucket, Key=key)["Retention"]["Mode"] == "GOVERNANCE"
    later = until + timedelta(days=1)  # extending needs no bypass
    page.fill("#retention input[name=until]", _local(later))
    _click(page, "#retention >> text=Set retention")
    _status(page, "retention saved")
    assert s3.get_object_retention(Bucket=locked_bucket, Key=key)["Retention"]["RetainUntilDate"] == later
    page.check("#retention input[name=bypass]")
    _click(page, "#remove-retention")
    page.wait_for_selector("#retention-now:text-is('none')")
    with pytest.raises(ClientError) as gone:
        s3.get_object_retention(Bucket=locked_bucket, Key=key)
    assert gone.value.response["Error"]["Code"] == "NoSuchObjectLockConfiguration"

    page.click("#legal-hold-toggle")
    page.wait_for_selector("#legal-hold:text-is('OFF')")
    assert s3.get_object_legal_hold(Bucket=locked_bucket, Key=key)["LegalHold"]["Status"] == "OFF"


def test_a_versions_page(page, server, s3, locked_bucket, shots) -> None:  # noqa: F811
    key = "notes/plan.txt"
    old = s3.put_object(Bucket=locked_bucket, Key=key, Body=b"first plan", Metadata={"rev": "1"})["VersionId"]
    new = s3.put_object(Bucket=locked_bucket, Key=key, Body=b"second plan", Metadata={"rev": "2"})["VersionId"]
    _open(page, server, f"#/versions/{locked_bucket}/notes%2F")
    page.wait_for_selector("#versions")
    page.click("#versions tr:not(:has-text('latest')) >> a:has-text('plan.txt')")  # the older version's link
    page.wait_for_selector("h1:text-is('Object version')")
    facts = page.inner_text("#facts")
    assert old in facts and "10 bytes" in facts and "x-amz-meta-rev\t1" in facts
    assert "does not change" in page.inner_text("main")  # no metadata form for a stored version
    assert page.locator("#metadata").count() == 0

    page.click("#tags >> text=Add")
    page.locator("#tag-rows .pair").last.locator("input").first.fill("superseded")
    page.locator("#tag-rows .pair").last.locator("input").nth(1).fill("true")
    _click(page, "#tags >> text=Save tags")
    _status(page, "1 tag saved")
    assert s3.get_object_tagging(Bucket=locked_bucket, Key=key, VersionId=old)["TagSet"] == [
        {"Key": "superseded", "Value": "true"}]
    assert s3.get_object_tagging(Bucket=locked_bucket, Key=key, VersionId=new)["TagSet"] == []
    page.click("#legal-hold-toggle")
    page.wait_for_selector("#legal-hold:text-is('ON')")
    assert s3.get_object_legal_hold(Bucket=locked_bucket, Key=key, VersionId=old)["LegalHold"]["Status"] == "ON"
    with pytest.raises(ClientError):
        s3.get_object_legal_hold(Bucket=locked_bucket, Key=key, VersionId=new)
    _shoot(page, shots, "object-version")

    # The latest version's page edits its metadata: a copy, so a new version.
    page.click(".crumbs >> text=Latest")
    page.wait_for_selector("h1:text-is('Object')")
    _pair(page, "#user-meta", "rev").locator("input").nth(1).fill("3")
    _click(page, "#metadata >> text=Save metadata")
    _status(page, "metadata saved")
    listed = s3.list_object_versions(Bucket=locked_bucket, Prefix=key)["Versions"]
    assert len(listed) == 3 and s3.head_object(Bucket=locked_bucket, Key=key)["Metadata"] == {"rev": "3"}
    assert s3.get_object(Bucket=locked_bucket, Key=key)["Body"].read() == b"second plan"


def test_upload_continues_an_unfinished_one(page, server, s3, bucket, shots) -> None:  # noqa: F811
    part = 16 * 1024 * 1024  # the console's part size
    size = part + 1024 * 1024
    ours = s3.create_multipart_upload(Bucket=bucket, Key="big.bin", ChecksumAlgorithm="CRC32")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="big.bin", UploadId=ours, PartNumber=1, Body=b"\x07" * part,
                   ChecksumAlgorithm="CRC32")  # the first part of the file dropped below, then the page went away
    other = s3.create_multipart_upload(Bucket=bucket, Key="big.bin", ChecksumAlgorithm="CRC32")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="big.bin", UploadId=other, PartNumber=1, Body=b"\x08" * part,
                   ChecksumAlgorithm="CRC32")  # the same name and size, other bytes: not continued
    s3.create_multipart_upload(Bucket=bucket, Key="notes.txt")
    _open(page, server, f"#/objects/{bucket}/")
    page.wait_for_selector("#uploads")
    assert page.locator("#uploads tr").count() == 3
    _shoot(page, shots, "uploads")

    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "partNumber=" in r.url else None)
    page.evaluate("""(size) => { const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(size).fill(7)], 'big.bin')); window.bigDrop = dt; }""", size)
    page.evaluate("() => { const s = document.getElementById('status'); s.textContent = ''; s.className = ''; }")
    page.dispatch_event("#drop", "drop", {"dataTransfer": page.evaluate_handle("window.bigDrop")})
    _status(page, "uploaded 1 file (continued an unfinished upload: 1 part was there)")
    assert len(sent) == 1 and "partNumber=2" in sent[0] and f"uploadId={ours}" in sent[0], sent
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == size and head["ETag"].endswith('-2"')
    body = s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read()
    assert body == b"\x07" * size

    left = {u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]}
    assert ours not in left and other in left and len(left) == 2
    page.on("dialog", lambda dialog: dialog.accept())
    for _ in range(2):
        count = page.locator("#uploads tr").count()
        _click(page, "#uploads tr >> nth=0 >> button:has-text('Abort')")
        _status(page, "aborted the upload of")
        assert page.locator("#uploads tr").count() == count - 1
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
