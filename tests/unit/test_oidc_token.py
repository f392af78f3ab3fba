"""Unit tests for OIDC ID tokens (pails.sts.oidc_token): parsing, claims,
RS256/ES256 signatures checked against a JWKS."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from pails.iam.errors import IamError
from pails.sts import oidc_token

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwks() -> list[dict[str, Any]]:
    n, p = RSA_KEY.public_key().public_numbers(), EC_KEY.public_key().public_numbers()
    return [{"kty": "RSA", "kid": "r", "n": b64(n.n.to_bytes(256, "big")), "e": b64(n.e.to_bytes(3, "big"))},
            {"kty": "EC", "kid": "e", "crv": "P-256", "x": b64(p.x.to_bytes(32, "big")),
             "y": b64(p.y.to_bytes(32, "big"))}]


def token(alg: str = "RS256", kid: str | None = None, **claims: Any) -> str:
    now = int(time.time())
    header = {"alg": alg, **({"kid": kid} if kid else {})}
    body = {"iss": "https://id.example.com", "sub": "alice", "aud": "app", "exp": now + 60, "iat": now, **claims}
    signed = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}".encode()
    if alg == "RS256":
        sig = RSA_KEY.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        r, s = decode_dss_signature(EC_KEY.sign(signed, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        sig = b""
    return f"{signed.decode()}.{b64(sig)}"


@pytest.mark.parametrize("alg, kid", [("RS256", "r"), ("RS256", None), ("ES256", "e"), ("ES256", None)])
def test_signatures_verify(alg: str, kid: str | None) -> None:
    parsed = oidc_token.parse(token(alg, kid))
    assert oidc_token.verify_signature(parsed, jwks())
    assert parsed.issuer == "https://id.example.com" and parsed.audiences == ("app",)


def test_a_tampered_token_or_the_wrong_key_does_not_verify() -> None:
    head, body, sig = token("RS256", "r").split(".")
    other = b64(json.dumps({"sub": "mallory", "aud": "app", "exp": 2**40}).encode())
    assert not oidc_token.verify_signature(oidc_token.parse(f"{head}.{other}.{sig}"), jwks())
    assert not oidc_token.verify_signature(oidc_token.parse(token("RS256", "e")), jwks())  # kid names the EC key
    assert not oidc_token.verify_signature(oidc_token.parse(token("ES256")), jwks()[:1])


def test_unsupported_algorithms_are_refused() -> None:
    for alg in ("none", "HS256"):
        with pytest.raises(IamError) as e:
            oidc_token.verify_signature(oidc_token.parse(token(alg)), jwks())
        assert e.value.code == "InvalidIdentityToken"


@pytest.mark.parametrize("text", ["", "a.b", "a.b.c", "e30.e30", "!!.??.x", "W10.W10.x"])
def test_malformed_tokens(text: str) -> None:
    with pytest.raises(IamError) as e:
        oidc_token.parse(text)
    assert e.value.code == "InvalidIdentityToken"


def test_claims() -> None:
    now = time.time()
    oidc_token.check_claims(oidc_token.parse(token()), ["other", "app"], now)
    oidc_token.check_claims(oidc_token.parse(token(aud=["x", "app"])), ["app"], now)
    cases = [(dict(aud="x"), "InvalidIdentityToken"), (dict(exp=int(now) - 1), "ExpiredTokenException"),
             (dict(exp="soon"), "InvalidIdentityToken"), (dict(nbf=int(now) + 600), "InvalidIdentityToken"),
             (dict(iat=int(now) + 600), "InvalidIdentityToken"), (dict(sub=5), "InvalidIdentityToken")]
    for claims, code in cases:
        with pytest.raises(IamError) as e:
            oidc_token.check_claims(oidc_token.parse(token(**claims)), ["app"], now)
        assert e.value.code == code, claims
    with pytest.raises(IamError):
        oidc_token.check_claims(oidc_token.parse(token()), [], now)  # a provider without client ids accepts none


def test_session_tags_claim() -> None:
    claim = oidc_token.TAGS_CLAIM
    assert oidc_token.session_tags(oidc_token.parse(token())) == {}
    parsed = oidc_token.parse(token(**{claim: {"principal_tags": {"team": ["blue"], "cost": "c1"},
                                               "transitive_tag_keys": ["team"]}}))
    assert oidc_token.session_tags(parsed) == {"team": "blue", "cost": "c1"}
    for bad in ({"principal_tags": {"aws:x": ["1"]}}, {"principal_tags": {"k": ["1", "2"]}}, {"principal_tags": 5},
                "tags", {"principal_tags": {"k": ["v" * 257]}}):
        with pytest.raises(IamError):
            oidc_token.session_tags(oidc_token.parse(token(**{claim: bad})))
