// The identity pages: IAM users, groups, roles and managed policies (the IAM
// Query API through api/iam, as the logged-in principal: its policies decide)
// and accounts (the admin API through api/admin/: the operator's). Loaded by
// the router on first use, so the login page stays light.
import { call, getJson, text } from "./api.js";
import { el, say, show } from "./app.js";
import { checkIamPolicy } from "./iam-policy-check.js";

const enc = encodeURIComponent;
const NAME = "[\\w+=,.@\\-]{1,64}";  // IAM names
const day = (iso) => iso.slice(0, 10);

// One IAM call: the parsed XML answer (an IAM error becomes an ApiError, from call()).
export async function iam(action, params = {}) {
  const body = new URLSearchParams({ Action: action, Version: "2010-05-08", ...params });
  const res = await call("POST", "api/iam", { body });
  return new DOMParser().parseFromString(await res.text(), "application/xml");
}

// Every <member> of a listing, page after page (Marker).
async function iamList(action, params, list) {
  const out = [];
  let marker = "";
  do {
    const doc = await iam(action, { ...params, MaxItems: "1000", ...(marker ? { Marker: marker } : {}) });
    out.push(...doc.querySelectorAll(`${list} > member`));
    marker = text(doc, "IsTruncated") === "true" ? text(doc, "Marker") : "";
  } while (marker);
  return out;
}

const decoded = (node, name) => decodeURIComponent(text(node, name));
const pretty = (json) => { try { return JSON.stringify(JSON.parse(json), null, 2); } catch { return json; } };
const action = (label, fn, cls = "plain", id) => el("button", { class: cls, type: "button", id, onclick: async () => {
  try { await fn(); } catch (err) { say(err.message, true); }
} }, label);
const table = (id, heads, rows, empty) => [el("table", { id }, el("tr", {}, heads.map((h) => el("th", {}, h))), rows),
  rows.length ? null : el("p", { class: "empty" }, empty)];

