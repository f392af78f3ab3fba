"""The Query APIs on the S3 endpoint: parse the form, find the action, check
that the caller may call it, run it, and answer in AWS's XML.

Who may call IAM actions (docs/iam.md): an account root, for its account
(unless a policy the operator set on it denies the action); an IAM user,
where its identity policies allow ``iam:<Action>``; the operator, for its
own account, for the root policies of any account, and for any account it
names in the ``x-pails-account`` header (account id or name)."""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qsl

from pails.access.policy import session_keys
from pails.iam import render
from pails.iam.actions import ACTIONS
from pails.iam.errors import IamError
from pails.iam.model import Call
from pails.storage.engine import Engine
from pails.storage.records import User

log = logging.getLogger("pails")

API_VERSION = "2010-05-08"
ACCOUNT_HEADER = "x-pails-account"
_RESOURCE_PARAMS = (("UserName", "user"), ("GroupName", "group"), ("RoleName", "role"))


def _context(caller: User, client_ip: str) -> dict[str, tuple[str, ...]]:
    now = time.time()
    ctx = {
        "aws:currenttime": (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),),
        "aws:epochtime": (str(int(now)),),
        "aws:securetransport": ("false",),
        "aws:principalarn": (caller.arn,),
        "aws:principalaccount": (caller.account_id,),
        "aws:username": (caller.iam_user or caller.display_name,),
        "aws:userid": (caller.iam_user_id or caller.account_id,),
    }
    if client_ip:
        ctx["aws:sourceip"] = (client_ip,)
    ctx.update(session_keys(caller.principal_tags, caller.token_issued))
    return ctx


def _resources(call: Call) -> tuple[str, ...]:
    """The ARNs an action acts on, as identity policies name them."""
    if call.get("PolicyArn"):
        return (call.params["PolicyArn"],)
    for param, kind in _RESOURCE_PARAMS:
        if call.get(param):
            return (f"arn:aws:iam::{call.account_id}:{kind}/{call.params[param]}",
                    f"arn:aws:iam:::{kind}/{call.params[param]}")
    if call.caller.iam_user is not None and call.action.endswith("AccessKey") or call.action == "ListAccessKeys":
        return (call.caller.arn,)
    return (f"arn:aws:iam::{call.account_id}:*", "*")


async def _add_resource_tags(call: Call) -> None:
    """``iam:ResourceTag/<key>`` (and ``aws:ResourceTag/<key>``): the tags of the user or role the call names."""
    for param, kind in (("UserName", "user"), ("RoleName", "role")):  # what has tags
        name = call.get(param)
        if name:
            found = (await call.state()).entities.get((kind, name.lower()))
            for k, v in (found.doc.get("tags", {}) if found is not None else {}).items():
                call.context[f"iam:resourcetag/{k.lower()}"] = (v,)
                call.context[f"aws:resourcetag/{k.lower()}"] = (v,)
            return


def _authorize(call: Call) -> None:
    caller = call.caller
    if caller.operator:
        return
    decision = call.identity(_resources(call))
    if decision == "Deny" or (decision is None and caller.iam_user is not None):
        raise IamError("AccessDenied", f"User: {caller.arn} is not authorized to perform: iam:{call.action}")


async def _account_for(engine: Engine, caller: User, headers: dict[str, str]) -> str:
    named = headers.get(ACCOUNT_HEADER)
    if named is None:
        return caller.account_id
    if not caller.operator:
        raise IamError("AccessDenied", f"only the operator may name an account in {ACCOUNT_HEADER}")
    account = next((u for u in await engine.meta.list_users() if named in (u.account_id, u.display_name)), None)
    if account is None:
        raise IamError("NoSuchEntity", f"The account {named} cannot be found.")
    return account.account_id


async def handle(engine: Engine, service: str, form: bytes, caller: User | None, request_id: str,
                 headers: dict[str, str], client_ip: str) -> tuple[int, bytes, bool]:
    """(HTTP status, XML body, whether keys or policies may have changed)."""
    action_name = ""
    try:
        try:
            params = dict(parse_qsl(form.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError:
            raise IamError("InvalidInput", "The request body is not UTF-8") from None
        action_name = params.pop("Action", "")
        params.pop("Version", None)
        if service != "iam":
            raise IamError("InvalidAction", f"The {service} API is not served yet (docs/iam.md).")
        if not action_name:
            raise IamError("MissingAction", "Missing Action")
        action = ACTIONS.get(action_name)
        if action is None:
            raise IamError("InvalidAction", f"Could not find operation {action_name} for version {API_VERSION}")
        if caller is None:
            raise IamError("AccessDenied", "Anonymous requests are not allowed for IAM")
        call = Call(action_name, params, caller, await _account_for(engine, caller, headers), engine,
                    _context(caller, client_ip))
        if not caller.operator and (caller.policies or caller.session_policy is not None):
            await _add_resource_tags(call)
        _authorize(call)
        result = await action.handler(call)
        return 200, render.response(action_name, result, request_id), action.writes
    except IamError as err:
        return err.status, render.error(err, request_id), False


def refused(service: str, code: str, message: str, status: int, request_id: str) -> bytes:
    """An authentication failure of an IAM or STS call, as that API words its
    errors (``ErrorResponse``, which the SDKs parse; S3's ``Error`` they do not)."""
    from pails.sts.api import NAMESPACE as STS_NAMESPACE

    err = IamError(code, message)
    err.status = status
    return render.error(err, request_id, STS_NAMESPACE if service == "sts" else render.NAMESPACE)

