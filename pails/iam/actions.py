"""Every IAM action Pails serves, named once with its handler and whether
it changes anything (a change clears the worker's cache of keys and
policies at once)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pails.iam import account, groups, oidc, policies, roles, tags, users
from pails.iam.model import Call

Handler = Callable[[Call], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class Action:
    handler: Handler
    writes: bool


def _r(handler: Handler) -> Action:
    return Action(handler, False)


def _w(handler: Handler) -> Action:
    return Action(handler, True)


ACTIONS: dict[str, Action] = {
    # users
    "CreateUser": _w(users.create_user),
    "GetUser": _r(users.get_user),
    "UpdateUser": _w(users.update_user),
    "DeleteUser": _w(users.delete_user),
    "ListUsers": _r(users.list_users),
    # access keys
    "CreateAccessKey": _w(users.create_access_key),
    "UpdateAccessKey": _w(users.update_access_key),
    "DeleteAccessKey": _w(users.delete_access_key),
    "ListAccessKeys": _r(users.list_access_keys),
    "GetAccessKeyLastUsed": _r(users.get_access_key_last_used),
    # groups
    "CreateGroup": _w(groups.create_group),
    "GetGroup": _r(groups.get_group),
    "UpdateGroup": _w(groups.update_group),
    "DeleteGroup": _w(groups.delete_group),
    "ListGroups": _r(groups.list_groups),
    "AddUserToGroup": _w(groups.add_user_to_group),
    "RemoveUserFromGroup": _w(groups.remove_user_from_group),
    "ListGroupsForUser": _r(groups.list_groups_for_user),
    # roles
    "CreateRole": _w(roles.create_role),
    "GetRole": _r(roles.get_role),
    "UpdateRole": _w(roles.update_role),
    "UpdateAssumeRolePolicy": _w(roles.update_assume_role_policy),
    "DeleteRole": _w(roles.delete_role),
    "ListRoles": _r(roles.list_roles),
    # managed policies
    "CreatePolicy": _w(policies.create_policy),
    "GetPolicy": _r(policies.get_policy),
    "DeletePolicy": _w(policies.delete_policy),
    "ListPolicies": _r(policies.list_policies),
    "GetPolicyVersion": _r(policies.get_policy_version),
    "ListPolicyVersions": _r(policies.list_policy_versions),
    "CreatePolicyVersion": _w(policies.create_policy_version),
    "SetDefaultPolicyVersion": _w(policies.set_default_policy_version),
    "DeletePolicyVersion": _w(policies.delete_policy_version),
    # OpenID Connect providers
    "CreateOpenIDConnectProvider": _w(oidc.create_provider),
    "GetOpenIDConnectProvider": _r(oidc.get_provider),
    "ListOpenIDConnectProviders": _r(oidc.list_providers),
    "DeleteOpenIDConnectProvider": _w(oidc.delete_provider),
    "AddClientIDToOpenIDConnectProvider": _w(oidc.add_client_id),
    "RemoveClientIDFromOpenIDConnectProvider": _w(oidc.remove_client_id),
    "UpdateOpenIDConnectProviderThumbprint": _w(oidc.update_thumbprints),
    # the account
    "GetAccountSummary": _r(account.get_account_summary),
}

for _kind, _noun in (("user", "User"), ("group", "Group"), ("role", "Role")):
    ACTIONS[f"Put{_noun}Policy"] = _w(policies.put_inline(_kind))
    ACTIONS[f"Get{_noun}Policy"] = _r(policies.get_inline(_kind))
    ACTIONS[f"Delete{_noun}Policy"] = _w(policies.delete_inline(_kind))
    ACTIONS[f"List{_noun}Policies"] = _r(policies.list_inline(_kind))
    ACTIONS[f"Attach{_noun}Policy"] = _w(policies.attach(_kind))
    ACTIONS[f"Detach{_noun}Policy"] = _w(policies.detach(_kind))
    ACTIONS[f"ListAttached{_noun}Policies"] = _r(policies.list_attached(_kind))

for _kind, _noun in (("user", "User"), ("role", "Role")):
    ACTIONS[f"Tag{_noun}"] = _w(tags.tag(_kind))
    ACTIONS[f"Untag{_noun}"] = _w(tags.untag(_kind))
    ACTIONS[f"List{_noun}Tags"] = _r(tags.list_tags(_kind))
    ACTIONS[f"Put{_noun}PermissionsBoundary"] = _w(tags.put_boundary(_kind))
    ACTIONS[f"Delete{_noun}PermissionsBoundary"] = _w(tags.delete_boundary(_kind))