// A secret shown once, in a modal dialog with a copy button; gone from the page when closed.
function secretDialog(title, pairs) {
  return new Promise((resolve) => {
    const secret = pairs.at(-1)[1];
    const fields = pairs.map(([label, value, id]) => el("p", {}, el("label", {}, label, el("br"),
      el("input", { readonly: true, value, id, size: "44" }))));
    const dialog = el("dialog", { id: "secret-dialog" }, el("h2", {}, title),
      el("p", {}, "The secret is shown here once, never again: copy it now."), fields,
      el("p", {}, action("Copy secret", () => (navigator.clipboard ? navigator.clipboard.writeText(secret)
        : Promise.reject(new Error())).then(() => say("secret copied"), () => {
        dialog.querySelector(`#${pairs.at(-1)[2]}`).select();  // no clipboard (plain HTTP): selected to copy
        say("the secret is selected: copy it");
      }), "plain", "copy-secret"), " ",
      el("button", { type: "button", id: "secret-done", onclick: () => dialog.close() }, "Done")));
    dialog.addEventListener("close", () => { dialog.remove(); resolve(); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// The policy editor: JSON checked as it is typed (Save refused while invalid), then the server's answer.
export function policyEditor({ title, kind = "identity", value = "", named = false, save, done, revert }) {
  const area = el("textarea", { id: "policy-text", rows: "14", spellcheck: "false" });
  area.value = value || JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:GetObject",
    Resource: "arn:aws:s3:::bucket/*" }] }, null, 2);
  const name = named ? el("input", { id: "policy-name", placeholder: "policy name", pattern: "[\\w+=,.@\\-]{1,128}" })
    : null;
  const problems = el("ul", { id: "policy-problems", class: "problems" });
  const saveButton = el("button", { id: "policy-save", type: "button" }, "Save");
  const check = () => {
    const found = checkIamPolicy(area.value, kind);
    if (name && !name.value.trim()) found.push("Give the policy a name");
    problems.replaceChildren(...found.map((p) => el("li", {}, p)));
    saveButton.disabled = found.length > 0;
    return found;
  };
  area.addEventListener("input", check);
  name?.addEventListener("input", check);
  saveButton.addEventListener("click", async () => {
    if (check().length) return;
    try {
      await save(area.value, name?.value.trim());
      say("policy saved");
      await done();
    } catch (err) {
      problems.replaceChildren(el("li", { class: "server" }, err.message));
      say(err.message, true);
    }
  });
  const box = el("div", { class: "editor", id: "policy-editor" }, el("h3", {}, title), name, area, problems,
    el("p", {}, saveButton, " ", el("button", { class: "plain", type: "button",
      onclick: () => (revert ? revert() : box.remove()) }, revert ? "Revert" : "Cancel")));
  check();
  return box;
}

// Inline and attached policies of a user, group or role (kind "User" | "Group" | "Role").
async function policySections(kind, name, reload) {
  const who = { [`${kind}Name`]: name };
  const [inline, attached, managed] = await Promise.all([
    iamList(`List${kind}Policies`, who, "PolicyNames"), iamList(`ListAttached${kind}Policies`, who, "AttachedPolicies"),
    iamList("ListPolicies", { Scope: "All" }, "Policies")]);
  const slot = el("div");
  const edit = (policyName, document) => slot.replaceChildren(policyEditor({
    title: policyName ? `Inline policy ${policyName}` : "New inline policy", value: document, named: !policyName,
    save: (doc, given) => iam(`Put${kind}Policy`, { ...who, PolicyName: policyName || given, PolicyDocument: doc }),
    done: reload }));
  const inlineRows = inline.map((n) => n.textContent).map((p) => el("tr", {}, el("td", {}, p), el("td", { class: "n" },
    action("Edit", async () => edit(p, pretty(decoded(await iam(`Get${kind}Policy`, { ...who, PolicyName: p }),
      "PolicyDocument")))), " ",
    action("Delete", async () => {
      if (!confirm(`Delete the inline policy ${p}?`)) return;
      await iam(`Delete${kind}Policy`, { ...who, PolicyName: p });
      say(`deleted ${p}`);
      await reload();
    }, "danger"))));
  const attachedArns = attached.map((m) => text(m, "PolicyArn"));
  const attachedRows = attached.map((m) => el("tr", {}, el("td", {}, text(m, "PolicyName")),
    el("td", { class: "hide-s" }, text(m, "PolicyArn")), el("td", { class: "n" }, action("Detach", async () => {
      await iam(`Detach${kind}Policy`, { ...who, PolicyArn: text(m, "PolicyArn") });
      say(`detached ${text(m, "PolicyName")}`);
      await reload();
    }, "danger"))));
  const choice = el("select", { id: "attach-choice" }, el("option", { value: "" }, "a managed policy…"),
    managed.map((m) => text(m, "Arn"))
    .filter((a) => !attachedArns.includes(a)).map((a) => el("option", { value: a }, a)));
  return [el("h2", {}, "Inline policies"), ...table("inline-policies", ["Name", ""], inlineRows, "None."),
    el("p", {}, action("Add inline policy", () => edit("", ""), "plain", "add-inline")), slot,
    el("h2", {}, "Managed policies attached"),
    ...table("attached-policies", ["Name", "ARN", ""], attachedRows, "None."),
    el("p", {}, choice, " ", action("Attach", async () => {
      if (!choice.value) return;
      await iam(`Attach${kind}Policy`, { ...who, PolicyArn: choice.value });
      say("attached");
      await reload();
    }, "plain", "attach"))];
}

// A one-field create form.
function createForm(id, placeholder, label, create) {
  const form = el("form", { id }, el("input", { name: "name", placeholder, required: true, pattern: NAME }),
    el("button", {}, label));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try { await create(form.elements.name.value.trim()); } catch (err) { say(err.message, true); }
  });
  return form;
}

