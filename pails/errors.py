# ruff: noqa: E501 - one line per error code reads best
"""S3 errors: one exception type carrying AWS's code, HTTP status and message.

Every layer raises ``S3Error``; the HTTP edge renders it as the S3 XML error
body.  The table below is the single place that knows which status AWS gives
each code.
"""

from __future__ import annotations

# code -> (HTTP status, default message), as AWS documents them.
ERROR_CODES: dict[str, tuple[int, str]] = {
    "AccessDenied": (403, "Access Denied"),
    "AccessControlListNotSupported": (400, "The bucket does not allow ACLs"),
    "AccessForbidden": (403, "CORSResponse: This CORS request is not allowed."),
    "BadRequest": (400, "Bad Request"),
    "AccountProblem": (403, "There is a problem with your account."),
    "AuthorizationHeaderMalformed": (400, "The authorization header is malformed."),
    "AuthorizationQueryParametersError": (400, "Error parsing the query-string authentication parameters."),
    "BadDigest": (400, "The Content-MD5 you specified did not match what we received."),
    "BucketAlreadyExists": (409, "The requested bucket name is not available."),
    "BucketAlreadyOwnedByYou": (409, "Your previous request to create the named bucket succeeded and you already own it."),
    "BucketNotEmpty": (409, "The bucket you tried to delete is not empty."),
    "ConditionalRequestConflict": (409, "A conflicting operation occurred."),
    "EntityTooLarge": (400, "Your proposed upload exceeds the maximum allowed object size."),
    "EntityTooSmall": (400, "Your proposed upload is smaller than the minimum allowed object size."),
    "ExpiredToken": (400, "The provided token has expired."),
    "IncompleteBody": (400, "You did not provide the number of bytes specified by the Content-Length HTTP header."),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    # Not an AWS code (AWS never runs out of room): Pails' answer when a write would eat the data directory's
    # reserve or finds the disk full (pails.storage.space; docs/operations.md says why 507 and this name).
    "InsufficientStorage": (507, "Not enough free space on the server to store this; delete objects or add space, then retry."),
    # Not an AWS code (AWS has no bucket quotas): Ceph RGW's answer to a write past a bucket's quota, which
    # clients show as is (docs/quotas.md says why this one).
    "QuotaExceeded": (403, "The bucket quota does not allow this write: it would pass the bucket's limit of stored bytes or objects."),
    "InvalidToken": (400, "The provided token is malformed or otherwise invalid."),
    "InvalidAccessKeyId": (403, "The AWS Access Key Id you provided does not exist in our records."),
    "InvalidArgument": (400, "Invalid Argument"),
    "InvalidBucketName": (400, "The specified bucket is not valid."),
    "InvalidBucketAclWithObjectOwnership": (400, "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"),
    "InvalidBucketState": (409, "The request is not valid with the current state of the bucket."),
    "InvalidDigest": (400, "The Content-MD5 you specified is not valid."),
    "InvalidEncryptionAlgorithmError": (400, "The encryption request you specified is not valid."),
    "InvalidLocationConstraint": (400, "The specified location constraint is not valid."),
    "InvalidObjectState": (403, "The operation is not valid for the current state of the object."),
    "InvalidPolicyDocument": (400, "The content of the form does not meet the conditions specified in the policy document."),
    "IncorrectNumberOfFilesInPostRequest": (400, "POST requires exactly one file upload per request."),
    "MaxPostPreDataLengthExceeded": (400, "Your POST request fields preceding the upload file were too large."),
    "InvalidPart": (400, "One or more of the specified parts could not be found."),
    "InvalidPartOrder": (400, "The list of parts was not in ascending order."),
    "InvalidRange": (416, "The requested range is not satisfiable"),
    "InvalidRequest": (400, "Invalid Request"),
    "InvalidRedirectLocation": (400, "The website redirect location must have a prefix of 'http://' or 'https://' or '/'."),
    "InvalidRetentionPeriod": (400, "Default retention period must be a positive integer value."),
    "InvalidStorageClass": (400, "The storage class you specified is not valid."),
    "InvalidTag": (400, "The tag provided was not a valid tag."),
    "InvalidTargetBucketForLogging": (400, "The target bucket for logging does not exist."),
    "InvalidURI": (400, "Couldn't parse the specified URI."),
    "InvalidWriteOffset": (400, "The write offset value that you specified does not match the current object size."),
    "KeyTooLongError": (400, "Your key is too long."),
    "MalformedACLError": (400, "The XML you provided was not well-formed or did not validate against our published schema."),
    "MalformedPolicy": (400, "Policy has invalid resource."),
    "MalformedPOSTRequest": (400, "The body of your POST request is not well-formed multipart/form-data."),
    "MalformedXML": (400, "The XML you provided was not well-formed or did not validate against our published schema."),
    "MaxMessageLengthExceeded": (400, "Your request was too big."),
    "MetadataTooLarge": (400, "Your metadata headers exceed the maximum allowed metadata size."),
    "MethodNotAllowed": (405, "The specified method is not allowed against this resource."),
    "MissingContentLength": (411, "You must provide the Content-Length HTTP header."),
    "MissingRequestBodyError": (400, "Request Body is empty."),
    "MissingSecurityHeader": (400, "Your request was missing a required header."),
    "ObjectLockConfigurationNotFoundError": (404, "Object Lock configuration does not exist for this bucket"),
    "OwnershipControlsNotFoundError": (404, "The bucket ownership controls were not found"),
    "NoSuchPublicAccessBlockConfiguration": (404, "The public access block configuration was not found"),
    "NoSuchBucket": (404, "The specified bucket does not exist."),
    "NoSuchBucketPolicy": (404, "The bucket policy does not exist."),
    "NoSuchCORSConfiguration": (404, "The CORS configuration does not exist"),
    "NoSuchWebsiteConfiguration": (404, "The specified bucket does not have a website configuration"),
    "NoSuchObjectLockConfiguration": (404, "The specified object does not have a ObjectLock configuration"),
    "NoSuchKey": (404, "The specified key does not exist."),
    "NoSuchLifecycleConfiguration": (404, "The lifecycle configuration does not exist."),
    "NoSuchTagSet": (404, "The TagSet does not exist."),
    "NoSuchUpload": (404, "The specified upload does not exist."),
    "NoSuchVersion": (404, "The specified version does not exist."),
    "NotImplemented": (501, "A header you provided implies functionality that is not implemented."),
    "PreconditionFailed": (412, "At least one of the preconditions you specified did not hold."),
    "RequestHeaderSectionTooLarge": (400, "Your request header section exceeds the maximum allowed size."),
    "RequestTimeTooSkewed": (403, "The difference between the request time and the server's time is too large."),
    "RequestTimeout": (400, "Your socket connection to the server was not read from or written to within the timeout period."),
    "ServiceUnavailable": (503, "Please reduce your request rate."),
    "ServerSideEncryptionConfigurationNotFoundError": (404, "The server side encryption configuration was not found"),
    "SignatureDoesNotMatch": (403, "The request signature we calculated does not match the signature you provided. Check your key and signing method."),
    "SlowDown": (503, "Please reduce your request rate."),
    "TooManyBuckets": (400, "You have attempted to create more buckets than allowed."),
    "UnresolvableGrantByEmailAddress": (400, "The e-mail address you provided does not match any account on record."),
    "UnexpectedContent": (400, "This request does not support content."),
    "XAmzContentSHA256Mismatch": (400, "The provided 'x-amz-content-sha256' header does not match what was computed."),
    "InvalidChunkSizeError": (403, "Only the last chunk is allowed to have a size less than 8192 bytes"),
    "UnsupportedSignature": (400, "The provided request is signed with an unsupported STS Token version or the signature version is not supported."),
}


class S3Error(Exception):
    """An error S3 reports to the client as an XML ``<Error>`` document.

    ``extra`` holds additional child elements AWS includes for some codes
    (e.g. ``BucketName``, ``Key``, ``ArgumentName``).
    """

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        status: int | None = None,
        resource: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: str,
    ) -> None:
        default_status, default_message = ERROR_CODES.get(code, (400, code))
        self.code = code
        self.message = message or default_message
        self.status = status or default_status
        self.resource = resource
        self.headers = headers or {}
        self.extra = extra
        super().__init__(f"{code}: {self.message}")
