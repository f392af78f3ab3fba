"""OpenID Connect ID tokens (JWTs) for AssumeRoleWithWebIdentity: parse,
check the claims, verify the signature with the provider's keys (JWKS).

Pure but for ``ProviderKeys.keys``, which fetches a provider's keys:
``<issuer>/.well-known/openid-configuration`` names ``jwks_uri``; both are
read with a short timeout and kept for a short while.  Only issuers an
account registered as an OIDC provider are ever fetched (pails.sts.api
checks that first), so a token cannot make the server call an arbitrary URL."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from pails.iam.errors import IamError

TOKEN_MAX = 20000  # characters, as AWS limits WebIdentityToken
CLOCK_SKEW = 60  # seconds allowed between the provider's clock and ours for nbf / iat
FETCH_TIMEOUT = 5.0
KEYS_TTL = 300.0  # a provider's keys are read again after this long, or when a token names an unknown kid
REFETCH_MIN = 10.0  # ... but not more often than this for one issuer
FETCH_MAX = 1 << 20

_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVES = {"P-256": (ec.SECP256R1, 32), "P-384": (ec.SECP384R1, 48), "P-521": (ec.SECP521R1, 66)}


def invalid(message: str) -> IamError:
    return IamError("InvalidIdentityToken", message)


@dataclass(frozen=True, slots=True)
class IdToken:
    header: dict[str, Any]
    claims: dict[str, Any]
    signed: bytes  # "<header>.<payload>", what the signature covers
    signature: bytes

    @property
    def issuer(self) -> str:
        return str(self.claims.get("iss", ""))

    @property
    def audiences(self) -> tuple[str, ...]:
        aud = self.claims.get("aud")
        if isinstance(aud, str):
            return (aud,)
        if isinstance(aud, list) and all(isinstance(a, str) for a in aud):
            return tuple(aud)
        return ()


def _b64(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (ValueError, TypeError):
        raise invalid("The ID token is not a valid JWT") from None


def parse(token: str) -> IdToken:
    """A compact JWS: three base64url parts, JSON header and claims."""
    if len(token) > TOKEN_MAX:
        raise IamError("ValidationError", f"WebIdentityToken must be at most {TOKEN_MAX} characters")
    parts = token.split(".")
    if len(parts) != 3:
        raise invalid("The ID token is not a valid JWT")
    try:
        header, claims = json.loads(_b64(parts[0])), json.loads(_b64(parts[1]))
    except (ValueError, UnicodeDecodeError):
        raise invalid("The ID token is not a valid JWT") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise invalid("The ID token is not a valid JWT")
    return IdToken(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii", "replace"), _b64(parts[2]))


def check_claims(token: IdToken, clients: list[str], now: float) -> None:
    """exp, nbf, iat and the audience (one of the provider's client ids)."""
    exp = token.claims.get("exp")
    if not isinstance(exp, (int, float)):
        raise invalid("The ID token has no expiry (exp)")
    if exp <= now:
        raise IamError("ExpiredTokenException", "Token expired: current date/time must be before the expiration "
                       "date/time")
    nbf = token.claims.get("nbf")
    if nbf is not None and (not isinstance(nbf, (int, float)) or nbf > now + CLOCK_SKEW):
        raise invalid("The ID token is not valid yet (nbf)")
    iat = token.claims.get("iat")
    if iat is not None and (not isinstance(iat, (int, float)) or iat > now + CLOCK_SKEW):
        raise invalid("The ID token was issued in the future (iat)")
    if not isinstance(token.claims.get("sub"), str):
        raise invalid("The ID token has no subject (sub)")
    if not set(token.audiences) & set(clients):
        raise invalid("Incorrect token audience")


TAGS_CLAIM = "https://aws.amazon.com/tags"


def session_tags(token: IdToken) -> dict[str, str]:
    """Session tags a token carries, as AWS reads them: the claim
    ``https://aws.amazon.com/tags`` with ``principal_tags`` {key: [value]}
    (its ``transitive_tag_keys`` are not carried into role chaining)."""
    claim = token.claims.get(TAGS_CLAIM)
    if claim is None:
        return {}
    raw = claim.get("principal_tags") if isinstance(claim, dict) else None
    if not isinstance(raw, dict) or len(raw) > 50:
        raise invalid(f"The {TAGS_CLAIM} claim must hold principal_tags: at most 50 keys with one value each")
    out: dict[str, str] = {}
    for key, values in raw.items():
        value = values[0] if isinstance(values, list) and len(values) == 1 else values
        if not isinstance(value, str) or not 1 <= len(key) <= 128 or len(value) > 256 or \
                key.lower().startswith("aws:"):
            raise invalid(f"The session tag {key!r} of the {TAGS_CLAIM} claim is not valid")
        out[key] = value
    return out


def _int(raw: str) -> int:
    return int.from_bytes(_b64(raw), "big")


def _verifies(jwk: dict[str, Any], alg: str, signed: bytes, signature: bytes) -> bool:
    family, bits = alg[:2], alg[2:]
    digest = _HASHES.get(bits)
    if digest is None:
        return False
    try:
        if family == "RS" and jwk.get("kty") == "RSA":
            rsa_key = rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key()
            rsa_key.verify(signature, signed, padding.PKCS1v15(), digest())
            return True
        if family == "ES" and jwk.get("kty") == "EC" and jwk.get("crv") in _CURVES:
            curve, size = _CURVES[jwk["crv"]]
            if len(signature) != 2 * size:
                return False
            ec_key = ec.EllipticCurvePublicNumbers(_int(jwk["x"]), _int(jwk["y"]), curve()).public_key()
            der = encode_dss_signature(int.from_bytes(signature[:size], "big"),
                                       int.from_bytes(signature[size:], "big"))
            ec_key.verify(der, signed, ec.ECDSA(digest()))
            return True
    except (InvalidSignature, KeyError, ValueError, TypeError):
        return False
    return False


def verify_signature(token: IdToken, jwks: list[dict[str, Any]]) -> bool:
    """Whether one of the provider's keys (the one the header's ``kid`` names, if it names one) signed it."""
    alg = token.header.get("alg")
    if alg not in ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512"):
        raise invalid(f"The ID token's algorithm {alg!r} is not supported (RS256, ES256, ...)")
    kid = token.header.get("kid")
    candidates = [k for k in jwks if isinstance(k, dict) and (kid is None or k.get("kid") == kid)
                  and k.get("use", "sig") == "sig"]
    return any(_verifies(k, alg, token.signed, token.signature) for k in candidates)


def _get_json(url: str) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "pails"})
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310 - http(s) checked
        body = response.read(FETCH_MAX + 1)
    if len(body) > FETCH_MAX:
        raise ValueError("response too large")
    return json.loads(body)