// What must go before a user, group or role can be deleted (IAM refuses with DeleteConflict).
async function blockers(kind, name) {
  const who = { [`${kind}Name`]: name };
  const [inline, attached] = await Promise.all([iamList(`List${kind}Policies`, who, "PolicyNames"),
    iamList(`ListAttached${kind}Policies`, who, "AttachedPolicies")]);
  const out = [];
  if (kind === "User") {
    const keys = await iamList("ListAccessKeys", who, "AccessKeyMetadata");
    if (keys.length) out.push(`delete its ${keys.length} access key${keys.length > 1 ? "s" : ""}`);
  }
  if (kind === "Group") {
    const members = (await iam("GetGroup", who)).querySelectorAll("Users > member").length;
    if (members) out.push(`remove its ${members} member${members > 1 ? "s" : ""}`);
  }
  if (inline.length) out.push(`delete its ${inline.length} inline polic${inline.length > 1 ? "ies" : "y"}`);
  if (attached.length) out.push(`detach its ${attached.length} managed polic${attached.length > 1 ? "ies" : "y"}`);
  return out;
}

function remover(kind, name, reload) {
  return action("Delete", async () => {
    const blocks = await blockers(kind, name);
    if (blocks.length) {
      say(`${name} cannot be deleted yet: first ${blocks.join(", ")} (on its page)`, true);
      return;
    }
    if (!confirm(`Delete the ${kind.toLowerCase()} ${name}?${kind === "User" ? " It leaves its groups." : ""}`)) return;
    await iam(`Delete${kind}`, { [`${kind}Name`]: name });
    say(`deleted ${name}`);
    await reload();
  }, "danger");
}

async function usersPage(main) {
  const users = await iamList("ListUsers", {}, "Users");
  const reload = () => usersPage(main);
  const rows = users.map((u) => el("tr", {}, el("td", {}, el("a", { href: `#/user/${enc(text(u, "UserName"))}` },
    text(u, "UserName"))), el("td", { class: "hide-s" }, day(text(u, "CreateDate"))),
  el("td", { class: "n" }, remover("User", text(u, "UserName"), reload))));
  show(main, el("h1", {}, "Users"), createForm("create-user", "new user name", "Create user", async (name) => {
    await iam("CreateUser", { UserName: name });
    say(`created ${name}`);
    location.hash = `#/user/${enc(name)}`;
  }), ...table("users", ["Name", "Created", ""], rows, "No IAM users yet."));
}

async function userPage(main, name) {
  const who = { UserName: name };
  const reload = () => userPage(main, name);
  const [user, keys, groups, allGroups] = await Promise.all([iam("GetUser", who),
    iamList("ListAccessKeys", who, "AccessKeyMetadata"), iamList("ListGroupsForUser", who, "Groups"),
    iamList("ListGroups", {}, "Groups")]);
  const setStatus = (id, status) => iam("UpdateAccessKey", { ...who, AccessKeyId: id, Status: status });
  const create = async () => {
    const made = await iam("CreateAccessKey", who);
    await secretDialog(`New access key for ${name}`, [["Access key", text(made, "AccessKeyId"), "new-key-id"],
      ["Secret key", text(made, "SecretAccessKey"), "new-key-secret"]]);
    return text(made, "AccessKeyId");
  };
  const keyRows = keys.map((k) => {
    const id = text(k, "AccessKeyId"), active = text(k, "Status") === "Active";
    return el("tr", {}, el("td", {}, id), el("td", {}, text(k, "Status")),
      el("td", { class: "hide-s" }, day(text(k, "CreateDate"))), el("td", { class: "n" },
        action(active ? "Deactivate" : "Activate", async () => {
          await setStatus(id, active ? "Inactive" : "Active");
          say(`${id} ${active ? "deactivated" : "activated"}`);
          await reload();
        }), " ",
        active ? action("Rotate", async () => {
          const made = await create();
          if (confirm(`The new key is ${made}. Deactivate the old key ${id} now? (do it once every program uses ` +
            "the new key; you can also do it later)")) await setStatus(id, "Inactive");
          await reload();
        }) : null, " ",
        action("Delete", async () => {
          if (!confirm(`Delete the access key ${id}? Programs using it stop working.`)) return;
          await iam("DeleteAccessKey", { ...who, AccessKeyId: id });
          say(`deleted ${id}`);
          await reload();
        }, "danger")));
  });
  const groupRows = groups.map((g) => text(g, "GroupName")).map((g) => el("tr", {},
    el("td", {}, el("a", { href: `#/group/${enc(g)}` }, g)), el("td", { class: "n" }, action("Remove", async () => {
      await iam("RemoveUserFromGroup", { ...who, GroupName: g });
      say(`removed from ${g}`);
      await reload();
    }, "danger"))));
  const mine = groups.map((g) => text(g, "GroupName"));
  const choice = el("select", { id: "group-choice" }, el("option", { value: "" }, "a group…"),
    allGroups.map((g) => text(g, "GroupName"))
    .filter((g) => !mine.includes(g)).map((g) => el("option", { value: g }, g)));
  show(main, el("h1", {}, `User ${name}`), el("p", { class: "crumbs" }, el("a", { href: "#/users" }, "Users"), " · ",
    text(user, "Arn"), ` · created ${day(text(user, "CreateDate"))}`),
  el("h2", {}, "Access keys"), ...table("keys", ["Access key", "Status", "Created", ""], keyRows, "No access keys."),
  el("p", {}, action("Create access key", async () => { await create(); await reload(); }, "plain", "create-key")),
  ...await policySections("User", name, reload),
  el("h2", {}, "Groups"), ...table("user-groups", ["Group", ""], groupRows, "In no group."),
  el("p", {}, choice, " ", action("Add to group", async () => {
    if (!choice.value) return;
    await iam("AddUserToGroup", { ...who, GroupName: choice.value });
    say(`added to ${choice.value}`);
    await reload();
  }, "plain", "add-group")));
}

