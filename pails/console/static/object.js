// One object, or one version of it: what HEAD says, its metadata (replaced by
// a CopyObject onto itself), its tags, and its retention and legal hold. The
// router imports this module on first use, so the login page stays light.
import { ApiError, call, crc32, getXml, s3Path, text } from "./api.js";
import { el, say, show } from "./app.js";
import { objectHash, size } from "./pages.js";
import { share } from "./versions.js";

// System metadata a CopyObject with REPLACE sets again (the HEAD header, the label).
const SYSTEM = [["content-type", "Content-Type"], ["cache-control", "Cache-Control"],
  ["content-disposition", "Content-Disposition"], ["content-encoding", "Content-Encoding"],
  ["content-language", "Content-Language"], ["expires", "Expires"]];
const CHECKSUMS = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"];
const META = "x-amz-meta-";

// HEAD, never from the browser's cache (the object's own Cache-Control may allow one).
async function head(url) {
  const res = await fetch(url, { method: "HEAD", cache: "no-store", credentials: "same-origin",
    headers: { "x-amz-checksum-mode": "ENABLED" } });
  if (res.status === 401) window.dispatchEvent(new Event("pails-logged-out"));
  if (!res.ok) {
    const code = { 404: "NoSuchKey", 403: "AccessDenied", 405: "MethodNotAllowed" }[res.status] || String(res.status);
    throw new ApiError(res.status, code, `${code}: HEAD answered ${res.status}` +
      (res.status === 405 ? " (a delete marker)" : ""));
  }
  return res.headers;
}

const escapeXml = (s) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// S3 needs Content-MD5 or a checksum on retention and legal-hold bodies: CRC32 it is.
const xmlPut = (url, body, headers = {}) => call("PUT", url, { body, headers: { ...headers,
  "Content-Type": "application/xml", "x-amz-checksum-crc32": crc32(new TextEncoder().encode(body)) } });

// Rows of two inputs (name, value) with a remove button, and a button adding one.
function pairs(id, names, entries) {
  const row = ([k, v] = ["", ""]) => el("div", { class: "pair" },
    el("input", { name: names[0], value: k, placeholder: names[0] }),
    el("input", { name: names[1], value: v, placeholder: names[1] }),
    el("button", { type: "button", class: "plain", onclick: (e) => e.target.parentNode.remove() }, "×"));
  const box = el("div", { id }, entries.map(row));
  return [box, el("button", { type: "button", class: "plain", onclick: () => box.append(row()) }, "Add")];
}

const readPairs = (box) => [...box.querySelectorAll(".pair")].map((r) => [...r.querySelectorAll("input")]
  .map((i) => i.value.trim())).filter(([k]) => k);