class ProviderKeys:
    """The signing keys of OIDC issuers, fetched on demand and kept briefly (per process)."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[float, list[dict[str, Any]]]] = {}  # issuer -> (fetched at, keys)
        self._lock = threading.Lock()

    def keys(self, issuer: str, refresh: bool = False) -> list[dict[str, Any]]:
        """Blocking (run it in a thread): IamError IDPCommunicationError if the provider cannot be read."""
        now = time.monotonic()
        with self._lock:
            hit = self._keys.get(issuer)
        if hit is not None and now - hit[0] < (REFETCH_MIN if refresh else KEYS_TTL):
            return hit[1]
        if not issuer.startswith(("https://", "http://")):
            raise IamError("IDPCommunicationError", "The issuer is not an http(s) URL")
        try:
            config = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
            jwks_uri = config.get("jwks_uri") if isinstance(config, dict) else None
            if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
                raise ValueError("no jwks_uri in the provider's configuration")
            jwks = _get_json(jwks_uri)
            keys = jwks.get("keys") if isinstance(jwks, dict) else None
            if not isinstance(keys, list):
                raise ValueError("no keys in the provider's JWKS")
        except (OSError, ValueError) as exc:
            raise IamError("IDPCommunicationError", f"Could not read the keys of the identity provider: {exc}") \
                from None
        with self._lock:
            self._keys[issuer] = (now, keys)
        return keys