async function groupsPage(main) {
  const groups = await iamList("ListGroups", {}, "Groups");
  const reload = () => groupsPage(main);
  const rows = groups.map((g) => text(g, "GroupName")).map((g) => el("tr", {},
    el("td", {}, el("a", { href: `#/group/${enc(g)}` }, g)), el("td", { class: "n" }, remover("Group", g, reload))));
  show(main, el("h1", {}, "Groups"), createForm("create-group", "new group name", "Create group", async (name) => {
    await iam("CreateGroup", { GroupName: name });
    say(`created ${name}`);
    location.hash = `#/group/${enc(name)}`;
  }), ...table("groups", ["Name", ""], rows, "No groups yet."));
}

async function groupPage(main, name) {
  const who = { GroupName: name };
  const reload = () => groupPage(main, name);
  const [group, users] = await Promise.all([iam("GetGroup", who), iamList("ListUsers", {}, "Users")]);
  const members = [...group.querySelectorAll("Users > member")].map((u) => text(u, "UserName"));
  const rows = members.map((u) => el("tr", {}, el("td", {}, el("a", { href: `#/user/${enc(u)}` }, u)),
    el("td", { class: "n" }, action("Remove", async () => {
      await iam("RemoveUserFromGroup", { ...who, UserName: u });
      say(`removed ${u}`);
      await reload();
    }, "danger"))));
  const choice = el("select", { id: "member-choice" }, el("option", { value: "" }, "a user…"),
    users.map((u) => text(u, "UserName"))
    .filter((u) => !members.includes(u)).map((u) => el("option", { value: u }, u)));
  show(main, el("h1", {}, `Group ${name}`), el("p", { class: "crumbs" }, el("a", { href: "#/groups" }, "Groups"),
    " · ", text(group, "Arn")),
  el("h2", {}, "Members"), ...table("members", ["User", ""], rows, "No members."),
  el("p", {}, choice, " ", action("Add member", async () => {
    if (!choice.value) return;
    await iam("AddUserToGroup", { ...who, UserName: choice.value });
    say(`added ${choice.value}`);
    await reload();
  }, "plain", "add-member")),
  ...await policySections("Group", name, reload));
}

async function accountId() {
  return (await getJson("api/session")).principal.split(":")[4];
}

