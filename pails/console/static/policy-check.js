// A policy document's problems, found before it is sent: JSON syntax (with the
// line and column) and the structure S3 and IAM check (pails/access/policy.py).
// Pure: no DOM, so the bucket policy editor and the identity pages share it.
//   checkPolicy(text, {kind: "bucket", bucket}) or checkPolicy(text, {kind: "identity"})
// returns a list of problems as sentences; an empty list: nothing found.

const VERSIONS = ["2012-10-17", "2008-10-17"];
const PRINCIPAL_KINDS = ["AWS", "CanonicalUser", "Service", "Federated"];
const STATEMENT_FIELDS = ["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource",
  "NotResource", "Condition"];
const VENDOR_ACTION = /^[A-Za-z0-9-]+:[A-Za-z0-9*?]+$/;

// Where JSON text first goes wrong, as {at: offset, what}, or null: JSON.parse's
// messages name no position in some engines, so the page finds it itself.
function syntaxError(t) {
  let i = 0;
  const fail = (what) => { throw { at: i, what }; };
  const ws = () => { while (i < t.length && " \t\n\r".includes(t[i])) i++; };
  const word = (w) => { if (t.startsWith(w, i)) i += w.length; else fail("expected a value"); };
  const str = () => {
    for (i++; i < t.length && t[i] !== '"'; i++) {
      if (t.charCodeAt(i) < 32) fail("a control character (a line break?) inside a string");
      if (t[i] !== "\\") continue;
      i++;
      if (t[i] === "u" && /^[0-9a-fA-F]{4}$/.test(t.slice(i + 1, i + 5))) i += 4;
      else if (!'"\\/bfnrt'.includes(t[i] || "?")) fail("a bad escape in a string");
    }
    if (i >= t.length) fail("a string is not closed");
    i++;
  };
  const items = (close, item) => {
    i++;
    ws();
    if (t[i] === close) { i++; return; }
    for (;;) {
      item();
      ws();
      if (t[i] === close) { i++; return; }
      if (t[i] !== ",") fail(`expected "," or "${close}"`);
      i++;
    }
  };
  const value = () => {
    ws();
    const c = t[i];
    if (c === "{") {
      items("}", () => {
        ws();
        if (t[i] !== '"') fail("expected a \"name\" in double quotes");
        str();
        ws();
        if (t[i] !== ":") fail('expected ":"');
        i++;
        value();
      });
    } else if (c === "[") items("]", value);
    else if (c === '"') str();
    else if (c === "t" || c === "f" || c === "n") word({ t: "true", f: "false", n: "null" }[c]);
    else {
      const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(t.slice(i));
      if (!m) fail(i >= t.length ? "the text ends too early" : "expected a value");
      i += m[0].length;
    }
  };
  try {
    value();
    ws();
    if (i < t.length) fail("more text after the end of the document");
    return null;
  } catch (e) {
    if (e instanceof Error) throw e;
    return e;
  }
}

// The JSON problem of text that JSON.parse refused, with its line and column.
function jsonProblem(text, error) {
  const found = syntaxError(text);
  if (!found) return `Not valid JSON: ${error.message}`;
  const before = text.slice(0, found.at).split("\n");
  return `Not valid JSON at line ${before.length}, column ${before.at(-1).length + 1}: ${found.what}`;
}

const isStrings = (v) => typeof v === "string" || (Array.isArray(v) && v.length > 0 &&
  v.every((s) => typeof s === "string"));
const list = (v) => (typeof v === "string" ? [v] : v);

function wildcard(pattern) {
  const re = pattern.split("").map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\]/g,
    "\\$&"))).join("");
  return new RegExp(`^${re}$`, "s");
}

function checkPrincipal(value, field, out, n) {
  if (value === "*") return;
  if (value === null || typeof value !== "object" || Array.isArray(value) || !Object.keys(value).length) {
    out.push(`Statement ${n}: ${field} must be "*" or an object such as {"AWS": "arn:aws:iam::ACCOUNT:root"}`);
    return;
  }
  for (const [kind, names] of Object.entries(value)) {
    if (!PRINCIPAL_KINDS.includes(kind)) out.push(`Statement ${n}: ${field} kind "${kind}" is not one of ` +
      PRINCIPAL_KINDS.join(", "));
    else if (!isStrings(names)) out.push(`Statement ${n}: ${field}.${kind} must be a string or a list of strings`);
  }
}

