"""CORS with a real browser: a page served from another origin (a tiny HTTP
server on another port) uploads with a presigned PUT (SigV4 and SigV2) and reads the object back
with fetch() of a presigned GET, in headless Chromium driven by Playwright.
Without CORS rules on the bucket the browser must refuse both.

Needs Debian's ``chromium`` (``make client-tools`` installs it as root) and the
``playwright`` package (test extras); skipped, with the reason, without them.
"""

from __future__ import annotations

import http.server
import os
import shutil
import threading
from collections.abc import Iterator

import pytest

from tests.conftest import client
from tests.pails_server import free_port

CHROMIUM = os.environ.get("PAILS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
PAGE = b"<!doctype html><html><head><title>pails cors</title></head><body>another origin</body></html>"

# Runs in the page: every step's outcome, a failed fetch() as its error text
# (the browser hides why; a refused CORS check is a TypeError "Failed to fetch").
SCRIPT = """async ([putUrl, getUrl, body]) => {
  const out = {};
  try {
    const put = await fetch(putUrl, {method: "PUT", body, headers: {"Content-Type": "text/plain"}});
    out.putStatus = put.status;
    out.etag = put.headers.get("ETag");
    if (put.status !== 200) out.putBody = await put.text();
  } catch (e) { out.putError = String(e); }
  try {
    const get = await fetch(getUrl);
    out.getStatus = get.status;
    out.text = await get.text();
  } catch (e) { out.getError = String(e); }
  return out;
}"""


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def page_origin() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"chromium not found at {CHROMIUM} (as root: make client-tools, or apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install -e '.[test]')")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


def _run(browser, page_origin: str, s3, bucket: str, key: str, body: str) -> dict:
    # The page sends Content-Type (a SigV2 presigned URL signs it; SigV4 signs only the host).
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key,
                                                              "ContentType": "text/plain"})
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key})
    page = browser.new_page()
    try:
        page.goto(page_origin + "/")
        return page.evaluate(SCRIPT, [put_url, get_url, body])
    finally:
        page.close()


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
def test_browser_upload_and_read_from_another_origin(browser, page_origin, server, s3, bucket, signature_version):
    signer = client(server, signature_version=signature_version)
    # No CORS rules: the browser refuses the preflight of the PUT and the GET's answer.
    refused = _run(browser, page_origin, signer, bucket, "page.txt", "refused")
    assert "putError" in refused and "getError" in refused, refused
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="page.txt")  # the preflight failed: no PUT was sent

    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": [page_origin], "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["*"],
         "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 60}]})
    done = _run(browser, page_origin, signer, bucket, "page.txt", "hello from the browser")
    assert done.get("putStatus") == 200, done
    head = s3.head_object(Bucket=bucket, Key="page.txt")
    assert done["etag"] == head["ETag"]  # readable only because the rule exposes it
    assert done.get("getStatus") == 200 and done["text"] == "hello from the browser", done

    # An origin the rules do not name is refused again.
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://elsewhere.example"], "AllowedMethods": ["GET", "PUT"]}]})
    other = _run(browser, page_origin, signer, bucket, "page.txt", "refused again")
    assert "putError" in other and "getError" in other, other
    assert s3.get_object(Bucket=bucket, Key="page.txt")["Body"].read() == b"hello from the browser"
