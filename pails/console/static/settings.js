// A bucket's settings as tabs under the bucket page: object lock, lifecycle,
// CORS, policy, tags, default encryption. Each tab reads and writes through
// the S3 API as the logged-in principal (api/s3/BUCKET?subresource), shows
// the server's own error when it refuses, and is re-read after a change.
// Loaded with import() by the bucket page, so the login page stays light.
import { ApiError, call, getXml, text } from "./api.js";
import { el, say } from "./app.js";
import { checkPolicy } from "./policy-check.js";

// --- small helpers ------------------------------------------------------------------------------------------------

const esc = (s) => String(s).replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;",
  "'": "&apos;" })[c]);
const tag = (name, value) => `<${name}>${esc(value)}</${name}>`;
const kids = (node, name) => (node ? [...node.children].filter((c) => c.localName === name) : []);
const kid = (node, name) => kids(node, name)[0];
const val = (node, name) => kid(node, name)?.textContent ?? "";
const lines = (s) => s.split("\n").map((x) => x.trim()).filter(Boolean);
const field = (fs, name) => fs.querySelector(`[name="${name}"]`);
const label = (caption, input, cls) => el("label", { class: cls }, cls === "check" ? [input, caption]
  : [caption, input]);

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

// x-amz-checksum-crc32 of a body: S3 asks for an integrity check on several of
// these PUTs (Content-MD5 or a flexible checksum), and WebCrypto has no MD5.
export function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  c = (c ^ 0xffffffff) >>> 0;
  return btoa(String.fromCharCode(c >>> 24, (c >>> 16) & 255, (c >>> 8) & 255, c & 255));
}

export function putXml(url, xml) {
  const body = new TextEncoder().encode(xml);
  return call("PUT", url, { body, headers: { "Content-Type": "application/xml", "x-amz-checksum-crc32": crc32(body) } });
}

// A configuration document, or null when S3 answers `missing` (none set).
async function readXml(url, missing) {
  try { return await getXml(url); } catch (e) {
    if (e instanceof ApiError && e.code === missing) return null;
    throw e;
  }
}

// A button's action: run it, say what it did (or the server's refusal), re-read the tab.
const act = (fn, reload) => async () => {
  try {
    const done = await fn();
    if (done) { say(done); await reload(); }
  } catch (err) { say(err.message, true); }
};

// --- the tabs -----------------------------------------------------------------------------------------------------

const TABS = [["lock", "Object lock", lockTab], ["lifecycle", "Lifecycle", lifecycleTab], ["cors", "CORS", corsTab],
  ["policy", "Policy", policyTab], ["tags", "Tags", tagsTab], ["encryption", "Encryption", encryptionTab],
  ["notification", "Events", xmlTab], ["website", "Website", xmlTab], ["logging", "Access log", xmlTab],
  ["publicAccessBlock", "Public access", xmlTab], ["ownershipControls", "Ownership", xmlTab]];

export function bucketSettings(box, bucket, base, tab) {
  const body = el("section", { id: "settings" });
  const bar = el("nav", { class: "tabs", id: "settings-tabs" });
  let shown = 0;  // a slow tab's answer must not replace a later one
  const open = async (name) => {
    if (!box.isConnected) return;  // the user went to another page meanwhile: leave its URL alone
    const mine = ++shown;
    for (const b of bar.children) b.classList.toggle("on", b.dataset.tab === name);
    history.replaceState(null, "", `#/bucket/${encodeURIComponent(bucket)}/${name}`);
    const render = TABS.find((t) => t[0] === name)[2];
    try {
      const nodes = await render(base, bucket, () => open(name), name);
      if (mine === shown) body.replaceChildren(...nodes.filter((n) => n !== null));
    } catch (err) {
      if (mine === shown) body.replaceChildren(el("p", { class: "error" }, err.message));
    }
  };
  bar.append(...TABS.map(([name, caption]) => el("button", { type: "button", id: `tab-${name}`, "data-tab": name,
    onclick: () => open(name) }, caption)));
  box.replaceChildren(el("h2", {}, "Settings"), bar, body);
  return open(TABS.some((t) => t[0] === tab) ? tab : "lock");
}

