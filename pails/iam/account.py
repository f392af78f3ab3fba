"""GetAccountSummary: how many of each entity the account has, and its quotas."""

from __future__ import annotations

from pails.iam.model import KEYS_PER_USER, POLICY_VERSIONS_MAX, Call, entities


async def get_account_summary(call: Call) -> str:
    state = await call.state()
    counts = {
        "Users": len(entities(state, "user")),
        "UsersQuota": 5000,
        "Groups": len(entities(state, "group")),
        "GroupsQuota": 300,
        "GroupsPerUserQuota": 10,
        "Roles": len(entities(state, "role")),
        "RolesQuota": 1000,
        "Policies": len(entities(state, "policy")),
        "PoliciesQuota": 1500,
        "PolicyVersionsInUseQuota": 10000,
        "PolicySizeQuota": 6144,
        "VersionsPerPolicyQuota": POLICY_VERSIONS_MAX,
        "AttachedPoliciesPerUserQuota": 10,
        "AttachedPoliciesPerGroupQuota": 10,
        "AttachedPoliciesPerRoleQuota": 10,
        "UserPolicySizeQuota": 2048,
        "GroupPolicySizeQuota": 5120,
        "AccessKeysPerUserQuota": KEYS_PER_USER,
        "AccountAccessKeysPresent": 1,
        "AccountMFAEnabled": 0,
        "MFADevices": 0,
        "MFADevicesInUse": 0,
        "ServerCertificates": 0,
        "ServerCertificatesQuota": 20,
        "Providers": 0,
    }
    entries = "".join(f"<entry><key>{k}</key><value>{v}</value></entry>" for k, v in counts.items())
    return f"<SummaryMap>{entries}</SummaryMap>"