async function rolesPage(main) {
  const roles = await iamList("ListRoles", {}, "Roles");
  const reload = () => rolesPage(main);
  const rows = roles.map((r) => text(r, "RoleName")).map((r) => el("tr", {},
    el("td", {}, el("a", { href: `#/role/${enc(r)}` }, r)), el("td", { class: "n" }, remover("Role", r, reload))));
  const slot = el("div");
  const trust = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "sts:AssumeRole",
    Principal: { AWS: `arn:aws:iam::${await accountId()}:root` } }] }, null, 2);
  show(main, el("h1", {}, "Roles"), el("p", {}, action("Create role", () => slot.replaceChildren(policyEditor({
    title: "New role: its name and trust policy (who may assume it)", kind: "trust", value: trust, named: true,
    save: (doc, name) => iam("CreateRole", { RoleName: name, AssumeRolePolicyDocument: doc }), done: reload })),
  "plain", "create-role")), slot, ...table("roles", ["Name", ""], rows, "No roles yet."));
}

async function rolePage(main, name) {
  const who = { RoleName: name };
  const reload = () => rolePage(main, name);
  const role = await iam("GetRole", who);
  const trust = pretty(decoded(role, "AssumeRolePolicyDocument"));
  const slot = el("div");
  show(main, el("h1", {}, `Role ${name}`), el("p", { class: "crumbs" }, el("a", { href: "#/roles" }, "Roles"), " · ",
    text(role, "Arn"), ` · sessions up to ${text(role, "MaxSessionDuration")} s`),
  el("h2", {}, "Trust policy"), el("pre", { id: "trust" }, trust),
  el("p", {}, action("Edit trust policy", () => slot.replaceChildren(policyEditor({ title: "Trust policy",
    kind: "trust", value: trust, save: (doc) => iam("UpdateAssumeRolePolicy", { ...who, PolicyDocument: doc }),
    done: reload })), "plain", "edit-trust")), slot,
  ...await policySections("Role", name, reload));
}

async function policiesPage(main) {
  const policies = await iamList("ListPolicies", { Scope: "Local" }, "Policies");
  const reload = () => policiesPage(main);
  const rows = policies.map((p) => {
    const arn = text(p, "Arn"), name = text(p, "PolicyName"), uses = Number(text(p, "AttachmentCount"));
    return el("tr", {}, el("td", {}, el("a", { href: `#/policy/${enc(arn)}` }, name)),
      el("td", { class: "n" }, String(uses)), el("td", { class: "hide-s" }, text(p, "DefaultVersionId")),
      el("td", { class: "n" }, action("Delete", async () => {
        if (uses) { say(`${name} cannot be deleted yet: first detach it from its ${uses} users, groups or roles`, true); return; }
        if (!confirm(`Delete the policy ${name} and its versions?`)) return;
        await iam("DeletePolicy", { PolicyArn: arn });
        say(`deleted ${name}`);
        await reload();
      }, "danger")));
  });
  const slot = el("div");
  show(main, el("h1", {}, "Policies"), el("p", {}, "Customer managed policies of this account (AWS managed ones, " +
    "such as arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess, can be attached too).", " ",
  action("Create policy", () => slot.replaceChildren(policyEditor({ title: "New managed policy", named: true,
    save: (doc, name) => iam("CreatePolicy", { PolicyName: name, PolicyDocument: doc }), done: reload })),
  "plain", "create-policy")), slot,
  ...table("policies", ["Name", "Attached", "Default version", ""], rows, "No managed policies yet."));
}