// --- object lock --------------------------------------------------------------------------------------------------

async function lockTab(base, bucket, reload) {
  const url = base + "?object-lock";
  const doc = await readXml(url, "ObjectLockConfigurationNotFoundError");
  const enabledXml = "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>";
  if (!doc) {
    const versioning = text(await getXml(base + "?versioning"), "Status");
    const enable = el("button", { id: "lock-enable", onclick: act(async () => {
      if (!confirm(`Enable object lock on ${bucket}? It cannot be turned off, and versioning can then no longer ` +
        "be suspended.")) return null;
      await putXml(url, enabledXml + "</ObjectLockConfiguration>");
      return "object lock enabled";
    }, reload) }, "Enable object lock");
    return [el("p", {}, "Object lock: ", el("b", { id: "lock-state" }, "not enabled")),
      versioning === "Enabled" ? el("p", {}, "Lock can protect versions from deletion and overwriting for a " +
        "retention period. It cannot be turned off again. ", enable)
        : el("p", {}, "Object lock needs versioning: enable versioning first, or create a bucket with object lock.")];
  }
  const rule = doc.getElementsByTagName("DefaultRetention")[0];
  const years = val(rule, "Years");
  const mode = el("select", { id: "lock-mode" }, ["", "GOVERNANCE", "COMPLIANCE"].map((m) =>
    el("option", { value: m, selected: m === val(rule, "Mode") }, m || "no default retention")));
  const period = el("input", { id: "lock-period", type: "number", min: "1", value: years || val(rule, "Days") });
  const unit = el("select", { id: "lock-unit" }, el("option", { value: "Days" }, "days"),
    el("option", { value: "Years", selected: Boolean(years) }, "years"));
  const form = el("form", { id: "lock-form" }, label("Default retention mode", mode), label("Period", period),
    label("Unit", unit), el("button", {}, "Save"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    act(async () => {
      let inner = "";
      if (mode.value) {
        if (!(Number(period.value) > 0)) throw new Error("give the retention period, a whole number above 0");
        if (mode.value === "COMPLIANCE" && !confirm("In COMPLIANCE mode no one, the root included, can delete " +
          "a new version or shorten its retention until it ends. Save?")) return null;
        inner = `<Rule><DefaultRetention>${tag("Mode", mode.value)}${tag(unit.value, period.value)}` +
          "</DefaultRetention></Rule>";
      }
      await putXml(url, `${enabledXml}${inner}</ObjectLockConfiguration>`);
      return mode.value ? `default retention: ${mode.value} ${period.value} ${unit.value.toLowerCase()}`
        : "no default retention";
    }, reload)();
  });
  return [el("p", {}, "Object lock: ", el("b", { id: "lock-state" }, "enabled"), " (it cannot be turned off)"),
    el("p", {}, "New versions get the default retention unless a write asks for its own."), form];
}

// --- a list of rules with an XML view (lifecycle, CORS) -----------------------------------------------------------

