"""Signed requests to a test server's admin port (docs/admin-api.md)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import botocore.auth
import botocore.awsrequest
import botocore.credentials


def admin_call(endpoint: str, method: str, path: str, access_key: str | None, secret_key: str | None,
               body: Any = None, service: str = "admin", token: str | None = None) -> tuple[int, Any]:
    """(status, decoded JSON) of one admin API request, signed with SigV4 for
    ``service`` unless ``access_key`` is None (with ``token``: temporary credentials)."""
    data = json.dumps(body).encode() if body is not None else b""
    request = botocore.awsrequest.AWSRequest(method, endpoint + path, data=data,
                                             headers={"Content-Type": "application/json"} if data else {})
    if access_key is not None:
        creds = botocore.credentials.Credentials(access_key, secret_key or "", token)
        signer = botocore.auth.S3SigV4Auth if service == "s3" else botocore.auth.SigV4Auth
        signer(creds, service, "us-east-1").add_auth(request)
    prepared = request.prepare()
    req = urllib.request.Request(prepared.url, data=data or None, headers=dict(prepared.headers), method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")
