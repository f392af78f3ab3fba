// Versions and delete markers under a prefix (ListObjectVersions, paged with
// key and version-id markers), and presigned share links (api/share).
import { call, getXml, s3Path, text } from "./api.js";
import { el, say, show } from "./app.js";
import { objectHash, size } from "./pages.js";

const PAGE = 200;

// Ask the server for a share link and show it, ready to copy.
export async function share(bucket, key, versionId, into) {
  try {
    const res = await (await call("POST", "api/share", { json: { bucket, key, version_id: versionId || undefined,
      expires_seconds: 3600 } })).json();
    const field = el("input", { id: "share-url", readonly: true, value: res.url, size: "60" });
    into.replaceChildren(el("span", {}, `Link to ${key} (${Math.round(res.expires_seconds / 60)} min): `), field,
      el("button", { class: "plain", onclick: () => navigator.clipboard?.writeText(res.url).then(
        () => say("link copied"), () => field.select()) }, "Copy"));
    field.select();
  } catch (err) { say(err.message, true); }
}

export async function versionsPage(main, bucket, prefix, marker = null, history = []) {
  const q = new URLSearchParams({ versions: "", prefix, "max-keys": String(PAGE) });
  if (marker) { q.set("key-marker", marker.key); q.set("version-id-marker", marker.version); }
  const doc = await getXml(`${s3Path(bucket).replace(/\/$/, "")}?${q}`);
  const entries = [...doc.documentElement.children].filter((n) => ["Version", "DeleteMarker"].includes(n.localName))
    .map((n) => ({ marker: n.localName === "DeleteMarker", key: text(n, "Key"), version: text(n, "VersionId"),
      latest: text(n, "IsLatest") === "true", size: Number(text(n, "Size") || 0), modified: text(n, "LastModified") }));
  const next = text(doc, "IsTruncated") === "true"
    ? { key: text(doc, "NextKeyMarker"), version: text(doc, "NextVersionIdMarker") } : null;
  const reload = () => versionsPage(main, bucket, prefix, marker, history);
  const shareBox = el("p", { id: "share" });
  const rows = entries.map((v) => {
    const url = `${s3Path(bucket, v.key)}?versionId=${encodeURIComponent(v.version)}`;
    return el("tr", { class: v.marker ? "marker" : undefined },
      el("td", {}, v.marker ? v.key.slice(prefix.length) || v.key : el("a", { href: objectHash(bucket, v.key,
        v.version) }, v.key.slice(prefix.length) || v.key), v.latest ? el("b", {}, " (latest)") : null),
      el("td", { class: "hide-s" }, v.version.slice(0, 12)),
      el("td", { class: "n" }, v.marker ? "delete marker" : size(v.size)),
      el("td", { class: "hide-s" }, v.modified.slice(0, 19).replace("T", " ")),
      el("td", { class: "n" },
        v.marker ? null : el("a", { href: url, download: v.key.split("/").pop() || "object" }, "Download"), " ",
        v.marker ? null : el("button", { class: "plain", onclick: () => share(bucket, v.key, v.version, shareBox) },
          "Share"), " ",
        el("button", { class: "danger", onclick: async () => {
          if (!confirm(`Delete this version of ${v.key} for good?`)) return;
          try { await call("DELETE", url); say("version deleted"); await reload(); }
          catch (err) { say(err.message, true); }
        } }, "Delete")));
  });
  const pager = el("p", {},
    history.length ? el("button", { class: "plain", id: "prev", onclick: () =>
      versionsPage(main, bucket, prefix, history.at(-1), history.slice(0, -1)) }, "← Previous") : null, " ",
    next ? el("button", { class: "plain", id: "next", onclick: () =>
      versionsPage(main, bucket, prefix, next, [...history, marker]) }, "Next →") : null);
  show(main, el("h1", {}, "Versions"), el("p", { class: "crumbs" }, `${bucket}/${prefix} · `,
    el("a", { href: `#/objects/${encodeURIComponent(bucket)}/${encodeURIComponent(prefix)}` }, "Back to objects")),
  shareBox, el("table", { id: "versions" }, el("tr", {}, el("th", {}, "Key"), el("th", { class: "hide-s" }, "Version"),
    el("th", { class: "n" }, "Size"), el("th", { class: "hide-s" }, "Modified"), el("th")), rows),
  entries.length ? null : el("p", {}, "No versions here."), pager);
}