function checkStatement(s, n, bucket, identity, out) {
  if (s === null || typeof s !== "object" || Array.isArray(s)) {
    out.push(`Statement ${n} is not an object`);
    return;
  }
  const unknown = Object.keys(s).filter((k) => !STATEMENT_FIELDS.includes(k));
  if (unknown.length) out.push(`Statement ${n}: unknown field ${unknown.join(", ")}`);
  if (!["Allow", "Deny"].includes(s.Effect)) out.push(`Statement ${n}: Effect must be "Allow" or "Deny"`);
  if (identity) {
    if ("Principal" in s || "NotPrincipal" in s) out.push(`Statement ${n}: an identity policy names no Principal`);
  } else {
    if (!("Principal" in s) && !("NotPrincipal" in s)) out.push(`Statement ${n}: Principal is missing ` +
      `(a bucket policy says whom it is for; "*" is everyone)`);
    if ("Principal" in s) checkPrincipal(s.Principal, "Principal", out, n);
    if ("NotPrincipal" in s) {
      checkPrincipal(s.NotPrincipal, "NotPrincipal", out, n);
      if (s.Effect === "Allow") out.push(`Statement ${n}: NotPrincipal is only allowed with "Deny"`);
    }
  }
  if (!("Action" in s) && !("NotAction" in s)) out.push(`Statement ${n}: Action (or NotAction) is missing`);
  for (const field of ["Action", "NotAction"].filter((f) => f in s)) {
    if (!isStrings(s[field])) { out.push(`Statement ${n}: ${field} must be a string or a list of strings`); continue; }
    for (const a of list(s[field])) {
      if (a === "*") continue;
      if (identity && !VENDOR_ACTION.test(a)) out.push(`Statement ${n}: action "${a}" needs a service prefix, ` +
        `as "s3:GetObject"`);
      if (!identity && !a.toLowerCase().startsWith("s3:")) out.push(`Statement ${n}: action "${a}" is not an S3 ` +
        `action ("s3:...")`);
    }
  }
  if (!("Resource" in s) && !("NotResource" in s)) out.push(`Statement ${n}: Resource (or NotResource) is missing`);
  for (const field of ["Resource", "NotResource"].filter((f) => f in s)) {
    if (!isStrings(s[field])) { out.push(`Statement ${n}: ${field} must be a string or a list of strings`); continue; }
    for (const r of list(s[field])) {
      if (r === "*") continue;
      if (identity && !r.startsWith("arn:")) out.push(`Statement ${n}: resource "${r}" must be an ARN or "*"`);
      if (!identity && !(r.startsWith("arn:aws:s3:::") &&
          wildcard(r.slice("arn:aws:s3:::".length).split("/")[0]).test(bucket))) {
        out.push(`Statement ${n}: resource "${r}" is not this bucket's (arn:aws:s3:::${bucket} or ` +
          `arn:aws:s3:::${bucket}/KEY)`);
      }
    }
  }
  if ("Condition" in s) {
    const c = s.Condition;
    if (c === null || typeof c !== "object" || Array.isArray(c) ||
        Object.values(c).some((b) => b === null || typeof b !== "object" || Array.isArray(b))) {
      out.push(`Statement ${n}: Condition must be an object of {operator: {key: value}}`);
    }
  }
}

export function checkPolicy(text, { kind = "bucket", bucket = "" } = {}) {
  const identity = kind === "identity";
  if (!text.trim()) return ["The policy is empty"];
  if (!identity && new TextEncoder().encode(text).length > 20 * 1024) return ["A bucket policy must be under 20 KB"];
  let doc;
  try { doc = JSON.parse(text); } catch (e) { return [jsonProblem(text, e)]; }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) return ["The policy must be a JSON object"];
  const out = [];
  if (identity) {
    const extra = Object.keys(doc).filter((k) => !["Version", "Id", "Statement"].includes(k));
    if (extra.length) out.push(`Unknown top-level field ${extra.join(", ")} (Version, Id, Statement only)`);
  }
  if (!("Version" in doc)) out.push(`Version is missing (use "2012-10-17")`);
  else if (!VERSIONS.includes(doc.Version)) out.push(`Version must be "2012-10-17" (or "2008-10-17")`);
  let statements = doc.Statement;
  if (statements && typeof statements === "object" && !Array.isArray(statements)) statements = [statements];
  if (!Array.isArray(statements) || !statements.length) {
    out.push("Statement is missing: a non-empty list of statements (or one statement object)");
    return out;
  }
  statements.forEach((s, i) => checkStatement(s, i + 1, bucket, identity, out));
  if (identity) {
    const sids = statements.map((s) => s?.Sid).filter((x) => x !== undefined);
    if (new Set(sids).size !== sids.length) out.push("Statement IDs (Sid) must be unique");
  }
  return out;
}