function rulesEditor({ id, url, rules, blank, fieldset, collect, toXml, what }, reload) {
  const list = el("div", { id: `${id}-rules` });
  const add = (rule) => {
    const fs = fieldset(rule);
    fs.append(el("button", { type: "button", class: "danger", onclick: () => fs.remove() }, "Remove rule"));
    list.append(fs);
  };
  rules.forEach(add);
  const build = () => toXml([...list.children].map(collect));
  const xml = el("textarea", { id: `${id}-xml`, rows: "14", spellcheck: "false" });
  const raw = el("div", { hidden: true }, xml, el("p", { class: "row" },
    el("button", { type: "button", id: `${id}-save-xml`, onclick: act(async () => {
      await putXml(url, xml.value);
      return `${what} saved`;
    }, reload) }, "Save this XML")));
  return [list, el("p", { class: "row" },
    el("button", { type: "button", class: "plain", id: `${id}-add`, onclick: () => add(blank()) }, "Add rule"),
    el("button", { type: "button", id: `${id}-save`, onclick: act(async () => {
      if (!list.children.length) {
        await call("DELETE", url);
        return `${what} removed`;
      }
      await putXml(url, build());
      return `${what} saved`;
    }, reload) }, "Save rules"),
    el("button", { type: "button", class: "plain", id: `${id}-view`, onclick: () => {
      try { xml.value = build(); } catch (err) { say(err.message, true); }
      raw.hidden = !raw.hidden;
    } }, "View XML"),
    rules.length ? el("button", { type: "button", class: "danger", id: `${id}-delete`, onclick: act(async () => {
      if (!confirm(`Remove the bucket's ${what}?`)) return null;
      await call("DELETE", url);
      return `${what} removed`;
    }, reload) }, `Delete ${what}`) : null), raw];
}

// --- lifecycle ----------------------------------------------------------------------------------------------------

function lifecycleRule(r) {
  const filter = kid(r, "Filter");
  const scopes = filter ? [filter, kid(filter, "And")].filter(Boolean) : [r];
  const pick = (name) => scopes.map((s) => val(s, name)).find(Boolean) ?? "";
  const exp = kid(r, "Expiration");
  const nc = kid(r, "NoncurrentVersionExpiration");
  const transition = (t) => `<${t.localName}>${[...t.children].map((c) => tag(c.localName, c.textContent)).join("")}` +
    `</${t.localName}>`;
  const describe = (t) => `${t.localName === "Transition" ? "current" : "noncurrent"} versions to ` +
    `${val(t, "StorageClass")} ${val(t, "Date") ? `on ${val(t, "Date").slice(0, 10)}`
      : `after ${val(t, "Days") || val(t, "NoncurrentDays")} days`}`;
  const transitions = [...kids(r, "Transition"), ...kids(r, "NoncurrentVersionTransition")];
  return { id: val(r, "ID"), status: val(r, "Status") || "Enabled", prefix: pick("Prefix"),
    tags: scopes.flatMap((s) => kids(s, "Tag")).map((t) => `${val(t, "Key")}=${val(t, "Value")}`).join("\n"),
    gt: pick("ObjectSizeGreaterThan"), lt: pick("ObjectSizeLessThan"),
    expDays: val(exp, "Days"), expDate: val(exp, "Date").slice(0, 10),
    marker: val(exp, "ExpiredObjectDeleteMarker") === "true",
    ncDays: val(nc, "NoncurrentDays"), ncNewer: val(nc, "NewerNoncurrentVersions"),
    abort: val(kid(r, "AbortIncompleteMultipartUpload"), "DaysAfterInitiation"),
    kept: transitions.map(transition).join(""), keptText: transitions.map(describe) };
}

const input = (name, value, attrs = {}) => el("input", { name, value: value ?? "", ...attrs });
const days = (name, value) => input(name, value, { type: "number", min: "1", placeholder: "days" });

function lifecycleFieldset(r) {
  const fs = el("fieldset", { class: "rule" }, el("legend", {}, r.id || "New rule"),
    label("Rule ID", input("id", r.id, { placeholder: "(generated)" })),
    label("Status", el("select", { name: "status" }, ["Enabled", "Disabled"].map((s) =>
      el("option", { selected: s === r.status }, s)))),
    label("Key prefix", input("prefix", r.prefix, { placeholder: "all keys" })),
    label("Object tags (key=value, one a line)", el("textarea", { name: "tags", rows: "2" }, r.tags)),
    label("Size above (bytes)", input("gt", r.gt, { type: "number", min: "0" })),
    label("Size below (bytes)", input("lt", r.lt, { type: "number", min: "1" })),
    label("Expire current versions after (days)", days("expDays", r.expDays)),
    label("…or on the date (UTC)", input("expDate", r.expDate, { type: "date" })),
    label("Remove expired delete markers", input("marker", "", { type: "checkbox", checked: r.marker }), "check"),
    label("Expire noncurrent versions after (days)", days("ncDays", r.ncDays)),
    label("…but keep the newest (versions)", input("ncNewer", r.ncNewer, { type: "number", min: "1", max: "100" })),
    label("Abort incomplete multipart uploads after (days)", days("abort", r.abort)),
    r.keptText.length ? el("p", { class: "kept" }, "Transitions (kept as they are): ", r.keptText.join("; ")) : null);
  fs.kept = r.kept;
  return fs;
}

