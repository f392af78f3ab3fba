"""The website endpoint: a bucket's objects served as pages to anyone.

As AWS's website endpoints: GET and HEAD only (others 405), every request
anonymous (an object must be readable by everyone, by bucket policy or ACL:
403 otherwise), RedirectAllRequestsTo, routing rules in order, index
documents for "directories" and the 302 from ``dir`` to ``dir/``, an
object's ``x-amz-website-redirect-location`` as a 301, and errors as HTML
pages: the bucket's ErrorDocument, else a built-in page.  Objects are read
through ``pails.s3.objects.get_object`` as the anonymous principal, so every
access rule of the S3 API holds here too.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote_to_bytes

from pails.errors import S3Error
from pails.s3 import objects
from pails.s3.request import Response, S3Request
from pails.storage.engine import Engine
from pails.website import pages, routing
from pails.website.bucket_api import stored_configuration
from pails.website.configuration import Record

log = logging.getLogger("pails")

# Request headers a website GET honours (conditional and range requests); no other reaches the S3 read.
_PASSED = ("range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since")
REDIRECT_HEADER = "x-amz-website-redirect-location"


class _NoBody:
    declared_length: int | None = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        return
        yield b""  # pragma: no cover - makes this an async generator

    async def read_all(self, limit: int) -> bytes:
        return b""

    def trailers(self) -> dict[str, str]:
        return {}


async def _read(engine: Engine, bucket: str, key: str, method: str, headers: dict[str, str], request_id: str,
                client_ip: str) -> Response:
    """GET/HEAD of one object as the anonymous principal (S3Error when it cannot be served)."""
    passed = {name: headers[name] for name in _PASSED if name in headers}
    req = S3Request(method, bucket, key, {}, passed, None, _NoBody(), request_id, "anonymous", "s3:GetObject",
                    client_ip)
    return await objects.get_object(engine, req, head=method == "HEAD")


def _redirect(redirect: routing.Redirect) -> Response:
    return Response(redirect.status, [("Location", redirect.location), ("Content-Type", "text/html; charset=utf-8")])


def error_response(err: S3Error, method: str, request_id: str, document_error: S3Error | None = None) -> Response:
    headers = [("Content-Type", "text/html; charset=utf-8"), *pages.error_headers(err)]
    if method == "HEAD":
        return Response(err.status, headers)
    return Response(err.status, headers, pages.error_page(err, request_id, document_error))


async def _error(engine: Engine, site: routing.Site, config: Record, err: S3Error, method: str,
                 headers: dict[str, str], request_id: str, client_ip: str) -> Response:
    """An error: a routing rule on its code, else the ErrorDocument (with the
    error's status), else the built-in page."""
    rule = routing.matching_rule(config, site.key, err.status)
    if rule is not None:
        return _redirect(routing.rule_redirect(rule, site))
    document = config.get("error")
    if document is None or err.status not in (403, 404):
        return error_response(err, method, request_id)
    try:
        page = await _read(engine, site.bucket, document, method, {}, request_id, client_ip)
    except S3Error as doc_err:
        return error_response(err, method, request_id, doc_err)
    page.status = err.status
    return page


async def _is_directory(engine: Engine, site: routing.Site, config: Record, headers: dict[str, str],
                        request_id: str, client_ip: str) -> bool:
    """``key`` is no object, but ``key/INDEX`` is one anyone may read."""
    bucket = await engine.meta.get_bucket(site.bucket)
    if bucket is None:
        return False
    obj = await engine.meta.get_object(bucket.id, site.key)
    if obj is not None and not obj.delete_marker:
        return False
    try:
        await _read(engine, site.bucket, routing.index_key(config, site.key + "/"), "HEAD", {}, request_id,
                    client_ip)
    except S3Error:
        return False
    return True


async def serve(engine: Engine, method: str, address: routing.Site | routing.Redirect, headers: dict[str, str],
                request_id: str, client_ip: str) -> Response:
    """The answer to a request on the website endpoint (never raises S3Error)."""
    if isinstance(address, routing.Redirect):
        return _redirect(address)
    site = address
    if method not in ("GET", "HEAD"):
        return error_response(S3Error("MethodNotAllowed", Method=method, ResourceType="OBJECT"), method, request_id)
    try:
        bucket = await engine.meta.get_bucket(site.bucket) if site.bucket else None
        if bucket is None:
            raise S3Error("NoSuchBucket", BucketName=site.bucket)
        config = stored_configuration(bucket)
        if config is None:
            raise S3Error("NoSuchWebsiteConfiguration", BucketName=site.bucket)
    except S3Error as err:
        return error_response(err, method, request_id)
    everything = routing.redirect_all(config, site)
    if everything is not None:
        return _redirect(everything)
    rule = routing.matching_rule(config, site.key, None)
    if rule is not None:
        return _redirect(routing.rule_redirect(rule, site))
    key = routing.index_key(config, site.key)
    try:
        response = await _read(engine, site.bucket, key, method, headers, request_id, client_ip)
    except S3Error as err:
        if err.code in ("NoSuchKey", "AccessDenied") and key == site.key and \
                await _is_directory(engine, site, config, headers, request_id, client_ip):
            return _redirect(routing.directory_redirect(site))
        return await _error(engine, site, config, err, method, headers, request_id, client_ip)
    location = next((value for name, value in response.headers if name.lower() == REDIRECT_HEADER), None)
    if location is not None:
        return _redirect(routing.Redirect(301, location))
    return response


# --- the ASGI edge's side (pails.http.app hands a request here by its Host) -----------------------------------------

def _scope_headers(scope: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name_b, value_b in scope["headers"]:
        name, value = name_b.decode("latin-1").lower(), value_b.decode("latin-1").strip()
        out[name] = f"{out[name]},{value}" if name in out else value
    return out


def address_of(scope: dict[str, Any], domain: str) -> routing.Site | routing.Redirect | None:
    """The website request an ASGI request is (decided by its Host header), or None."""
    host = next((v.decode("latin-1") for n, v in scope["headers"] if n.lower() == b"host"), "")
    if domain not in host.lower():  # most requests: not the website's
        return None
    raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
    path = unquote_to_bytes(raw_path.encode("latin-1")).decode("utf-8", "replace")
    return routing.address(host, path, domain, scope.get("scheme", "http"))


async def answer(engine: Engine, scope: dict[str, Any], address: routing.Site | routing.Redirect,
                 request_id: str) -> Response:
    """``serve`` for an ASGI request: whatever goes wrong is an HTML page too."""
    method = scope["method"]
    try:
        client = scope.get("client")
        return await serve(engine, method, address, _scope_headers(scope), request_id, client[0] if client else "")
    except S3Error as err:
        return error_response(err, method, request_id)
    except Exception:
        log.exception("internal error in website request %s %s", method, scope.get("path"))
        return error_response(S3Error("InternalError"), method, request_id)