async function policyPage(main, arn) {
  const reload = () => policyPage(main, arn);
  const [policy, versions] = await Promise.all([iam("GetPolicy", { PolicyArn: arn }),
    iamList("ListPolicyVersions", { PolicyArn: arn }, "Versions")]);
  const current = text(policy, "DefaultVersionId");
  const doc = pretty(decoded(await iam("GetPolicyVersion", { PolicyArn: arn, VersionId: current }), "Document"));
  const rows = versions.map((v) => {
    const id = text(v, "VersionId"), isDefault = text(v, "IsDefaultVersion") === "true";
    return el("tr", {}, el("td", {}, id, isDefault ? el("b", {}, " (default)") : null),
      el("td", { class: "hide-s" }, day(text(v, "CreateDate"))), el("td", { class: "n" }, isDefault ? null : [
        action("Make default", async () => {
          await iam("SetDefaultPolicyVersion", { PolicyArn: arn, VersionId: id });
          await reload();
        }), " ", action("Delete", async () => {
          await iam("DeletePolicyVersion", { PolicyArn: arn, VersionId: id });
          await reload();
        }, "danger")]));
  });
  const save = async (document) => {
    if (versions.length >= 5) {  // IAM keeps 5: the oldest one that is not the default goes
      const oldest = versions.map((v) => text(v, "VersionId")).filter((v) => v !== current)
        .sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))[0];
      if (!confirm(`A policy keeps 5 versions: delete the oldest, ${oldest}, to save this one?`)) {
        throw new Error("not saved: 5 versions already");
      }
      await iam("DeletePolicyVersion", { PolicyArn: arn, VersionId: oldest });
    }
    await iam("CreatePolicyVersion", { PolicyArn: arn, PolicyDocument: document, SetAsDefault: "true" });
  };
  show(main, el("h1", {}, `Policy ${text(policy, "PolicyName")}`), el("p", { class: "crumbs" },
    el("a", { href: "#/policies" }, "Policies"), " · ", arn, ` · attached ${text(policy, "AttachmentCount")} times`),
  policyEditor({ title: `Document (${current}); saving makes a new default version`, value: doc, save, done: reload,
    revert: reload }),
  el("h2", {}, "Versions"), ...table("versions", ["Version", "Created", ""], rows, ""));
}

async function accountsPage(main) {
  const { accounts } = await getJson("api/admin/v1/accounts");
  const reload = () => accountsPage(main);
  const admin = (method, path, json) => call(method, `api/admin/v1/${path}`, json ? { json } : {})
    .then((r) => r.json());
  const keys = (title, a) => secretDialog(title, [["Access key", a.access_key, "new-key-id"],
    ["Secret key", a.secret_key, "new-key-secret"]]);
  const rows = accounts.map((a) => el("tr", {}, el("td", {}, a.display_name, a.operator ? el("b", {}, " (operator)")
    : null), el("td", {}, a.account_id), el("td", { class: "hide-s" }, a.email || ""),
  el("td", { class: "hide-s" }, a.access_key), el("td", { class: "n" }, a.operator ? null : [
    action("New root key", async () => {
      if (!confirm(`Give ${a.display_name}'s root a new key pair? The old one stops working at once.`)) return;
      await keys(`New root key of ${a.display_name}`, await admin("POST", `accounts/${enc(a.account_id)}/root-key`));
      await reload();
    }), " ", action("Delete", async () => {
      if (!confirm(`Delete the account ${a.display_name} with its IAM users, groups, roles and keys?`)) return;
      await admin("DELETE", `accounts/${enc(a.account_id)}`);
      say(`deleted ${a.display_name}`);
      await reload();
    }, "danger")])));
  const form = el("form", { id: "create-account" }, el("input", { name: "name", placeholder: "account name",
    required: true }), el("input", { name: "email", type: "email", placeholder: "e-mail (optional)" }),
  el("button", {}, "Create account"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const email = form.elements.email.value.trim();
      const made = await admin("POST", "accounts", { name: form.elements.name.value.trim(), ...(email ? { email } : {}) });
      await keys(`Root keys of the new account ${made.display_name}`, made);
      await reload();
    } catch (err) { say(err.message, true); }
  });
  show(main, el("h1", {}, "Accounts"), form,
    ...table("accounts", ["Name", "Account id", "E-mail", "Root access key", ""], rows, "No accounts."));
}

// The router in app.js names the same pages (it loads this module for them).
const PAGES = { users: usersPage, user: userPage, groups: groupsPage, group: groupPage, roles: rolesPage,
  role: rolePage, policies: policiesPage, policy: policyPage, accounts: accountsPage };

// Show one identity page; what the principal may not do is shown in the page, as the API's error.
export async function identityPage(main, page, args) {
  try {
    await PAGES[page](main, ...args);
  } catch (err) {
    const shown = err.code && !err.message.startsWith(err.code) ? `${err.code}: ${err.message}` : err.message;
    show(main, el("h1", {}, page[0].toUpperCase() + page.slice(1)), el("p", { class: "denied", id: "denied" }, shown));
    say(err.message, true);
  }
}
