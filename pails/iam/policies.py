"""Identity policies: inline policies of users, groups, roles and account
roots, customer managed policies with versions, AWS managed policies Pails
knows (``iam_rows.AWS_MANAGED``), and attachments."""

from __future__ import annotations

import re
import time
from dataclasses import replace

from pails.iam import render
from pails.iam.errors import IamError, no_such
from pails.iam.model import (
    INLINE_POLICY_MAX,
    MANAGED_POLICY_MAX,
    POLICY_VERSIONS_MAX,
    Call,
    check_name,
    check_path,
    check_policy,
    check_policy_name,
    copy_doc,
    entities,
    entity,
    new_entity,
    paginate,
)
from pails.iam.tags import boundary_uses
from pails.storage.iam_rows import AWS_MANAGED, AWS_MANAGED_PREFIX
from pails.storage.records import IamEntity, IamState, IamWrite

_NAME_PARAM = {"user": "UserName", "group": "GroupName", "role": "RoleName"}
_ACCOUNT_POLICY_ARN = re.compile(r"arn:aws:iam::(\d{12}):policy(/(?:.*/)?)([\w+=,.@-]+)")
_AWS_CREATED = 1_420_070_400.0  # 2015-01-01, the date AWS shows for its managed policies here


# --- whose policies --------------------------------------------------------------------------------


async def _target(call: Call, kind: str) -> tuple[Call, str, str]:
    """(the call on the right account, kind, name) of the principal a policy
    action names.  A UserName that is no IAM user of the account but names
    an account (its canonical id, account id or name) means that account's
    root: the operator may set policies on any account's root (as Ceph RGW
    sets "user policies" on users outside accounts), an account its own."""
    name = call.need(_NAME_PARAM[kind])
    if kind != "user":
        check_name(kind, name, _NAME_PARAM[kind][0].lower() + _NAME_PARAM[kind][1:])
        return call, kind, name
    state = await call.state()
    if ("user", name.lower()) in state.entities:
        return call, "user", name
    account = next((u for u in await call.engine.meta.list_users()
                    if name in (u.canonical_id, u.account_id, u.display_name)), None)
    if account is not None and (call.caller.operator or account.account_id == call.caller.account_id):
        if not call.caller.operator:  # an account's own root policies are the operator's to grant
            arns = (f"arn:aws:iam::{account.account_id}:user/{name}", f"arn:aws:iam:::user/{name}")
            if call.identity(arns) != "Allow":
                raise IamError("AccessDenied", f"User: {call.caller.arn} is not authorized to perform: "
                               f"iam:{call.action} on resource: {arns[0]}")
        return replace(call, account_id=account.account_id), "root", ""
    check_name("user", name, "userName")
    raise no_such("user", name)


def _holder(state: IamState, kind: str, name: str) -> IamEntity:
    """The entity holding the policies (an account root's is made on first use)."""
    if kind == "root":
        return state.entities.get(("root", "")) or IamEntity("root", "", "", "/", time.time(), {})
    return entity(state, kind, name)


def _store(write: IamWrite, holder: IamEntity) -> IamWrite:
    """Keep the holder, or drop an account root's entity once it holds nothing
    (the key lookup then needs no second read for that root)."""
    if holder.kind == "root" and not holder.doc.get("inline") and not holder.doc.get("attached"):
        write.delete.append(("root", ""))
    else:
        write.put.append(holder)
    return write


# --- inline policies ---------------------------------------------------------------------------------


def put_inline(kind: str):  # type: ignore[no-untyped-def]
    async def handler(call: Call) -> None:
        call, target_kind, name = await _target(call, kind)
        policy_name = check_policy_name(call.get("PolicyName"))
        document = check_policy(call.get("PolicyDocument"), INLINE_POLICY_MAX[target_kind])

        def change(state: IamState) -> tuple[None, IamWrite]:
            holder = _holder(state, target_kind, name)
            inline = dict(holder.doc.get("inline", {}))
            inline[policy_name] = document
            if sum(len(d) for d in inline.values()) > INLINE_POLICY_MAX[target_kind]:
                raise IamError("LimitExceeded", f"Maximum policy size of {INLINE_POLICY_MAX[target_kind]} bytes "
                               f"exceeded for {target_kind} {name}")
            return None, _store(IamWrite(), copy_doc(holder, inline=inline))
        await call.change(change)
    return handler


