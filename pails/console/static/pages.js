// The pages: dashboard, buckets, one bucket (its settings tabs: settings.js), the object browser.
// Each renders into main from the S3 API (through api/s3/, as the logged-in
// principal) and the console's two reads (api/dashboard, api/usage/BUCKET).
import { call, getJson, getXml, s3Path, text, texts, upload } from "./api.js";
import { el, every, say, show } from "./app.js";
import { share } from "./versions.js";

const PAGE = 200;  // keys per page of the object browser (S3 pages; never a full listing)

export function size(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  for (; n >= 1024 && i < units.length - 1; i++) n /= 1024;
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

const card = (label, value, id) => el("div", { class: "card", id }, label, el("b", {}, String(value)));
const objectsHash = (bucket, prefix = "") => `#/objects/${encodeURIComponent(bucket)}/${encodeURIComponent(prefix)}`;
export const objectHash = (bucket, key, version = null) => `#/object/${encodeURIComponent(bucket)}/` +
  encodeURIComponent(key) + (version ? `?versionId=${encodeURIComponent(version)}` : "");

export async function dashboardPage(main) {
  const render = async () => {
    const d = await getJson("api/dashboard");
    const cards = [card("Version", d.version), card("Uptime", `${Math.floor(d.uptime_seconds / 3600)} h ` +
      `${Math.floor(d.uptime_seconds / 60) % 60} min`), card("Store", d.store)];
    if (d.account) {
      cards.push(card("Buckets", d.account.buckets, "buckets"), card("Objects", d.account.objects, "objects"),
        card("Stored", size(d.account.stored_bytes)));
    }
    if (d.capacity) {
      const used = d.capacity.total_bytes - d.capacity.free_bytes;
      cards.push(card("Disk used", size(used)), card("Disk free", size(d.capacity.free_bytes)));
    }
    if (d.totals) {
      cards.push(card("Requests since start", d.totals.requests, "requests"),
        card("Errors 4xx / 5xx", `${d.totals.client_errors} / ${d.totals.server_errors}`));
    }
    if (d.totals && !d.requests) {  // one sample so far: the average since the server started
      cards.push(card("Requests/s (since start)", (d.totals.requests / Math.max(d.uptime_seconds, 1)).toFixed(2)));
    }
    if (d.requests) {
      cards.push(card(`Requests/s (${Math.round(d.requests.seconds)} s)`, d.requests.requests_per_second),
        card("4xx / 5xx", `${(d.requests.client_error_ratio * 100).toFixed(1)} % / ` +
          `${(d.requests.server_error_ratio * 100).toFixed(1)} %`));
    }
    show(main, el("h1", {}, "Dashboard"), el("div", { class: "cards" }, cards),
      d.limited ? el("p", {}, d.limited) : null);
  };
  await render();
  every(5000, () => render().catch((e) => say(e.message, true)));
}

export async function bucketsPage(main) {
  const doc = await getXml(s3Path(""));
  const names = texts(doc, "Name");
  const dates = texts(doc, "CreationDate");
  const form = el("form", { id: "create-bucket" }, el("input", { name: "name", placeholder: "new-bucket-name",
    required: true, pattern: "[a-z0-9][a-z0-9.\\-]{1,61}[a-z0-9]" }), el("label", { class: "check" },
    el("input", { type: "checkbox", name: "lock", id: "create-lock" }), "Object lock (turns versioning on for good)"),
  el("button", {}, "Create bucket"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = form.elements.name.value.trim();
    try {
      await call("PUT", s3Path(name).replace(/\/$/, ""),
        { headers: form.elements.lock.checked ? { "x-amz-bucket-object-lock-enabled": "true" } : {} });
      say(`created ${name}`);
      await bucketsPage(main);
    } catch (err) { say(err.message, true); }
  });
  const rows = names.map((name, i) => el("tr", {},
    el("td", {}, el("a", { href: objectsHash(name) }, name)),
    el("td", { class: "hide-s" }, dates[i].slice(0, 10)),
    el("td", { class: "n" }, el("a", { href: `#/bucket/${encodeURIComponent(name)}` }, "settings"), " ",
      el("button", { class: "danger", onclick: async () => {
        if (!confirm(`Delete the bucket ${name}? (it must be empty)`)) return;
        try { await call("DELETE", s3Path(name).replace(/\/$/, "")); say(`deleted ${name}`); await bucketsPage(main); }
        catch (err) { say(err.message, true); }
      } }, "Delete"))));
  show(main, el("h1", {}, "Buckets"), form,
    el("table", { id: "buckets" }, el("tr", {}, el("th", {}, "Name"), el("th", { class: "hide-s" }, "Created"),
      el("th", {})), rows), names.length ? null : el("p", {}, "No buckets yet."));
}

export async function bucketPage(main, bucket, tab) {
  const base = s3Path(bucket).replace(/\/$/, "");
  const state = text(await getXml(base + "?versioning"), "Status") || "Unversioned";
  let usage = null;
  try { usage = await getJson(`api/usage/${encodeURIComponent(bucket)}`); } catch { /* IAM users: not shown */ }
  const toggle = el("button", { id: "versioning-toggle", onclick: async () => {
    const want = state === "Enabled" ? "Suspended" : "Enabled";
    try {
      await call("PUT", base + "?versioning", { headers: { "Content-Type": "application/xml" }, body:
        `<VersioningConfiguration><Status>${want}</Status></VersioningConfiguration>` });
      say(`versioning ${want.toLowerCase()}`);
      await bucketPage(main, bucket);
    } catch (err) { say(err.message, true); }
  } }, state === "Enabled" ? "Suspend versioning" : "Enable versioning");
  const quota = usage?.quota;
  const settings = el("div", { id: "bucket-settings" });  // object lock, lifecycle, CORS, ...: settings.js
  const quotaSlot = usage ? el("div", { id: "quota-slot" }) : null;  // set or remove it: quota.js
  show(main, el("h1", {}, bucket), el("p", {}, el("a", { href: objectsHash(bucket) }, "Browse objects")),
    el("h2", {}, "Versioning"), el("p", {}, "Status: ", el("b", { id: "versioning" }, state), " ", toggle),
    el("h2", {}, "Usage"), usage ? el("div", { class: "cards" },
      card("Objects", usage.usage.objects), card("Bytes", size(usage.usage.bytes)),
      card("Older versions", `${usage.usage.noncurrent_objects} (${size(usage.usage.noncurrent_bytes)})`),
      card("Quota", quota ? `${size(quota.max_bytes)} / ${quota.max_objects ?? "–"} objects` : "none"))
      : el("p", {}, "Usage and quota are shown to account roots."), quotaSlot, settings);
  if (quotaSlot) {
    quotaSlot.append((await import("./quota.js")).quotaForm(bucket, quota, () => bucketPage(main, bucket, tab)));
  }
  await (await import("./settings.js")).bucketSettings(settings, bucket, base, tab);
}

export async function objectsPage(main, bucket, prefix, token = "", history = []) {
  const q = new URLSearchParams({ "list-type": "2", delimiter: "/", "max-keys": String(PAGE), prefix });
  if (token) q.set("continuation-token", token);
  const doc = await getXml(`${s3Path(bucket).replace(/\/$/, "")}?${q}`);
  const folders = [...doc.querySelectorAll("CommonPrefixes > Prefix")].map((n) => n.textContent);
  const objects = [...doc.getElementsByTagName("Contents")].map((c) => ({ key: text(c, "Key"),
    size: Number(text(c, "Size")), modified: text(c, "LastModified") }));
  const next = text(doc, "NextContinuationToken");
  const reload = () => objectsPage(main, bucket, prefix, token, history);
  const crumbs = el("p", { class: "crumbs" }, el("a", { href: "#/buckets" }, "Buckets"), " / ",
    el("a", { href: objectsHash(bucket) }, bucket), " / ");
  let walked = "";
  for (const part of prefix.split("/").filter(Boolean)) {
    walked += part + "/";
    crumbs.append(el("a", { href: objectsHash(bucket, walked) }, part), " / ");
  }
  crumbs.append(" · ", el("a", { href: `#/versions/${encodeURIComponent(bucket)}/${encodeURIComponent(prefix)}` },
    "Versions"));
  const shareBox = el("p", { id: "share" });
  const remove = (key) => async () => {
    if (!confirm(`Delete ${key}?`)) return;
    try { await call("DELETE", s3Path(bucket, key)); say(`deleted ${key}`); await reload(); }
    catch (err) { say(err.message, true); }
  };
  const rows = [
    ...folders.map((f) => el("tr", {}, el("td", {}, el("a", { href: objectsHash(bucket, f) },
      "📁 " + f.slice(prefix.length))), el("td", { class: "n" }), el("td", { class: "hide-s" }), el("td"))),
    ...objects.filter((o) => o.key !== prefix).map((o) => el("tr", {}, el("td", {}, el("a", { href: objectHash(bucket, o.key) },
      o.key.slice(prefix.length) || o.key)),
      el("td", { class: "n" }, size(o.size)), el("td", { class: "hide-s" }, o.modified.slice(0, 19).replace("T", " ")),
      el("td", { class: "n" }, el("a", { href: s3Path(bucket, o.key), download: o.key.split("/").pop() || "object" },
        "Download"), " ", el("button", { class: "plain", onclick: () => share(bucket, o.key, null, shareBox) },
        "Share"), " ", el("button", { class: "danger", onclick: remove(o.key) }, "Delete")))),
  ];
  const folder = el("form", { id: "new-folder" }, el("input", { name: "folder", placeholder: "new folder name",
    required: true }), el("button", {}, "Create folder"));
  folder.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = folder.elements.folder.value.trim().replace(/\/+$/, "");
    try { await call("PUT", s3Path(bucket, `${prefix}${name}/`)); await reload(); }
    catch (err) { say(err.message, true); }
  });
  const drop = el("div", { id: "drop" }, "Drop files here to upload them to ", el("b", {}, `${bucket}/${prefix}`),
    " or ", el("input", { type: "file", multiple: true, onchange: (e) => send([...e.target.files]) }));
  const bar = el("progress", { id: "upload-progress", max: "1", value: "0", hidden: true });
  async function send(files) {
    const total = files.reduce((n, f) => n + f.size, 0) || 1;
    let done = 0, continued = 0;
    bar.hidden = false;
    try {
      for (const f of files) {
        const had = await upload(bucket, prefix + f.name, f, (loaded) => { bar.value = (done + loaded) / total; });
        continued += typeof had === "number" ? had : 0;
        done += f.size;
      }
      bar.value = 1;
      await reload();
      say(`uploaded ${files.length} file${files.length === 1 ? "" : "s"}` +
        (continued ? ` (continued an unfinished upload: ${continued} part${continued === 1 ? " was" : "s were"} there)`
          : ""));
    } catch (err) { say(err.message, true); }
  }
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    send([...e.dataTransfer.files]);
  });
  const pager = el("p", {},
    history.length ? el("button", { class: "plain", id: "prev", onclick: () =>
      objectsPage(main, bucket, prefix, history.at(-1), history.slice(0, -1)) }, "← Previous") : null, " ",
    next ? el("button", { class: "plain", id: "next", onclick: () =>
      objectsPage(main, bucket, prefix, next, [...history, token]) }, "Next →") : null);
  show(main, el("h1", {}, "Objects"), crumbs, drop, bar, await unfinishedUploads(bucket, prefix, reload), folder,
    shareBox,
    el("table", { id: "objects" }, el("tr", {}, el("th", {}, "Name"), el("th", { class: "n" }, "Size"),
      el("th", { class: "hide-s" }, "Modified"), el("th")), rows),
    rows.length ? null : el("p", {}, "Nothing here."), pager);
}