function lifecycleCollect(fs) {
  const v = (n) => field(fs, n).value.trim();
  const id = v("id");
  const tags = lines(field(fs, "tags").value).map((line) => {
    const at = line.indexOf("=");
    if (at < 1) throw new Error(`rule ${id || "(new)"}: a tag is key=value, not "${line}"`);
    return `<Tag>${tag("Key", line.slice(0, at).trim())}${tag("Value", line.slice(at + 1).trim())}</Tag>`;
  });
  const parts = [v("prefix") ? tag("Prefix", v("prefix")) : "", ...tags,
    v("gt") ? tag("ObjectSizeGreaterThan", v("gt")) : "", v("lt") ? tag("ObjectSizeLessThan", v("lt")) : ""]
    .filter(Boolean);
  const filter = parts.length > 1 ? `<And>${parts.join("")}</And>` : parts.join("");
  const expiries = [v("expDays") && tag("Days", v("expDays")),
    v("expDate") && tag("Date", `${v("expDate")}T00:00:00Z`),
    field(fs, "marker").checked && tag("ExpiredObjectDeleteMarker", "true")].filter(Boolean);
  if (expiries.length > 1) {
    throw new Error(`rule ${id || "(new)"}: expire after days, on a date, or remove delete markers: one of them`);
  }
  const nc = v("ncDays") ? `<NoncurrentVersionExpiration>${tag("NoncurrentDays", v("ncDays"))}` +
    `${v("ncNewer") ? tag("NewerNoncurrentVersions", v("ncNewer")) : ""}</NoncurrentVersionExpiration>` : "";
  return ["<Rule>", id ? tag("ID", id) : "", `<Filter>${filter}</Filter>`, tag("Status", v("status")), fs.kept,
    expiries.length ? `<Expiration>${expiries[0]}</Expiration>` : "", nc,
    v("abort") ? `<AbortIncompleteMultipartUpload>${tag("DaysAfterInitiation", v("abort"))}` +
      "</AbortIncompleteMultipartUpload>" : "", "</Rule>"].filter(Boolean).join("\n  ");
}

async function lifecycleTab(base, bucket, reload) {
  const url = base + "?lifecycle";
  const doc = await readXml(url, "NoSuchLifecycleConfiguration");
  const rules = doc ? kids(doc.documentElement, "Rule").map(lifecycleRule) : [];
  return [el("p", {}, rules.length ? `${rules.length} rule${rules.length > 1 ? "s" : ""}. ` : "No lifecycle rules. ",
    "A rule expires versions or cleans up uploads for the keys its filter matches (all keys without one)."),
  ...rulesEditor({ id: "lifecycle", url, rules, what: "lifecycle configuration", fieldset: lifecycleFieldset,
    collect: lifecycleCollect, toXml: (xs) => `<LifecycleConfiguration>\n${xs.join("\n")}\n</LifecycleConfiguration>`,
    blank: () => ({ id: "", status: "Enabled", prefix: "", tags: "", gt: "", lt: "", expDays: "", expDate: "",
      marker: false, ncDays: "", ncNewer: "", abort: "", kept: "", keptText: [] }) }, reload)];
}