def get_inline(kind: str):  # type: ignore[no-untyped-def]
    async def handler(call: Call) -> str:
        call, target_kind, name = await _target(call, kind)
        policy_name = call.need("PolicyName")
        holder = _holder(await call.state(), target_kind, name)
        document = holder.doc.get("inline", {}).get(policy_name)
        if document is None:
            raise IamError("NoSuchEntity", f"The {kind} policy with name {policy_name} cannot be found.")
        shown = call.params[_NAME_PARAM[kind]] if target_kind == "root" else holder.name
        return (render.e(_NAME_PARAM[kind], shown) + render.e("PolicyName", policy_name)
                + f"<PolicyDocument>{render.policy_text(document)}</PolicyDocument>")
    return handler


def delete_inline(kind: str):  # type: ignore[no-untyped-def]
    async def handler(call: Call) -> None:
        call, target_kind, name = await _target(call, kind)
        policy_name = call.need("PolicyName")

        def change(state: IamState) -> tuple[None, IamWrite]:
            holder = _holder(state, target_kind, name)
            inline = dict(holder.doc.get("inline", {}))
            if inline.pop(policy_name, None) is None:
                raise IamError("NoSuchEntity", f"The {kind} policy with name {policy_name} cannot be found.")
            return None, _store(IamWrite(), copy_doc(holder, inline=inline))
        await call.change(change)
    return handler


def list_inline(kind: str):  # type: ignore[no-untyped-def]
    async def handler(call: Call) -> str:
        call, target_kind, name = await _target(call, kind)
        holder = _holder(await call.state(), target_kind, name)
        names, truncated, marker = paginate(list(holder.doc.get("inline", {})), call.params, lambda n: n)
        return render.page([render.xml.escape(n) for n in names], "PolicyNames", truncated, marker)
    return handler


# --- attachments ------------------------------------------------------------------------------------


def _policy_exists(call: Call, state: IamState, policy_arn: str) -> str:
    """The policy's name, if ``policy_arn`` names one this account may attach."""
    if policy_arn.startswith(AWS_MANAGED_PREFIX):
        name = policy_arn[len(AWS_MANAGED_PREFIX):]
        if name in AWS_MANAGED:
            return name
    else:
        m = _ACCOUNT_POLICY_ARN.fullmatch(policy_arn)
        if m and m.group(1) == call.account_id and ("policy", m.group(3).lower()) in state.entities:
            return m.group(3)
    if not policy_arn.startswith("arn:"):
        raise IamError("InvalidInput", f"ARN {policy_arn} is not valid.")
    raise IamError("NoSuchEntity", f"Policy {policy_arn} does not exist or is not attachable.")


def attach(kind: str):  # type: ignore[no-untyped-def]
    async def handler(call: Call) -> None:
        call, target_kind, name = await _target(call, kind)
        policy_arn = call.need("PolicyArn")

        def change(state: IamState) -> tuple[None, IamWrite]:
            holder = _holder(state, target_kind, name)
            _policy_exists(call, state, policy_arn)
            attached = list(holder.doc.get("attached", []))
            if policy_arn in attached:
                return None, IamWrite()
            if len(attached) >= 10:
                raise IamError("LimitExceeded", "Cannot exceed quota for PoliciesPerUser: 10")
            return None, _store(IamWrite(), copy_doc(holder, attached=[*attached, policy_arn]))
        await call.change(change)
    return handler


def detach(kind: str):  # type: ignore[no-untyped-def]
    async def handler(call: Call) -> None:
        call, target_kind, name = await _target(call, kind)
        policy_arn = call.need("PolicyArn")

        def change(state: IamState) -> tuple[None, IamWrite]:
            holder = _holder(state, target_kind, name)
            attached = list(holder.doc.get("attached", []))
            if policy_arn not in attached:
                raise IamError("NoSuchEntity", f"Policy {policy_arn} was not found.")
            attached.remove(policy_arn)
            return None, _store(IamWrite(), copy_doc(holder, attached=attached))
        await call.change(change)
    return handler


