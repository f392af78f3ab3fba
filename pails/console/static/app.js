// The console's shell: log in, the header, and the hash router (#/page/...),
// which keeps every URL relative so a path prefix in front of /console/ works.
import { call, getJson, setCsrf } from "./api.js";
import { bucketPage, bucketsPage, dashboardPage, objectsPage } from "./pages.js";
import { versionsPage } from "./versions.js";

const main = document.getElementById("main");
const status = document.getElementById("status");

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== false && v !== undefined) node.setAttribute(k, v === true ? "" : v);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined));
  return node;
}

// Replace what a page shows (null children, the parts a page leaves out, are skipped).
export function show(main, ...nodes) { main.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined)); }

export function say(message, error = false) {
  status.textContent = message;
  status.className = message ? (error ? "show error" : "show") : "";
}

function showLogin() {
  document.getElementById("nav").hidden = true;
  document.getElementById("logout").hidden = true;
  document.getElementById("who").textContent = "";
  const form = el("form", { class: "login", id: "login" },
    el("h1", {}, "Log in"),
    el("input", { name: "access_key", placeholder: "Access key", autocomplete: "username", required: true }),
    el("input", { name: "secret_key", type: "password", placeholder: "Secret key",
      autocomplete: "current-password", required: true }),
    el("input", { name: "session_token", placeholder: "Session token (temporary credentials only)" }),
    el("button", { type: "submit" }, "Log in"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    form.reset();  // the secret leaves the page's memory with the form
    try {
      started(await (await call("POST", "api/login", { json: data })).json());
    } catch (err) { say(err.message, true); }
  });
  show(main, form);
}

function started(session) {
  setCsrf(session.csrf);
  say("");
  document.getElementById("nav").hidden = false;
  document.getElementById("logout").hidden = false;
  document.getElementById("who").textContent = session.principal;
  if (!location.hash || location.hash === "#/") location.hash = "#/dashboard";
  else route();
}

// Pages of identity.js, loaded on first use (the login page stays light).
const IDENTITY = new Set(["users", "user", "groups", "group", "roles", "role", "policies", "policy", "accounts"]);

let timer = 0;
export function every(ms, fn) { clearInterval(timer); timer = setInterval(fn, ms); }

async function route() {
  clearInterval(timer);
  if (document.getElementById("nav").hidden) return;
  // #/page/ARG/...[?query]: each ARG encoded whole, so a raw "?" starts the query.
  const [, where, query] = location.hash.replace(/^#\//, "").match(/^([^?]*)\??(.*)$/);
  const [page, ...rest] = where.split("/");
  const args = rest.map(decodeURIComponent);
  try {
    if (page === "buckets") await bucketsPage(main);
    else if (page === "bucket") await bucketPage(main, args[0], args[1]);
    else if (page === "objects") await objectsPage(main, args[0], args.slice(1).join("/"));
    else if (page === "versions") await versionsPage(main, args[0], args.slice(1).join("/"));
    else if (IDENTITY.has(page)) await (await import("./identity.js")).identityPage(main, page, args);
    else if (page === "object") await (await import("./object.js")).objectPage(main, args[0], args.slice(1).join("/"),
      new URLSearchParams(query).get("versionId"));
    else await dashboardPage(main);
  } catch (err) { say(err.message, true); }
}

window.addEventListener("hashchange", route);
window.addEventListener("pails-logged-out", showLogin);
document.getElementById("logout").addEventListener("click", async () => {
  await call("POST", "api/logout").catch(() => {});
  setCsrf("");
  showLogin();
});

getJson("api/session").then(started, showLogin);