export async function objectPage(main, bucket, key, versionId = null) {
  const url = s3Path(bucket, key);
  const vq = versionId ? `versionId=${encodeURIComponent(versionId)}` : "";
  const sub = (name) => `${url}?${name}${vq ? "&" + vq : ""}`;
  const h = await head(vq ? `${url}?${vq}` : url);
  const shown = h.get("x-amz-version-id");  // null in a bucket never versioned
  let latest = !versionId;
  if (versionId) {
    try { latest = (await head(url)).get("x-amz-version-id") === versionId; } catch { latest = false; }
  }
  const reload = () => objectPage(main, bucket, key, versionId);
  const when = (s) => s ? new Date(s).toISOString().slice(0, 19).replace("T", " ") + " UTC" : null;
  const checksum = CHECKSUMS.filter((c) => h.get(`x-amz-checksum-${c}`))
    .map((c) => `${c.toUpperCase()} ${h.get(`x-amz-checksum-${c}`)}`).join(", ");
  const sse = h.get("x-amz-server-side-encryption");
  const facts = [["Key", key], ["Version", shown], ["Size", `${size(Number(h.get("content-length")))} ` +
    `(${h.get("content-length")} bytes)`], ["ETag", h.get("etag")], ["Last modified", when(h.get("last-modified"))],
  ["Storage class", h.get("x-amz-storage-class") || "STANDARD"],
  ["Encryption", sse ? sse + (h.get("x-amz-server-side-encryption-aws-kms-key-id") ? ` (key ${
    h.get("x-amz-server-side-encryption-aws-kms-key-id")})` : "") : "none"],
  ["Checksum", checksum ? checksum + (h.get("x-amz-checksum-type") ? ` (${h.get("x-amz-checksum-type")})` : "") : null],
  ...SYSTEM.map(([name, label]) => [label, h.get(name)]),
  ["Website redirect", h.get("x-amz-website-redirect-location")], ["Tags", h.get("x-amz-tagging-count")],
  ["Object lock", h.get("x-amz-object-lock-mode") ? `${h.get("x-amz-object-lock-mode")} until ` +
    when(h.get("x-amz-object-lock-retain-until-date")) : null],
  ["Legal hold", h.get("x-amz-object-lock-legal-hold")]];
  const userMeta = [...h.entries()].filter(([k]) => k.startsWith(META)).map(([k, v]) => [k.slice(META.length), v]);
  const factsTable = el("table", { id: "facts" },
    facts.filter(([, v]) => v !== null && v !== undefined && v !== "").map(([k, v]) =>
      el("tr", {}, el("th", {}, k), el("td", {}, String(v)))),
    userMeta.map(([k, v]) => el("tr", { class: "user-meta" }, el("th", {}, META + k), el("td", {}, v))));

  const crumbs = el("p", { class: "crumbs" }, el("a", { href: "#/buckets" }, "Buckets"), " / ",
    el("a", { href: `#/objects/${encodeURIComponent(bucket)}/` }, bucket), " / ");
  let walked = "";
  for (const part of key.split("/").slice(0, -1)) {
    walked += part + "/";
    crumbs.append(el("a", { href: `#/objects/${encodeURIComponent(bucket)}/${encodeURIComponent(walked)}` }, part),
      " / ");
  }
  crumbs.append(key.split("/").pop(), " · ", el("a", { href: `#/versions/${encodeURIComponent(bucket)}/` +
    encodeURIComponent(key) }, "Versions"));
  if (versionId && !latest) crumbs.append(" · ", el("a", { href: objectHash(bucket, key) }, "Latest"));
  const shareBox = el("p", { id: "share" });
  const actions = el("p", {}, el("a", { href: vq ? `${url}?${vq}` : url, download: key.split("/").pop() || "object" },
    "Download"), " ", el("button", { class: "plain", onclick: () => share(bucket, key, versionId, shareBox) },
    "Share"));

  show(main, el("h1", {}, versionId ? "Object version" : "Object"), crumbs, actions, shareBox, factsTable,
    el("h2", {}, "Metadata"), latest ? metadataForm(bucket, key, h, userMeta, reload)
      : el("p", {}, "A stored version's metadata does not change; edit the latest version's (a copy)."),
    el("h2", {}, "Tags"), await tagsForm(sub, reload),
    el("h2", {}, "Retention and legal hold"), await lockSection(sub, reload));
}

// Metadata is part of a version: S3 replaces it by copying the object onto itself
// (a new version in a versioned bucket; the tags come along, the lock is the bucket's default).
function metadataForm(bucket, key, h, userMeta, reload) {
  const [rows, add] = pairs("user-meta", ["meta-name", "meta-value"], userMeta);
  const form = el("form", { id: "metadata", class: "stack" },
    el("div", { class: "fields" }, SYSTEM.map(([name, label]) => el("label", {}, label,
      el("input", { name, value: h.get(name) || "", placeholder: name === "content-type" ? "binary/octet-stream" : "" })))),
    el("p", {}, "User metadata (x-amz-meta-…)"), rows, el("p", {}, add, " ", el("button", {}, "Save metadata")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const version = h.get("x-amz-version-id");
    const source = `${encodeURIComponent(bucket)}/${key.split("/").map(encodeURIComponent).join("/")}` +
      (version && version !== "null" ? `?versionId=${encodeURIComponent(version)}` : "");
    const headers = { "x-amz-copy-source": source, "x-amz-metadata-directive": "REPLACE" };
    for (const [name] of SYSTEM) if (form.elements[name].value.trim()) headers[name] = form.elements[name].value.trim();
    for (const name of ["x-amz-storage-class", "x-amz-server-side-encryption",
      "x-amz-server-side-encryption-aws-kms-key-id"]) if (h.get(name)) headers[name] = h.get(name);
    for (const [k, v] of readPairs(rows)) headers[META + k.toLowerCase()] = v;
    try {
      await call("PUT", s3Path(bucket, key), { headers });
      await reload();
      say("metadata saved");
    } catch (err) { say(err instanceof TypeError ? `not sent: ${err.message}` : err.message, true); }
  });
  return form;
}