// --- CORS ---------------------------------------------------------------------------------------------------------

const METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD"];

function corsFieldset(r) {
  const area = (name, values, hint) => el("textarea", { name, rows: "2", placeholder: hint }, values.join("\n"));
  return el("fieldset", { class: "rule" }, el("legend", {}, r.id || "CORS rule"),
    label("Rule ID", input("id", r.id, { placeholder: "(none)" })),
    label("Allowed origins (one a line)", area("origins", r.origins, "scheme://host[:port], or *")),
    el("div", { class: "methods" }, "Allowed methods", METHODS.map((m) => label(m, input(`method-${m}`, "",
      { type: "checkbox", checked: r.methods.includes(m) }), "check"))),
    label("Allowed request headers", area("headers", r.headers, "*")),
    label("Exposed response headers", area("expose", r.expose, "ETag")),
    label("Max age (seconds)", input("maxAge", r.maxAge, { type: "number", min: "0" })));
}

function corsCollect(fs) {
  const values = (n) => lines(field(fs, n).value);
  const methods = METHODS.filter((m) => field(fs, `method-${m}`).checked);
  const id = field(fs, "id").value.trim();
  if (!values("origins").length || !methods.length) {
    throw new Error(`CORS rule ${id || "(new)"}: give at least one origin and one method`);
  }
  const many = (name, xs) => xs.map((x) => tag(name, x)).join("");
  const age = field(fs, "maxAge").value.trim();
  return `<CORSRule>${id ? tag("ID", id) : ""}${many("AllowedOrigin", values("origins"))}` +
    `${many("AllowedMethod", methods)}${many("AllowedHeader", values("headers"))}` +
    `${many("ExposeHeader", values("expose"))}${age ? tag("MaxAgeSeconds", age) : ""}</CORSRule>`;
}

async function corsTab(base, bucket, reload) {
  const url = base + "?cors";
  const doc = await readXml(url, "NoSuchCORSConfiguration");
  const rules = (doc ? kids(doc.documentElement, "CORSRule") : []).map((r) => ({ id: val(r, "ID"),
    origins: kids(r, "AllowedOrigin").map((n) => n.textContent), methods: kids(r, "AllowedMethod").map((n) =>
      n.textContent), headers: kids(r, "AllowedHeader").map((n) => n.textContent),
    expose: kids(r, "ExposeHeader").map((n) => n.textContent), maxAge: val(r, "MaxAgeSeconds") }));
  return [el("p", {}, rules.length ? "" : "No CORS rules: browsers on other sites cannot read this bucket. ",
    "A rule lets pages from its origins call the S3 API on this bucket with its methods."),
  ...rulesEditor({ id: "cors", url, rules, what: "CORS configuration", fieldset: corsFieldset, collect: corsCollect,
    toXml: (xs) => `<CORSConfiguration>\n${xs.join("\n")}\n</CORSConfiguration>`,
    blank: () => ({ id: "", origins: [], methods: ["GET"], headers: [], expose: [], maxAge: "" }) }, reload)];
}

// --- policy -------------------------------------------------------------------------------------------------------