def list_attached(kind: str):  # type: ignore[no-untyped-def]
    async def handler(call: Call) -> str:
        call, target_kind, name = await _target(call, kind)
        holder = _holder(await call.state(), target_kind, name)
        prefix = call.get("PathPrefix") or "/"
        arns = [a for a in holder.doc.get("attached", []) if _arn_path(a).startswith(prefix)]
        page, truncated, marker = paginate(arns, call.params, lambda a: a)
        items = [render.e("PolicyName", a.rsplit("/", 1)[-1]) + render.e("PolicyArn", a) for a in page]
        return render.page(items, "AttachedPolicies", truncated, marker)
    return handler


def _arn_path(policy_arn: str) -> str:
    rest = policy_arn.split(":policy", 1)[-1]
    return rest[: rest.rfind("/") + 1] or "/"


# --- managed policies -------------------------------------------------------------------------------


def _attachments(state: IamState, policy_arn: str) -> int:
    return sum(1 for e in state.entities.values() if policy_arn in e.doc.get("attached", ()))


def _local_policy(call: Call, state: IamState, policy_arn: str) -> IamEntity:
    m = _ACCOUNT_POLICY_ARN.fullmatch(policy_arn)
    found = state.entities.get(("policy", m.group(3).lower())) if m and m.group(1) == call.account_id else None
    if found is None:
        if not policy_arn.startswith("arn:"):
            raise IamError("InvalidInput", f"ARN {policy_arn} is not valid.")
        raise IamError("NoSuchEntity", f"Policy {policy_arn} does not exist or is not attachable.")
    return found


def _aws_policy(name: str) -> IamEntity:
    return IamEntity("policy", name, "ANPA" + name.upper()[:17].ljust(17, "A"), "/", _AWS_CREATED,
                     {"default": "v1", "versions": {"v1": {"document": AWS_MANAGED[name], "created": _AWS_CREATED}}})


async def create_policy(call: Call) -> str:
    name = check_name("policy", call.get("PolicyName"), "policyName")
    path = check_path(call.get("Path"))
    document = check_policy(call.get("PolicyDocument"), MANAGED_POLICY_MAX)
    now = time.time()
    doc = {"versions": {"v1": {"document": document, "created": now}}, "default": "v1", "next": 2,
           "description": call.get("Description") or "", "updated": now}

    def change(state: IamState) -> tuple[IamEntity, IamWrite]:
        policy = new_entity(state, "policy", name, path, doc)
        return policy, IamWrite(put=[policy])
    policy = await call.change(change)
    return f"<Policy>{render.managed_policy(policy, call.arn(policy), 0)}</Policy>"


async def get_policy(call: Call) -> str:
    policy_arn = call.need("PolicyArn")
    state = await call.state()
    if policy_arn.startswith(AWS_MANAGED_PREFIX) and policy_arn[len(AWS_MANAGED_PREFIX):] in AWS_MANAGED:
        policy = _aws_policy(policy_arn[len(AWS_MANAGED_PREFIX):])
    else:
        policy = _local_policy(call, state, policy_arn)
    shown = render.managed_policy(policy, policy_arn, _attachments(state, policy_arn), boundary_uses(state, policy_arn))
    return f"<Policy>{shown}</Policy>"


async def delete_policy(call: Call) -> None:
    policy_arn = call.need("PolicyArn")

    def change(state: IamState) -> tuple[None, IamWrite]:
        policy = _local_policy(call, state, policy_arn)
        if _attachments(state, policy_arn):
            raise IamError("DeleteConflict", "Cannot delete a policy attached to entities.")
        if boundary_uses(state, policy_arn):
            raise IamError("DeleteConflict", "Cannot delete a policy used as a permissions boundary.")
        return None, IamWrite(delete=[("policy", policy.name.lower())])
    await call.change(change)


async def list_policies(call: Call) -> str:
    state = await call.state()
    scope = call.get("Scope") or "All"
    only_attached = (call.get("OnlyAttached") or "false").lower() == "true"
    prefix = call.get("PathPrefix") or "/"
    found: list[tuple[IamEntity, str]] = []
    if scope in ("All", "Local"):
        found += [(p, call.arn(p)) for p in entities(state, "policy")]
    if scope in ("All", "AWS"):
        found += [(_aws_policy(n), AWS_MANAGED_PREFIX + n) for n in AWS_MANAGED]
    found = [(p, a) for p, a in found if p.path.startswith(prefix)
             and (not only_attached or _attachments(state, a))]
    page, truncated, marker = paginate(found, call.params, lambda pa: pa[1])
    shown = [render.managed_policy(p, a, _attachments(state, a), boundary_uses(state, a)) for p, a in page]
    return render.page(shown, "Policies", truncated, marker)