// Multipart uploads under the prefix that were started and not completed (a page closed mid-upload):
// dropping the same file again continues one; Abort frees its parts. Nothing when there are none.
async function unfinishedUploads(bucket, prefix, reload) {
  let doc;
  try {
    doc = await getXml(`${s3Path(bucket).replace(/\/$/, "")}?${new URLSearchParams({ uploads: "", prefix,
      "max-uploads": "50" })}`);
  } catch { return null; }  // not allowed to list them: not shown
  const rows = [...doc.getElementsByTagName("Upload")].map((u) => {
    const key = text(u, "Key"), id = text(u, "UploadId");
    return el("tr", {}, el("td", {}, key.slice(prefix.length)),
      el("td", { class: "hide-s" }, text(u, "Initiated").slice(0, 19).replace("T", " ")),
      el("td", { class: "n" }, el("button", { class: "danger", onclick: async () => {
        if (!confirm(`Abort this upload of ${key}? Its parts are deleted.`)) return;
        try {
          await call("DELETE", `${s3Path(bucket, key)}?uploadId=${encodeURIComponent(id)}`);
          await reload();
          say(`aborted the upload of ${key}`);
        } catch (err) { say(err.message, true); }
      } }, "Abort")));
  });
  return rows.length ? el("details", { id: "uploads", open: true }, el("summary", {}, `Unfinished uploads (${rows.length}` +
    `${text(doc, "IsTruncated") === "true" ? "+" : ""}): drop the same file again to continue one`),
  el("table", {}, rows)) : null;
}