async function policyTab(base, bucket, reload) {
  const url = base + "?policy";
  let current = null;
  try { current = await (await call("GET", url)).text(); } catch (e) {
    if (!(e instanceof ApiError && e.code === "NoSuchBucketPolicy")) throw e;
  }
  const area = el("textarea", { id: "policy-text", rows: "14", spellcheck: "false", placeholder:
    JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: "arn:aws:iam::ACCOUNT:root" },
      Action: "s3:GetObject", Resource: `arn:aws:s3:::${bucket}/*` }] }, null, 2) });
  try { area.value = current ? JSON.stringify(JSON.parse(current), null, 2) : ""; } catch { area.value = current; }
  const problems = el("div", { id: "policy-problems" });
  const report = (list, from = "") => {
    problems.replaceChildren(list.length ? el("ul", { class: "problems" }, list.map((p) => el("li", {}, from + p)))
      : el("p", { class: "ok" }, "No problems found."));
    return list.length === 0;
  };
  const check = () => report(checkPolicy(area.value, { kind: "bucket", bucket }));
  area.addEventListener("input", () => problems.replaceChildren());
  return [el("p", {}, current ? "The bucket's policy:" : "No bucket policy.",
    " It is checked here before it is saved, then by the server."), area, problems,
  el("p", { class: "row" },
    el("button", { type: "button", class: "plain", id: "policy-check", onclick: check }, "Validate"),
    el("button", { type: "button", id: "policy-save", onclick: act(async () => {
      if (!check()) throw new Error("not saved: the policy has problems (listed under it)");
      try { await call("PUT", url, { body: area.value, headers: { "Content-Type": "application/json" } }); }
      catch (err) { report([err.message], "The server refused it: "); throw err; }
      return "policy saved";
    }, reload) }, "Save policy"),
    current ? el("button", { type: "button", class: "danger", id: "policy-delete", onclick: act(async () => {
      if (!confirm(`Delete the policy of ${bucket}?`)) return null;
      await call("DELETE", url);
      return "policy deleted";
    }, reload) }, "Delete policy") : null)];
}

// --- tags ---------------------------------------------------------------------------------------------------------

async function tagsTab(base, bucket, reload) {
  const url = base + "?tagging";
  const doc = await readXml(url, "NoSuchTagSet");
  const rows = el("div", { id: "tag-rows" });
  const add = (key = "", value = "") => {
    const row = el("p", { class: "row" }, input("key", key, { placeholder: "key", maxlength: "128" }),
      input("value", value, { placeholder: "value", maxlength: "256" }));
    row.append(el("button", { type: "button", class: "plain", onclick: () => row.remove() }, "Remove"));
    rows.append(row);
  };
  for (const t of doc ? doc.getElementsByTagName("Tag") : []) add(val(t, "Key"), val(t, "Value"));
  return [el("p", {}, rows.children.length ? "" : "No tags. ", "Up to 50 tags; keys are unique."), rows,
    el("p", { class: "row" },
      el("button", { type: "button", class: "plain", id: "tag-add", onclick: () => add() }, "Add tag"),
      el("button", { type: "button", id: "tags-save", onclick: act(async () => {
        const tags = [...rows.children].map((r) => [field(r, "key").value.trim(), field(r, "value").value])
          .filter(([k]) => k);
        if (!tags.length) {
          await call("DELETE", url);
          return "tags removed";
        }
        await putXml(url, `<Tagging><TagSet>${tags.map(([k, v]) => `<Tag>${tag("Key", k)}${tag("Value", v)}</Tag>`)
          .join("")}</TagSet></Tagging>`);
        return "tags saved";
      }, reload) }, "Save tags"))];
}

// --- default encryption -------------------------------------------------------------------------------------------

async function encryptionTab(base, bucket, reload) {
  const url = base + "?encryption";
  const doc = await readXml(url, "ServerSideEncryptionConfigurationNotFoundError");
  const algorithm = doc ? text(doc, "SSEAlgorithm") : "";
  const key = doc ? text(doc, "KMSMasterKeyID") : "";
  const state = !algorithm ? "none (objects are stored as sent)" : algorithm === "AES256" ? "SSE-S3 (AES256)"
    : `${algorithm}${key ? `, key ${key}` : ""}${text(doc, "BucketKeyEnabled") === "true" ? ", bucket key" : ""}`;
  const box = input("sse", "", { type: "checkbox", id: "sse-s3", checked: algorithm === "AES256" });
  return [el("p", {}, "Default encryption of new objects: ", el("b", { id: "encryption-state" }, state)),
    algorithm && algorithm !== "AES256" ? el("p", {}, "Saving here replaces this setting.") : null,
    el("p", { class: "row" }, label("Encrypt new objects with SSE-S3 (AES256) unless a write asks otherwise", box,
      "check"), el("button", { type: "button", id: "encryption-save", onclick: act(async () => {
      if (box.checked) {
        await putXml(url, "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>" +
          "<SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>" +
          "</ServerSideEncryptionConfiguration>");
        return "default encryption: SSE-S3";
      }
      if (algorithm && algorithm !== "AES256" && !confirm(`Remove the ${algorithm} default encryption?`)) return null;
      await call("DELETE", url);
      return "default encryption removed";
    }, reload) }, "Save"))];
}

