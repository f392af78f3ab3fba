// What the identity pages' policy editor checks before it lets a policy be
// saved: an identity policy (a user's, group's or role's, or a managed one)
// with the console's shared checker (policy-check.js), or a role's trust
// policy, checked here. The server checks again (MalformedPolicyDocument),
// and the editor shows its answer too; this only catches mistakes early.
import { checkPolicy } from "./policy-check.js";

const VERSIONS = ["2012-10-17", "2008-10-17"];
const STATEMENT_KEYS = ["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource",
  "NotResource", "Condition"];
const ACTION = /^(\*|[a-z0-9-]+:[A-Za-z0-9*?]+)$/;

const strings = (v) => typeof v === "string" || (Array.isArray(v) && v.length > 0 &&
  v.every((s) => typeof s === "string"));
const list = (v) => (Array.isArray(v) ? v : [v]);

// Problems found in the JSON text, as sentences ([] when none). kind: "identity" or "trust".
// (A trust policy is what policy-check.js does not know: principals, no resource.)
export function checkIamPolicy(textValue, kind = "identity") {
  if (kind === "identity") return checkPolicy(textValue, { kind: "identity" });
  let doc;
  try { doc = JSON.parse(textValue); } catch (e) { return [`Not valid JSON: ${e.message}`]; }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) return ["The policy must be a JSON object"];
  const out = [];
  for (const k of Object.keys(doc)) {
    if (!["Version", "Id", "Statement"].includes(k)) out.push(`Unknown top-level field "${k}"`);
  }
  if (!("Version" in doc)) out.push('Version is missing: use "2012-10-17"');
  else if (!VERSIONS.includes(doc.Version)) out.push(`Version must be "2012-10-17" (not ${JSON.stringify(doc.Version)})`);
  const statements = Array.isArray(doc.Statement) ? doc.Statement : doc.Statement ? [doc.Statement] : [];
  if (!statements.length) out.push("Statement is missing or empty");
  const sids = new Set();
  statements.forEach((st, i) => {
    const at = `Statement ${i + 1}`;
    if (st === null || typeof st !== "object" || Array.isArray(st)) { out.push(`${at} must be an object`); return; }
    for (const k of Object.keys(st)) if (!STATEMENT_KEYS.includes(k)) out.push(`${at}: unknown field "${k}"`);
    if (st.Sid !== undefined) {
      if (typeof st.Sid !== "string") out.push(`${at}: Sid must be a string`);
      else if (sids.has(st.Sid)) out.push(`${at}: Sid "${st.Sid}" is used twice`);
      sids.add(st.Sid);
    }
    if (st.Effect !== "Allow" && st.Effect !== "Deny") out.push(`${at}: Effect must be "Allow" or "Deny"`);
    const hasAction = "Action" in st, hasNot = "NotAction" in st;
    if (hasAction === hasNot) out.push(`${at}: give Action or NotAction (one of them)`);
    else {
      const actions = hasAction ? st.Action : st.NotAction;
      if (!strings(actions)) out.push(`${at}: ${hasAction ? "Action" : "NotAction"} must be a string or a list of strings`);
      else for (const a of list(actions)) if (!ACTION.test(a)) out.push(`${at}: "${a}" is not an action (service:Name)`);
    }
    if (!("Principal" in st)) out.push(`${at}: a trust policy names a Principal (who may assume the role)`);
    if ("Resource" in st || "NotResource" in st) out.push(`${at}: a trust policy has no Resource`);
    if ("Condition" in st && (st.Condition === null || typeof st.Condition !== "object" || Array.isArray(st.Condition))) {
      out.push(`${at}: Condition must be an object`);
    }
  });
  return out;
}
