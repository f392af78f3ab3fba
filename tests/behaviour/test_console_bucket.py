"""The console's bucket settings (docs/console.md): creating a bucket with
object lock, and the bucket page's tabs (object lock and default retention,
lifecycle, CORS, policy, tags, default encryption) in headless Chromium,
each change checked with boto3; and the policy checker
(static/policy-check.js) run in the browser against the server's own parser.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pails.access import policy as policies
from pails.errors import S3Error
from tests.behaviour.test_console import _login, _shoot, page, shots  # noqa: F401 - fixtures
from tests.behaviour.test_cors_browser import browser  # noqa: F401 - fixture
from tests.pails_server import Server


def _code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]["Code"]


def _said(pg: Any, message: str) -> None:
    pg.wait_for_selector(f"#status:has-text({json.dumps(message)})")


def _tab(pg: Any, name: str, ready: str) -> None:
    pg.click(f"#tab-{name}")
    pg.wait_for_selector(ready)


def _shoot_settings(pg: Any, into: list[Path], name: str) -> None:
    """A screenshot with the settings tabs at the top (the page's head is in bucket-lock.png)."""
    shown = pg.inner_text("#settings")
    assert "null" not in shown and "undefined" not in shown and "[object" not in shown
    pg.evaluate("document.getElementById('bucket-settings').scrollIntoView()")
    _shoot(pg, into, name)


def _rule(pg: Any, index: int, **values: str) -> None:
    base = f"#lifecycle-rules fieldset >> nth={index} >> "
    for name, value in values.items():
        pg.fill(f"{base}[name={name}]", value)


def test_bucket_settings_end_to_end(page, server, s3, shots) -> None:  # noqa: F811 - the fixtures imported above
    name = f"lock-{uuid.uuid4().hex[:12]}"
    page.on("dialog", lambda dialog: dialog.accept())
    _login(page, server, server.access_key, server.secret_key)
    page.wait_for_selector("#buckets")
    page.click("text=Buckets")
    page.fill("#create-bucket input[name=name]", name)
    page.check("#create-lock")
    page.click("#create-bucket button")
    page.wait_for_selector(f"#buckets >> text={name}")
    assert s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"] == {"ObjectLockEnabled": "Enabled"}
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"

    # Object lock: a default retention.
    page.click(f"#buckets tr:has-text('{name}') >> text=settings")
    page.wait_for_selector("#lock-state:text('enabled')")
    assert page.url.endswith(f"#/bucket/{name}/lock")
    page.select_option("#lock-mode", "GOVERNANCE")
    page.fill("#lock-period", "5")
    page.click("#lock-form button")
    _said(page, "default retention: GOVERNANCE 5 days")
    assert s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]["Rule"] == {
        "DefaultRetention": {"Mode": "GOVERNANCE", "Days": 5}}
    page.wait_for_selector("#lock-period[value='5']")  # re-read from the server
    _shoot(page, shots, "bucket-lock")

    # Lifecycle: a rule with a transition made elsewhere is kept; the server's refusal is shown.
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [
        {"ID": "archive", "Status": "Enabled", "Filter": {"Prefix": "old/"},
         "Transitions": [{"Days": 60, "StorageClass": "GLACIER"}]}]})
    _tab(page, "lifecycle", "#lifecycle-rules .kept")
    assert "GLACIER after 60 days" in page.inner_text("#lifecycle-rules .kept")
    page.click("#lifecycle-add")
    _rule(page, 1, id="expire-logs", prefix="logs/", tags="class=temp", expDays="30", ncDays="7", ncNewer="2",
          abort="3")
    page.click("#lifecycle-save")
    _said(page, "AbortIncompleteMultipartUpload cannot be specified with object tags")
    assert [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]] == ["archive"]
    _rule(page, 1, abort="")
    page.click("#lifecycle-add")
    _rule(page, 2, id="cleanup", abort="7")
    page.check("#lifecycle-rules fieldset >> nth=2 >> [name=marker]")
    page.click("#lifecycle-add")
    _rule(page, 3, id="dated", prefix="tmp/", expDate="2030-01-01")
    page.click("#lifecycle-view")
    assert "<ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker>" in page.input_value("#lifecycle-xml")
    page.click("#lifecycle-save")
    _said(page, "lifecycle configuration saved")
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]}
    assert rules["archive"]["Transitions"] == [{"Days": 60, "StorageClass": "GLACIER"}]
    assert rules["archive"]["Filter"] == {"Prefix": "old/"}
    logs = rules["expire-logs"]
    assert logs["Filter"] == {"And": {"Prefix": "logs/", "Tags": [{"Key": "class", "Value": "temp"}]}}
    assert logs["Expiration"] == {"Days": 30}
    assert logs["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7, "NewerNoncurrentVersions": 2}
    assert "AbortIncompleteMultipartUpload" not in logs
    assert rules["cleanup"]["Expiration"] == {"ExpiredObjectDeleteMarker": True}
    assert rules["cleanup"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert rules["dated"]["Expiration"] == {"Date": datetime(2030, 1, 1, tzinfo=UTC)}
    page.wait_for_selector("#lifecycle-rules fieldset >> nth=3")
    assert page.input_value("#lifecycle-rules fieldset >> nth=3 >> [name=expDate]") == "2030-01-01"
    assert page.input_value("#lifecycle-rules fieldset >> nth=1 >> [name=tags]") == "class=temp"
    _shoot_settings(page, shots, "bucket-lifecycle")

    # CORS.
    _tab(page, "cors", "#cors-add")
    page.click("#cors-add")
    page.fill("#cors-rules [name=origins]", "https://app.example.com\nhttps://admin.example.com")
    page.check("#cors-rules [name=method-PUT]")
    page.fill("#cors-rules [name=headers]", "*")
    page.fill("#cors-rules [name=expose]", "ETag")
    page.fill("#cors-rules [name=maxAge]", "600")
    page.click("#cors-save")
    _said(page, "CORS configuration saved")
    assert s3.get_bucket_cors(Bucket=name)["CORSRules"] == [{
        "AllowedOrigins": ["https://app.example.com", "https://admin.example.com"], "AllowedMethods": ["GET", "PUT"],
        "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600}]
    page.wait_for_selector("#cors-delete")
    page.click("#cors-view")  # the XML, edited as text
    page.fill("#cors-xml", page.input_value("#cors-xml").replace("<MaxAgeSeconds>600<", "<MaxAgeSeconds>1200<"))
    with page.expect_response(lambda r: r.request.method == "PUT" and r.url.endswith("?cors")) as sent:
        page.click("#cors-save-xml")
    assert sent.value.status == 200
    assert s3.get_bucket_cors(Bucket=name)["CORSRules"][0]["MaxAgeSeconds"] == 1200
    page.wait_for_selector("#cors-rules [name=maxAge][value='1200']")
    _shoot_settings(page, shots, "bucket-cors")

    # Policy: what the checker refuses is never sent; the server's refusal is shown too.
    _tab(page, "policy", "#policy-text")
    page.fill("#policy-text", '{"Version": "2012-10-17",\n "Statement": [}')
    page.click("#policy-save")
    page.wait_for_selector("#policy-problems li")
    assert page.inner_text("#policy-problems").startswith("Not valid JSON at line 2, column 16")
    bad = {"Version": "2012-10-17", "Statement": [{"Effect": "Permit", "Action": "s3:GetObject",
                                                   "Resource": "arn:aws:s3:::another-bucket/*"}]}
    page.fill("#policy-text", json.dumps(bad, indent=2))
    page.click("#policy-save")
    page.wait_for_selector("#policy-problems li >> nth=2")
    problems = page.inner_text("#policy-problems")
    assert "Effect" in problems and "Principal is missing" in problems and "another-bucket" in problems
    assert _code(s3.get_bucket_policy, Bucket=name) == "NoSuchBucketPolicy"
    _shoot_settings(page, shots, "bucket-policy")
    good = {"Version": "2012-10-17", "Statement": [{
        "Sid": "ReadLogs", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": ["s3:GetObject"], "Resource": f"arn:aws:s3:::{name}/logs/*"}]}
    page.fill("#policy-text", json.dumps(good))
    page.click("#policy-check")
    page.wait_for_selector("#policy-problems .ok")
    page.click("#policy-save")
    _said(page, "policy saved")
    assert json.loads(s3.get_bucket_policy(Bucket=name)["Policy"]) == good
    page.wait_for_selector("#policy-delete")
    odd = {**good, "Statement": [{**good["Statement"][0], "Condition": {"StringEqualz": {"aws:username": "x"}}}]}
    page.fill("#policy-text", json.dumps(odd))
    page.click("#policy-save")
    page.wait_for_selector("#policy-problems li:has-text('The server refused it: MalformedPolicy')")
    assert json.loads(s3.get_bucket_policy(Bucket=name)["Policy"]) == good

    # Tags.
    _tab(page, "tags", "#tag-add")
    page.click("#tag-add")
    page.click("#tag-add")
    page.fill("#tag-rows p >> nth=0 >> [name=key]", "team")
    page.fill("#tag-rows p >> nth=0 >> [name=value]", "storage")
    page.fill("#tag-rows p >> nth=1 >> [name=key]", "cost-centre")
    page.fill("#tag-rows p >> nth=1 >> [name=value]", "42")
    page.click("#tags-save")
    _said(page, "tags saved")
    assert sorted((t["Key"], t["Value"]) for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]) == [
        ("cost-centre", "42"), ("team", "storage")]
    page.wait_for_selector("#tag-rows [name=key][value=team]")
    _shoot_settings(page, shots, "bucket-tags")

    # Default encryption.
    _tab(page, "encryption", "#sse-s3")
    assert page.inner_text("#encryption-state").startswith("none")
    page.check("#sse-s3")
    page.click("#encryption-save")
    _said(page, "default encryption: SSE-S3")
    rule = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    page.wait_for_selector("#encryption-state:text('SSE-S3 (AES256)')")
    _shoot_settings(page, shots, "bucket-encryption")
    page.uncheck("#sse-s3")
    page.click("#encryption-save")
    _said(page, "default encryption removed")
    assert _code(s3.get_bucket_encryption, Bucket=name) == "ServerSideEncryptionConfigurationNotFoundError"

    # A phone: the lifecycle editor fits the width (no sideways scrolling).
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(f"{server.admin_endpoint}/console/#/bucket/{name}/lifecycle")
    page.reload()
    page.wait_for_selector("#lifecycle-rules fieldset >> nth=3")
    _shoot(page, shots, "bucket-phone")
    for tab in ("lifecycle", "lock", "cors", "policy", "tags", "encryption"):
        page.click(f"#tab-{tab}")
        page.wait_for_selector(f"#tab-{tab}.on")
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), tab

    # Deleting a configuration from its tab.
    page.click("#tab-cors")
    page.click("#cors-delete")
    _said(page, "CORS configuration removed")
    assert _code(s3.get_bucket_cors, Bucket=name) == "NoSuchCORSConfiguration"
    s3.delete_bucket(Bucket=name)


def test_enable_lock_on_a_versioned_bucket(page, server, s3, bucket) -> None:  # noqa: F811
    page.on("dialog", lambda dialog: dialog.accept())
    _login(page, server, server.access_key, server.secret_key)
    page.wait_for_selector("#buckets")
    page.goto(f"{server.admin_endpoint}/console/#/bucket/{bucket}/lock")
    page.wait_for_selector("text=Object lock needs versioning")
    assert page.locator("#lock-enable").count() == 0
    page.click("#versioning-toggle")
    page.wait_for_selector("#lock-enable")
    page.click("#lock-enable")
    _said(page, "object lock enabled")
    page.wait_for_selector("#lock-state:text('enabled')")
    lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert lock == {"ObjectLockEnabled": "Enabled"}
    page.click("#versioning-toggle")  # a locked bucket's versioning cannot be suspended: the server says so
    _said(page, "InvalidBucketState")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


# --- the policy checker, against the server's own parser ---------------------------------------------------------

def _without(statement: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in statement.items() if k != field}


B = "photos"
ARN = f"arn:aws:s3:::{B}"
ALLOW = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{ARN}/*"}
IDENTITY = {"Effect": "Allow", "Action": ["s3:ListBucket", "iam:GetUser"], "Resource": "*"}
# (kind, document or raw text, a fragment of the problem expected; None: no problem)
CASES: list[tuple[str, Any, str | None]] = [
    ("bucket", {"Version": "2012-10-17", "Statement": [ALLOW]}, None),
    ("bucket", {"Version": "2012-10-17", "Statement": ALLOW}, None),
    ("bucket", {"Version": "2012-10-17", "Statement": [{**ALLOW, "Resource": ["arn:aws:s3:::pho*", ARN]}]}, None),
    ("bucket", {"Version": "2012-10-17", "Statement": [{**ALLOW, "Principal": {"AWS": ["123456789012"]},
                                                        "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]},
     None),
    ("bucket", {"Version": "2008-10-17", "Statement": [{**_without(ALLOW, "Principal"), "Effect": "Deny",
                                                        "NotPrincipal": {"AWS": "1"}}]}, None),
    ("bucket", {"Version": "2012-10-17", "Statement": [_without(ALLOW, "Principal")]},
     "Principal is missing"),
    ("bucket", {"Version": "2012-10-17", "Statement": [{**ALLOW, "Effect": "allow"}]}, "Effect must be"),
    ("bucket", {"Version": "2012-10-17", "Statement": []}, "Statement is missing"),
    ("bucket", {"Version": "2012-10-17"}, "Statement is missing"),
    ("bucket", {"Version": "2012-10-16", "Statement": [ALLOW]}, "Version must be"),
    ("bucket", {"Version": "2012-10-17", "Statement": [{**ALLOW, "Resource": "arn:aws:s3:::other/*"}]},
     "not this bucket's"),
    ("bucket", {"Version": "2012-10-17", "Statement": [{**ALLOW, "Action": "iam:GetUser"}]}, "not an S3 action"),
    ("bucket", {"Version": "2012-10-17", "Statement": [_without(ALLOW, "Action")]},
     "Action (or NotAction) is missing"),
    ("bucket", {"Version": "2012-10-17", "Statement": [_without(ALLOW, "Resource")]},
     "Resource (or NotResource) is missing"),
    ("bucket", {"Version": "2012-10-17", "Statement": [{**ALLOW, "Principal": {"Robot": "x"}}]}, "kind \"Robot\""),
    ("bucket", {"Version": "2012-10-17", "Statement": [{**_without(ALLOW, "Principal"),
                                                        "NotPrincipal": {"AWS": "1"}}]}, "only allowed with"),
    ("bucket", {"Version": "2012-10-17", "Statement": [{**ALLOW, "Principal": ["*"]}]}, "Principal must be"),
    ("bucket", {"Version": "2012-10-17", "Statement": [{**ALLOW, "Action": []}]}, "list of strings"),
    ("bucket", {"Version": "2012-10-17", "Statement": [{**ALLOW, "Condition": ["x"]}]}, "Condition must be"),
    ("bucket", {"Version": "2012-10-17", "Statement": ["Allow"]}, "is not an object"),
    ("bucket", [ALLOW], "must be a JSON object"),
    ("bucket", '{"Version": "2012-10-17",\n  "Statement": [,]}', "Not valid JSON at line 2, column 17"),
    ("bucket", "   ", "empty"),
    ("identity", {"Version": "2012-10-17", "Statement": [IDENTITY]}, None),
    ("identity", {"Version": "2012-10-17", "Statement": [{**IDENTITY, "Principal": "*"}]}, "names no Principal"),
    ("identity", {"Version": "2012-10-17", "Statement": [{**IDENTITY, "Action": "GetUser"}]}, "service prefix"),
    ("identity", {"Version": "2012-10-17", "Statement": [{**IDENTITY, "Resource": "photos"}]}, "must be an ARN"),
    ("identity", {"Version": "2012-10-17", "Statement": [{**IDENTITY, "Sid": "a"}, {**IDENTITY, "Sid": "a"}]},
     "must be unique"),
    ("identity", {"Version": "2012-10-17", "Statement": [IDENTITY], "Owner": "me"}, "Unknown top-level field"),
    ("identity", {"Version": "2012-10-17", "Statement": [{**IDENTITY, "Effects": "Allow"}]}, "unknown field"),
]


def _server_accepts(kind: str, text: str) -> bool:
    try:
        policies.parse_policy(text, B if kind == "bucket" else None)
    except S3Error:
        return False
    return True


def test_policy_checker_agrees_with_the_server(browser, server: Server) -> None:  # noqa: F811
    pg = browser.new_page()
    try:
        pg.goto(server.admin_endpoint + "/console/")
        texts = [(kind, doc if isinstance(doc, str) else json.dumps(doc, indent=1)) for kind, doc, _ in CASES]
        found = pg.evaluate("""async ([url, cases, bucket]) => {
            const { checkPolicy } = await import(url);
            return cases.map(([kind, text]) => checkPolicy(text, { kind, bucket }));
        }""", [server.admin_endpoint + "/console/static/policy-check.js", texts, B])
    finally:
        pg.close()
    for (kind, text), (_, _, expected), problems in zip(texts, CASES, found, strict=True):
        if expected is None:
            assert problems == [], (text, problems)
        else:
            assert any(expected in p for p in problems), (text, expected, problems)
        # What the checker lets through the server takes; what it refuses the server refuses too
        # (it is stricter only about a missing Version and unknown fields).
        if not problems:
            assert _server_accepts(kind, text), text
        elif not any("Version" in p or "unknown field" in p for p in problems):
            assert not _server_accepts(kind, text), (text, problems)


def test_the_other_configurations_as_xml(page, server, s3, bucket, shots) -> None:  # noqa: F811
    page.on("dialog", lambda dialog: dialog.accept())
    _login(page, server, server.access_key, server.secret_key)
    page.wait_for_selector("#buckets")
    page.goto(f"{server.admin_endpoint}/console/#/bucket/{bucket}/website")
    page.wait_for_selector("#website-xml")
    assert page.input_value("#website-xml") == ""  # none set
    page.fill("#website-xml", "<WebsiteConfiguration><IndexDocument><Suffix>index.html</Suffix>")
    page.click("#website-save")
    _said(page, "not well-formed")
    assert _code(s3.get_bucket_website, Bucket=bucket) == "NoSuchWebsiteConfiguration"  # nothing sent
    page.fill("#website-xml", "<WebsiteConfiguration><IndexDocument><Suffix>index.html</Suffix></IndexDocument>"
                              "</WebsiteConfiguration>")
    page.click("#website-save")
    _said(page, "saved")
    assert s3.get_bucket_website(Bucket=bucket)["IndexDocument"] == {"Suffix": "index.html"}
    page.wait_for_selector("#website-delete")  # re-read: now there is one to remove
    assert "index.html" in page.input_value("#website-xml")
    _shoot_settings(page, shots, "bucket-website")
    page.click("#website-delete")
    _said(page, "removed")
    assert _code(s3.get_bucket_website, Bucket=bucket) == "NoSuchWebsiteConfiguration"
    # A document the server refuses: its error is shown, nothing changes.
    _tab(page, "ownershipControls", "#ownershipControls-xml")
    page.fill("#ownershipControls-xml", "<OwnershipControls><Rule><ObjectOwnership>Nobody</ObjectOwnership></Rule>"
                                        "</OwnershipControls>")
    page.click("#ownershipControls-save")
    page.wait_for_selector("#status.error")
    assert "MalformedXML" in page.inner_text("#status") or "InvalidArgument" in page.inner_text("#status")
    page.fill("#ownershipControls-xml", "<OwnershipControls><Rule><ObjectOwnership>BucketOwnerPreferred"
                                        "</ObjectOwnership></Rule></OwnershipControls>")
    page.click("#ownershipControls-save")
    _said(page, "saved")
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerPreferred"}]
    # The events and access log tabs show the empty configuration S3 answers.
    _tab(page, "notification", "#notification-xml")
    assert "NotificationConfiguration" in page.input_value("#notification-xml")
    _tab(page, "logging", "#logging-xml")
    assert "BucketLoggingStatus" in page.input_value("#logging-xml")