// --- the other configurations, as XML (the S3 document, checked well-formed here, then by the server) ------------

const XML_CONFIGS = {
  notification: { missing: "", example: "<NotificationConfiguration><QueueConfiguration><Id>uploads</Id>" +
    "<Queue>arn:aws:sqs:REGION:pails:TARGET</Queue><Event>s3:ObjectCreated:*</Event></QueueConfiguration>" +
    "</NotificationConfiguration>",
  about: "Event notifications to the targets the operator configured (`pails target list` names their ARNs; " +
    "docs/notifications.md). An empty configuration turns them off." },
  website: { missing: "NoSuchWebsiteConfiguration", remove: true, example: "<WebsiteConfiguration><IndexDocument>" +
    "<Suffix>index.html</Suffix></IndexDocument><ErrorDocument><Key>error.html</Key></ErrorDocument>" +
    "</WebsiteConfiguration>", about: "Static website hosting on the website endpoint (docs/website.md)." },
  logging: { missing: "", example: "<BucketLoggingStatus><LoggingEnabled><TargetBucket>LOG-BUCKET</TargetBucket>" +
    "<TargetPrefix>logs/</TargetPrefix></LoggingEnabled></BucketLoggingStatus>",
  about: "Server access logs delivered as objects into a target bucket (docs/access-logging.md). " +
    "An empty BucketLoggingStatus turns them off." },
  publicAccessBlock: { missing: "NoSuchPublicAccessBlockConfiguration", remove: true,
    example: "<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls><IgnorePublicAcls>true" +
    "</IgnorePublicAcls><BlockPublicPolicy>true</BlockPublicPolicy><RestrictPublicBuckets>true" +
    "</RestrictPublicBuckets></PublicAccessBlockConfiguration>",
  about: "Blocks public ACLs and public bucket policies on this bucket." },
  ownershipControls: { missing: "OwnershipControlsNotFoundError", remove: true,
    example: "<OwnershipControls><Rule><ObjectOwnership>BucketOwnerEnforced</ObjectOwnership></Rule>" +
    "</OwnershipControls>", about: "Object ownership: BucketOwnerEnforced turns ACLs off." },
};

async function xmlTab(base, bucket, reload, name) {
  const config = XML_CONFIGS[name];
  const url = `${base}?${name}`;
  const doc = await readXml(url, config.missing || "-");
  const current = doc ? new XMLSerializer().serializeToString(doc.documentElement).replace(/ xmlns="[^"]*"/, "") : "";
  const area = el("textarea", { id: `${name}-xml`, rows: "10", spellcheck: "false", placeholder: config.example });
  area.value = current;
  return [el("p", {}, config.about), area,
    el("p", { class: "row" }, el("button", { type: "button", id: `${name}-save`, onclick: act(async () => {
      const parsed = new DOMParser().parseFromString(area.value, "application/xml");
      if (!area.value.trim() || parsed.getElementsByTagName("parsererror").length) {
        throw new Error("not saved: the text is not well-formed XML");
      }
      await putXml(url, area.value);
      return "saved";
    }, reload) }, "Save"),
    config.remove && doc ? el("button", { type: "button", class: "danger", id: `${name}-delete`, onclick: act(async () => {
      if (!confirm(`Remove this configuration of ${bucket}?`)) return null;
      await call("DELETE", url);
      return "removed";
    }, reload) }, "Remove") : null)];
}