def _version_xml(policy: IamEntity, version_id: str, with_document: bool) -> str:
    version = policy.doc["versions"][version_id]
    out = f"<Document>{render.policy_text(version['document'])}</Document>" if with_document else ""
    return (out + render.e("VersionId", version_id)
            + render.e("IsDefaultVersion", "true" if policy.doc.get("default") == version_id else "false")
            + render.e("CreateDate", render.date(version["created"])))


def _any_policy(call: Call, state: IamState, policy_arn: str) -> IamEntity:
    if policy_arn.startswith(AWS_MANAGED_PREFIX) and policy_arn[len(AWS_MANAGED_PREFIX):] in AWS_MANAGED:
        return _aws_policy(policy_arn[len(AWS_MANAGED_PREFIX):])
    return _local_policy(call, state, policy_arn)


async def get_policy_version(call: Call) -> str:
    policy = _any_policy(call, await call.state(), call.need("PolicyArn"))
    version_id = call.need("VersionId")
    if version_id not in policy.doc.get("versions", {}):
        raise IamError("NoSuchEntity", f"Policy version {version_id} does not exist.")
    return f"<PolicyVersion>{_version_xml(policy, version_id, True)}</PolicyVersion>"


async def list_policy_versions(call: Call) -> str:
    policy = _any_policy(call, await call.state(), call.need("PolicyArn"))
    ids = sorted(policy.doc.get("versions", {}), key=lambda v: -int(v[1:]))
    return render.page([_version_xml(policy, v, False) for v in ids], "Versions", False, None)


async def create_policy_version(call: Call) -> str:
    policy_arn = call.need("PolicyArn")
    document = check_policy(call.get("PolicyDocument"), MANAGED_POLICY_MAX)
    as_default = (call.get("SetAsDefault") or "false").lower() == "true"

    def change(state: IamState) -> tuple[tuple[IamEntity, str], IamWrite]:
        policy = _local_policy(call, state, policy_arn)
        versions = dict(policy.doc["versions"])
        if len(versions) >= POLICY_VERSIONS_MAX:
            raise IamError("LimitExceeded", f"A managed policy can have up to {POLICY_VERSIONS_MAX} versions.")
        number = int(policy.doc.get("next", len(versions) + 1))
        version_id = f"v{number}"
        now = time.time()
        versions[version_id] = {"document": document, "created": now}
        changed = copy_doc(policy, versions=versions, next=number + 1, updated=now,
                           default=version_id if as_default else policy.doc["default"])
        return (changed, version_id), IamWrite(put=[changed])
    policy, version_id = await call.change(change)
    return f"<PolicyVersion>{_version_xml(policy, version_id, False)}</PolicyVersion>"


async def set_default_policy_version(call: Call) -> None:
    policy_arn, version_id = call.need("PolicyArn"), call.need("VersionId")

    def change(state: IamState) -> tuple[None, IamWrite]:
        policy = _local_policy(call, state, policy_arn)
        if version_id not in policy.doc["versions"]:
            raise IamError("NoSuchEntity", f"Policy version {version_id} does not exist.")
        return None, IamWrite(put=[copy_doc(policy, default=version_id, updated=time.time())])
    await call.change(change)


async def delete_policy_version(call: Call) -> None:
    policy_arn, version_id = call.need("PolicyArn"), call.need("VersionId")

    def change(state: IamState) -> tuple[None, IamWrite]:
        policy = _local_policy(call, state, policy_arn)
        versions = dict(policy.doc["versions"])
        if version_id not in versions:
            raise IamError("NoSuchEntity", f"Policy version {version_id} does not exist.")
        if version_id == policy.doc["default"]:
            raise IamError("DeleteConflict", "Cannot delete the default version of a policy.")
        del versions[version_id]
        return None, IamWrite(put=[copy_doc(policy, versions=versions)])
    await call.change(change)