async function tagsForm(sub, reload) {
  let tags;
  try {
    const doc = await getXml(sub("tagging"));
    tags = [...doc.getElementsByTagName("Tag")].map((t) => [text(t, "Key"), text(t, "Value")]);
  } catch (err) { return el("p", { class: "error" }, err.message); }
  const [rows, add] = pairs("tag-rows", ["tag-key", "tag-value"], tags);
  const form = el("form", { id: "tags", class: "stack" }, rows,
    el("p", {}, add, " ", el("button", {}, "Save tags")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const set = readPairs(rows);
    try {
      if (set.length) {
        await xmlPut(sub("tagging"), `<Tagging><TagSet>${set.map(([k, v]) =>
          `<Tag><Key>${escapeXml(k)}</Key><Value>${escapeXml(v)}</Value></Tag>`).join("")}</TagSet></Tagging>`);
      } else await call("DELETE", sub("tagging"));
      await reload();
      say(set.length ? `${set.length} tag${set.length === 1 ? "" : "s"} saved` : "tags removed");
    } catch (err) { say(err.message, true); }
  });
  return form;
}

async function lockSection(sub, reload) {
  const section = el("div", { id: "lock" });
  let retention = null, hold = "OFF";
  try {
    const doc = await getXml(sub("retention"));
    retention = { mode: text(doc, "Mode"), until: text(doc, "RetainUntilDate") };
  } catch (err) {
    if (err.code === "InvalidRequest") {
      section.append(el("p", {}, "The bucket has no object lock."));
      return section;
    }
    if (err.code !== "NoSuchObjectLockConfiguration") {
      section.append(el("p", { class: "error" }, err.message));
      return section;
    }
  }
  try { hold = text(await getXml(sub("legal-hold")), "Status") || "OFF"; }
  catch (err) { if (err.code !== "NoSuchObjectLockConfiguration") hold = `unknown (${err.message})`; }
  const until = retention ? new Date(retention.until) : new Date(Date.now() + 86400000);
  const form = el("form", { id: "retention" },
    el("select", { name: "mode" }, ["GOVERNANCE", "COMPLIANCE"].map((m) =>
      el("option", { value: m, selected: retention?.mode === m }, m))),
    el("label", {}, "until (UTC) ", el("input", { name: "until", type: "datetime-local", required: true,
      value: until.toISOString().slice(0, 16) })),
    el("label", {}, el("input", { name: "bypass", type: "checkbox" }), " bypass governance retention"),
    el("button", {}, "Set retention"),
    el("button", { type: "button", class: "danger", id: "remove-retention", onclick: () => put("<Retention/>") },
      "Remove retention"));
  async function put(body) {
    const bypass = form.elements.bypass.checked ? { "x-amz-bypass-governance-retention": "true" } : {};
    try { await xmlPut(sub("retention"), body, bypass); await reload(); say("retention saved"); }
    catch (err) { say(err.message, true); }
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const date = new Date(form.elements.until.value + "Z");
    if (isNaN(date)) { say("give a date and time", true); return; }
    put(`<Retention><Mode>${form.elements.mode.value}</Mode><RetainUntilDate>${date.toISOString()}` +
      "</RetainUntilDate></Retention>");
  });
  const want = hold === "ON" ? "OFF" : "ON";
  section.append(
    el("p", {}, "Retention: ", el("b", { id: "retention-now" }, retention
      ? `${retention.mode} until ${retention.until}` : "none")),
    form,
    el("p", {}, "Legal hold: ", el("b", { id: "legal-hold" }, hold), " ",
      el("button", { id: "legal-hold-toggle", class: "plain", onclick: async () => {
        try {
          await xmlPut(sub("legal-hold"), `<LegalHold><Status>${want}</Status></LegalHold>`);
          await reload();
          say(`legal hold ${want}`);
        } catch (err) { say(err.message, true); }
      } }, want === "ON" ? "Place legal hold" : "Release legal hold")));
  return section;
}
