"""STS actions, their XML, and who may call them."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import string
import time
from urllib.parse import parse_qsl

from pails.access.policy import (
    MalformedIdentityPolicy,
    Principal,
    evaluate,
    identity_decision,
    parse_policy,
    parse_trust_policy,
    session_keys,
)
from pails.iam.errors import IamError
from pails.iam.render import date, e, error, response
from pails.iam.tags import parse_tags
from pails.storage.crypto import seal_secret
from pails.storage.engine import Engine
from pails.storage.records import IamEntity, IamState, User
from pails.sts import oidc_token
from pails.users import new_secret_key

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
_ALPHABET = string.ascii_uppercase + string.digits
_ROLE_ARN = re.compile(r"arn:aws:iam::(\d{12}):role(/(?:.*/)?)([\w+=,.@-]+)")
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")
SESSION_POLICY_MAX = 2048


def _session(engine: Engine, caller_account: str, expires: float, *, user: str | None = None,
             role: str | None = None, name: str | None = None, policy: str | None = None,
             parent_key: str | None = None, tags: dict[str, str] | None = None) -> tuple[str, str, str]:
    """New temporary credentials: (access key id, secret, session token).
    ``parent_key``: the long-term key they were made with (GetSessionToken),
    which must stay active for them to be accepted."""
    access_key = "ASIA" + "".join(secrets.choice(_ALPHABET) for _ in range(16))
    secret = new_secret_key()
    session = {"k": access_key, "s": secret, "e": expires, "i": time.time(), "a": caller_account, "u": user,
               "r": role, "n": name, "p": policy, "pk": parent_key, "t": tags or None}
    token = seal_secret(engine.keys.master(), json.dumps({k: v for k, v in session.items() if v is not None}))
    return access_key, secret, token


def _credentials(access_key: str, secret: str, token: str, expires: float) -> str:
    return (f"<Credentials>{e('AccessKeyId', access_key)}{e('SecretAccessKey', secret)}"
            f"{e('SessionToken', token)}{e('Expiration', date(expires))}</Credentials>")


def _duration(raw: str | None, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise IamError("ValidationError", f"DurationSeconds must be between {low} and {high} seconds")
    return int(raw)


def _user_id(caller: User) -> str:
    if caller.iam_user is None:
        return caller.account_id
    return caller.iam_user_id


async def get_caller_identity(engine: Engine, caller: User, params: dict[str, str]) -> str:
    return e("Arn", caller.arn) + e("UserId", _user_id(caller)) + e("Account", caller.account_id)


async def get_session_token(engine: Engine, caller: User, params: dict[str, str]) -> str:
    if caller.session_token is not None:
        raise IamError("AccessDenied", "Cannot call GetSessionToken with session credentials")
    high = 3600 if caller.iam_user is None else 129600  # an account root's sessions last an hour at most
    duration = _duration(params.get("DurationSeconds"), min(43200, high), 900, high)
    expires = time.time() + duration
    access_key, secret, token = _session(engine, caller.account_id, expires, user=caller.iam_user,
                                         parent_key=caller.access_key)
    return _credentials(access_key, secret, token, expires)


def _names_caller(trust: str, caller: User) -> bool:
    """Whether the trust policy allows the caller by its own ARN (not by its account or "*")."""
    try:
        policy = parse_trust_policy(trust)
    except MalformedIdentityPolicy:
        return False
    return any(s.effect == "Allow" and s.principals and f"AWS:{caller.arn}" in s.principals
               for s in policy.statements)


def _trusted(trust: str, caller: User, context: dict[str, tuple[str, ...]], action: str = "sts:AssumeRole") -> bool:
    try:
        policy = parse_trust_policy(trust)
    except MalformedIdentityPolicy:
        return False
    who = Principal(caller.canonical_id, "", caller.arn, caller.account_id)
    if caller.role_session is not None:  # a role session is also named by its role's ARN
        role_arn = f"arn:aws:iam::{caller.account_id}:role{caller.iam_path}{caller.iam_user}"
        return any(evaluate(policy, p, action, "*", context) == "Allow"
                   for p in (who, Principal(caller.canonical_id, "", role_arn, caller.account_id)))
    return evaluate(policy, who, action, "*", context) == "Allow"


async def _role(engine: Engine, params: dict[str, str], who: str,
                action: str) -> tuple[str, str, str, IamState, IamEntity]:
    """(role ARN, session name, the role's account id, the account's IAM state, the role)."""
    role_arn = params.get("RoleArn")
    session_name = params.get("RoleSessionName")
    if not role_arn or not session_name:
        raise IamError("ValidationError", "RoleArn and RoleSessionName are required")
    if not _SESSION_NAME.fullmatch(session_name):
        raise IamError("ValidationError", "RoleSessionName must be 2 to 64 of the characters [\\w+=,.@-]")
    m = _ROLE_ARN.fullmatch(role_arn)
    if m is None:
        raise IamError("ValidationError", f"{role_arn} is not a role ARN")
    account = await engine.meta.get_account(m.group(1))
    state = await engine.meta.iam_state(m.group(1)) if account is not None else None
    role = state.entities.get(("role", m.group(3).lower())) if state is not None else None
    if role is None or state is None:
        raise IamError("AccessDenied", f"{who} is not authorized to perform: {action} on resource: {role_arn}")
    return role_arn, session_name, m.group(1), state, role


def _session_policy(params: dict[str, str]) -> str | None:
    policy = params.get("Policy")
    if policy is not None:
        if len(policy) > SESSION_POLICY_MAX:
            raise IamError("PackedPolicyTooLarge", "The session policy is larger than allowed")
        try:
            parse_policy(policy, None)
        except MalformedIdentityPolicy as exc:
            raise IamError("MalformedPolicyDocument", exc.message) from None
    return policy


def _assumed(role: IamEntity, account_id: str, session_name: str, policy: str | None) -> str:
    assumed = (f"<AssumedRoleUser>{e('AssumedRoleId', f'{role.id}:{session_name}')}"
               f"{e('Arn', f'arn:aws:sts::{account_id}:assumed-role/{role.name}/{session_name}')}"
               "</AssumedRoleUser>")
    packed = e("PackedPolicySize", len(policy) * 100 // SESSION_POLICY_MAX) if policy is not None else ""
    return assumed + packed


def _session_tags(params: dict[str, str]) -> dict[str, str]:
    if params.get("TransitiveTagKeys.member.1") is not None:
        raise IamError("InvalidParameterValue", "TransitiveTagKeys are not supported (docs/iam.md)")
    return parse_tags(params)


def _request_tags(tags: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """The condition keys of session tags being set: aws:RequestTag/<key>, aws:TagKeys."""
    out: dict[str, tuple[str, ...]] = {f"aws:requesttag/{k.lower()}": (v,) for k, v in tags.items()}
    if tags:
        out["aws:tagkeys"] = tuple(tags)
    return out


async def assume_role(engine: Engine, caller: User, params: dict[str, str]) -> str:
    role_arn, session_name, account_id, _, role = await _role(engine, params, f"User: {caller.arn}",
                                                              "sts:AssumeRole")
    tags = _session_tags(params)
    context = {"aws:principalarn": (caller.arn,), "aws:principalaccount": (caller.account_id,),
               "sts:rolesessionname": (session_name,),
               **session_keys(caller.principal_tags, caller.token_issued), **_request_tags(tags)}
    denied = IamError("AccessDenied", f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on "
                      f"resource: {role_arn}")
    if not caller.operator:
        if not _trusted(role.doc.get("trust", ""), caller, context):
            raise denied
        if tags and not _trusted(role.doc.get("trust", ""), caller, context, "sts:TagSession"):
            raise IamError("AccessDenied", f"User: {caller.arn} is not authorized to perform: sts:TagSession on "
                           f"resource: {role_arn}")
        # A Deny in the caller's policies binds it.  From another account, a trust
        # policy that names only the caller's account (or "*") delegates to that
        # account: its IAM user (or role session) needs its own policies to allow
        # it; one that names the caller's ARN is the role's account's own grant.
        identity = identity_decision(caller.policies, caller.session_policy,
                                     Principal(caller.canonical_id, "", caller.arn, caller.account_id),
                                     "sts:AssumeRole", (role_arn,), context, caller.boundary)
        delegated = caller.iam_user is not None and caller.account_id != account_id and \
            not _names_caller(role.doc.get("trust", ""), caller)
        if identity == "Deny" or (identity is None and delegated):
            raise denied
    policy = _session_policy(params)
    duration = _duration(params.get("DurationSeconds"), 3600, 900, int(role.doc.get("max_session", 3600)))
    expires = time.time() + duration
    access_key, secret, token = _session(engine, account_id, expires, role=role.name, name=session_name,
                                         policy=policy, tags=tags)
    return _credentials(access_key, secret, token, expires) + _assumed(role, account_id, session_name, policy)


async def assume_role_with_web_identity(engine: Engine, caller: User | None, params: dict[str, str]) -> str:
    """An OIDC provider's ID token for a role's credentials (no AWS credentials needed, as on AWS)."""
    id_token = oidc_token.parse(params.get("WebIdentityToken") or "")
    if params.get("ProviderId"):
        raise IamError("InvalidParameterValue", "ProviderId is for OAuth 2.0 providers, which Pails does not "
                       "serve; OpenID Connect tokens need none")
    denied = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
    role_arn, session_name, account_id, state, role = await _role(engine, params, "Web identity",
                                                                  "sts:AssumeRoleWithWebIdentity")
    issuer = id_token.issuer.rstrip("/")
    host = issuer.split("://", 1)[-1]
    provider = state.entities.get(("oidc", host.lower())) if issuer.startswith(("https://", "http://")) else None
    if provider is None:
        raise IamError("InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {issuer}")
    oidc_token.check_claims(id_token, list(provider.doc.get("clients", ())), time.time())
    url = str(provider.doc.get("url", issuer)).rstrip("/")  # the registered URL is what is fetched
    keys = await asyncio.to_thread(_PROVIDER_KEYS.keys, url)
    if not oidc_token.verify_signature(id_token, keys):  # perhaps the provider rotated its keys: read them again
        keys = await asyncio.to_thread(_PROVIDER_KEYS.keys, url, True)
        if not oidc_token.verify_signature(id_token, keys):
            raise IamError("InvalidIdentityToken", "The ID token's signature is not valid")
    audience = next(a for a in id_token.audiences if a in provider.doc.get("clients", ()))
    subject = str(id_token.claims["sub"])
    provider_arn = f"arn:aws:iam::{account_id}:oidc-provider/{provider.name}"
    prefix = provider.name.lower()
    context = {f"{prefix}:sub": (subject,), f"{prefix}:aud": (audience,), f"{prefix}:iss": (issuer,),
               "aws:federatedprovider": (provider_arn,)}
    if isinstance(id_token.claims.get("amr"), list):
        context[f"{prefix}:amr"] = tuple(str(a) for a in id_token.claims["amr"])
    tags = oidc_token.session_tags(id_token)
    context.update(_request_tags(tags))
    try:
        trust = parse_trust_policy(role.doc.get("trust", ""))
    except MalformedIdentityPolicy:
        raise IamError("AccessDenied", denied) from None
    web = Principal(None, federated=provider_arn)
    if evaluate(trust, web, "sts:AssumeRoleWithWebIdentity", "*", context) != "Allow":
        raise IamError("AccessDenied", denied)
    if tags and evaluate(trust, web, "sts:TagSession", "*", context) != "Allow":
        raise IamError("AccessDenied", "Not authorized to perform sts:TagSession")
    policy = _session_policy(params)
    duration = _duration(params.get("DurationSeconds"), 3600, 900, int(role.doc.get("max_session", 3600)))
    expires = time.time() + duration
    access_key, secret, token = _session(engine, account_id, expires, role=role.name, name=session_name,
                                         policy=policy, tags=tags)
    return (_credentials(access_key, secret, token, expires) + e("SubjectFromWebIdentityToken", subject)
            + _assumed(role, account_id, session_name, policy) + e("Provider", issuer) + e("Audience", audience))


_PROVIDER_KEYS = oidc_token.ProviderKeys()
UNSIGNED_ACTIONS = frozenset({"AssumeRoleWithWebIdentity"})  # called without AWS credentials, as on AWS

def unsigned_call(form: bytes) -> bool:
    """Whether an unsigned form POST is an STS action AWS serves without credentials."""
    if b"Action=AssumeRoleWith" not in form:
        return False
    try:
        params = dict(parse_qsl(form.decode("utf-8")))
    except UnicodeDecodeError:
        return False
    return params.get("Action") in UNSIGNED_ACTIONS and params.get("Version") == "2011-06-15"


ACTIONS = {
    "GetCallerIdentity": get_caller_identity,
    "GetSessionToken": get_session_token,
    "AssumeRole": assume_role,
    "AssumeRoleWithWebIdentity": assume_role_with_web_identity,
}


async def handle(engine: Engine, form: bytes, caller: User | None, request_id: str) -> tuple[int, bytes]:
    """(HTTP status, XML body) of one STS call."""
    try:
        try:
            params = dict(parse_qsl(form.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise IamError("InvalidInput", "The request body is not UTF-8") from None
        name = params.pop("Action", "")
        params.pop("Version", None)
        action = ACTIONS.get(name)
        if action is None:
            raise IamError("InvalidAction", f"Could not find operation {name} for version 2011-06-15")
        if caller is None and name not in UNSIGNED_ACTIONS:
            raise IamError("AccessDenied", "Anonymous requests are not allowed for STS")
        result = await action(engine, caller, params)
        return 200, response(name, result, request_id, NAMESPACE)
    except IamError as err:
        return err.status, error(err, request_id, NAMESPACE)
