"""Server-side encryption request headers, parsed and validated as AWS does.

- ``x-amz-server-side-encryption``: ``AES256`` (SSE-S3), ``aws:kms``
  (SSE-KMS) or ``aws:kms:dsse`` (DSSE-KMS), with
  ``x-amz-server-side-encryption-aws-kms-key-id`` and
  ``x-amz-server-side-encryption-bucket-key-enabled``;
- ``x-amz-server-side-encryption-customer-{algorithm,key,key-MD5}`` (SSE-C),
  and the same with ``x-amz-copy-source-`` in front for a copy's source.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from pails.errors import S3Error

SSE = "x-amz-server-side-encryption"
KMS_KEY_ID = "x-amz-server-side-encryption-aws-kms-key-id"
BUCKET_KEY = "x-amz-server-side-encryption-bucket-key-enabled"
CONTEXT = "x-amz-server-side-encryption-context"
CUSTOMER_ALGORITHM = "x-amz-server-side-encryption-customer-algorithm"
CUSTOMER_KEY = "x-amz-server-side-encryption-customer-key"
CUSTOMER_KEY_MD5 = "x-amz-server-side-encryption-customer-key-md5"
COPY_SOURCE_PREFIX = "x-amz-copy-source-"

SSE_S3 = "AES256"
SSE_KMS = "aws:kms"
SSE_DSSE = "aws:kms:dsse"
SSE_C = "SSE-C"  # Pails's name for customer keys (not a header value)
ALGORITHMS = (SSE_S3, SSE_KMS, SSE_DSSE)
DEFAULT_KMS_KEY = "aws/s3"  # the key AWS uses for aws:kms without a key id


@dataclass(frozen=True, slots=True)
class CustomerKey:
    key: bytes  # 32 bytes, never stored
    md5: str  # base64 MD5 of the key, as the client sent it


@dataclass(frozen=True, slots=True)
class Requested:
    """What a write request asks for; all None: nothing (bucket default applies)."""

    algorithm: str | None = None  # AES256 | aws:kms | aws:kms:dsse
    kms_key_id: str | None = None
    bucket_key: bool | None = None
    customer: CustomerKey | None = None

    @property
    def any(self) -> bool:
        return self.algorithm is not None or self.customer is not None


def _invalid(message: str, name: str, value: str | None = None) -> S3Error:
    extra = {"ArgumentName": name}
    if value is not None:
        extra["ArgumentValue"] = value[:256]
    return S3Error("InvalidArgument", message, **extra)


def customer_key(headers: dict[str, str], copy_source: bool = False) -> CustomerKey | None:
    """The SSE-C key of a request (or of its copy source), validated; None if
    no SSE-C header is present."""
    names = (CUSTOMER_ALGORITHM, CUSTOMER_KEY, CUSTOMER_KEY_MD5)
    if copy_source:  # x-amz-copy-source-server-side-encryption-customer-*
        names = tuple(COPY_SOURCE_PREFIX + n.removeprefix("x-amz-") for n in names)
    alg_name, key_name, md5_name = names
    alg, key_b64, md5_b64 = headers.get(alg_name), headers.get(key_name), headers.get(md5_name)
    if alg is None and key_b64 is None and md5_b64 is None:
        return None
    if alg is None:
        raise _invalid("Requests specifying Server Side Encryption with Customer provided keys must provide a "
                       "valid encryption algorithm.", alg_name)
    if alg.strip() != "AES256":
        raise S3Error("InvalidEncryptionAlgorithmError", "The encryption request you specified is not valid. "
                      "The valid value is AES256.", ArgumentName=alg_name, ArgumentValue=alg[:64])
    if key_b64 is None:
        raise _invalid("Requests specifying Server Side Encryption with Customer provided keys must provide an "
                       "appropriate secret key.", key_name)
    if md5_b64 is None:
        raise _invalid("Requests specifying Server Side Encryption with Customer provided keys must provide the "
                       "client calculated MD5 of the secret key.", md5_name)
    try:
        key = base64.b64decode(key_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise _invalid("The secret key was invalid for the specified algorithm.", key_name)
    if base64.b64encode(hashlib.md5(key).digest()).decode() != md5_b64.strip():
        raise _invalid("The calculated MD5 hash of the key did not match the hash that was provided.", md5_name)
    return CustomerKey(key, md5_b64.strip())


def requested(headers: dict[str, str]) -> Requested:
    """The encryption a write request (PutObject, CopyObject's destination,
    CreateMultipartUpload, POST) asks for, validated."""
    alg = headers.get(SSE)
    key_id = headers.get(KMS_KEY_ID)
    bucket_key_raw = headers.get(BUCKET_KEY)
    customer = customer_key(headers)
    if alg is not None:
        alg = alg.strip()
        if alg not in ALGORITHMS:
            raise _invalid("The encryption method specified is not supported", SSE, alg)
    if customer is not None and alg is not None:
        raise _invalid("Server Side Encryption with Customer provided key is incompatible with the encryption "
                       "method specified", SSE, alg)
    if key_id is not None and alg not in (SSE_KMS, SSE_DSSE):
        raise _invalid("Server Side Encryption with AWS KMS managed key requires HTTP header "
                       "x-amz-server-side-encryption : aws:kms", SSE, alg or "")
    if key_id is not None:
        key_id = key_id.strip()
        if not key_id:
            raise _invalid("KMS key id must not be empty", KMS_KEY_ID, "")
    bucket_key = None
    if bucket_key_raw is not None:
        value = bucket_key_raw.strip().lower()
        if value not in ("true", "false"):
            raise _invalid("Invalid value for x-amz-server-side-encryption-bucket-key-enabled", BUCKET_KEY,
                           bucket_key_raw)
        bucket_key = value == "true"
    return Requested(alg, key_id, bucket_key, customer)


def refuse_on_read(headers: dict[str, str]) -> None:
    """GET and HEAD take only the SSE-C headers: the others are 400, as AWS."""
    for name in (SSE, KMS_KEY_ID, BUCKET_KEY, CONTEXT):
        if name in headers:
            raise _invalid("x-amz-server-side-encryption header is not supported for this operation.", name)
