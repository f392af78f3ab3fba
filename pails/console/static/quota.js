// A bucket's quota, set or removed through the admin API (api/admin/): the
// operator's to change; an account root sees its refusal. Loaded by the bucket
// page when it shows usage (account roots).
import { call } from "./api.js";
import { el, say } from "./app.js";

// "10 GiB", "500M", "1000" -> bytes; "" -> null (no limit).
const UNITS = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };
function bytes(value) {
  const m = value.trim().match(/^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i);
  if (!value.trim()) return null;
  if (!m) throw new Error(`${value} is not a size (e.g. 10 GiB)`);
  return Math.round(Number(m[1]) * UNITS[m[2].toLowerCase()]);
}

// Set or remove the bucket's quota through the admin API (the operator's; others see its refusal).
export function quotaForm(bucket, quota, reload) {
  const url = `api/admin/v1/buckets/${encodeURIComponent(bucket)}/quota`;
  const form = el("form", { id: "quota" }, el("label", {}, "Max size ", el("input", { name: "bytes",
    placeholder: "e.g. 10 GiB", value: quota?.max_bytes ?? "" })), el("label", {}, "Max objects ",
    el("input", { name: "objects", type: "number", min: "0", value: quota?.max_objects ?? "" })),
  el("button", {}, "Set quota"),
  el("button", { type: "button", class: "plain", id: "quota-clear", onclick: async () => {
    try { await call("DELETE", url); say("quota removed"); await reload(); } catch (err) { say(err.message, true); }
  } }, "Remove quota"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const objects = form.elements.objects.value.trim();
      await call("PUT", url, { json: { max_bytes: bytes(form.elements.bytes.value),
        max_objects: objects ? Number(objects) : null } });
      say("quota set");
      await reload();
    } catch (err) { say(err.message, true); }
  });
  return form;
}
