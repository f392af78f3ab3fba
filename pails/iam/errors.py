"""IAM errors as AWS sends them (``<ErrorResponse><Error><Type>``)."""

from __future__ import annotations

_STATUS = {
    "NoSuchEntity": 404,
    "EntityAlreadyExists": 409,
    "DeleteConflict": 409,
    "LimitExceeded": 409,
    "MalformedPolicyDocument": 400,
    "ValidationError": 400,
    "InvalidInput": 400,
    "InvalidAction": 400,
    "MissingAction": 400,
    "InvalidParameterValue": 400,
    "AccessDenied": 403,
    "PackedPolicyTooLarge": 400,
    "ExpiredToken": 400,
    "ExpiredTokenException": 400,
    "InvalidIdentityToken": 400,
    "IDPCommunicationError": 400,
    "IDPRejectedClaim": 403,
    "ServiceFailure": 500,
}


class IamError(Exception):
    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code
        self.status = _STATUS.get(code, 400)

    @property
    def type(self) -> str:
        return "Receiver" if self.status >= 500 else "Sender"


def no_such(kind: str, name: str) -> IamError:
    return IamError("NoSuchEntity", f"The {kind} with name {name} cannot be found.")


def missing(name: str) -> IamError:
    return IamError("ValidationError", f"1 validation error detected: Value null at '{name}' failed to satisfy "
                    "constraint: Member must not be null")
