// Talking to the console's server: every URL is relative (the page may sit
// behind a proxy's path prefix), and every state-changing request carries the
// CSRF token, which only this page can read (api/session).
let csrf = "";

export class ApiError extends Error {
  constructor(status, code, message) { super(message || code); this.status = status; this.code = code; }
}

export function setCsrf(token) { csrf = token; }

// A bucket and key as a path under api/s3/ (each segment encoded once; "/" kept).
export function s3Path(bucket, key = "") {
  const enc = (s) => s.split("/").map(encodeURIComponent).join("/");
  return "api/s3/" + (bucket ? encodeURIComponent(bucket) + "/" + enc(key) : "");
}

async function fail(res) {
  const text = await res.text();
  let code = String(res.status), message = text;
  if (text.startsWith("{")) {
    const e = JSON.parse(text).error || {};
    code = e.code || code; message = e.message || code;
  } else if (text.includes("<Error>")) {
    const doc = new DOMParser().parseFromString(text, "application/xml");
    code = doc.querySelector("Code")?.textContent || code;
    message = `${code}: ${doc.querySelector("Message")?.textContent || ""}`;
  }
  if (res.status === 401) window.dispatchEvent(new Event("pails-logged-out"));
  throw new ApiError(res.status, code, message);
}

export async function call(method, url, { body, headers = {}, json } = {}) {
  const h = { ...headers };
  if (method !== "GET" && method !== "HEAD") h["X-Pails-CSRF"] = csrf;
  if (json !== undefined) { h["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  const res = await fetch(url, { method, body, headers: h, credentials: "same-origin" });
  if (!res.ok) await fail(res);
  return res;
}

export async function getJson(url) { return (await call("GET", url)).json(); }

export async function getXml(url) {
  const text = await (await call("GET", url)).text();
  return new DOMParser().parseFromString(text, "application/xml");
}

export const texts = (node, name) => [...node.getElementsByTagName(name)].map((n) => n.textContent);
export const text = (node, name) => node.getElementsByTagName(name)[0]?.textContent ?? "";

// A PUT with upload progress (fetch cannot report it): resolves to the response's headers getter.
export function putWithProgress(url, blob, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.setRequestHeader("X-Pails-CSRF", csrf);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => xhr.status < 300 ? resolve((n) => xhr.getResponseHeader(n))
      : reject(new ApiError(xhr.status, String(xhr.status), `upload refused (${xhr.status}): ` +
        (xhr.responseText.match(/<Code>(.*?)<\/Code>/)?.[1] || "")));
    xhr.onerror = () => reject(new ApiError(0, "NetworkError", "the upload failed"));
    xhr.send(blob);
  });
}

const PART = 16 * 1024 * 1024;  // multipart above this size, in parts of this size

// Upload one file to bucket/key: one PUT, or a multipart upload for big files (aborted on failure).
export async function upload(bucket, key, file, onProgress) {
  const url = s3Path(bucket, key);
  if (file.size <= PART) return putWithProgress(url, file, onProgress);
  const created = new DOMParser().parseFromString(
    await (await call("POST", url + "?uploads")).text(), "application/xml");
  const uploadId = text(created, "UploadId");
  const q = (extra) => `${url}?uploadId=${encodeURIComponent(uploadId)}${extra}`;
  const parts = [];
  try {
    for (let i = 0, n = 1; i < file.size; i += PART, n++) {
      const etag = (await putWithProgress(q(`&partNumber=${n}`), file.slice(i, i + PART),
        (loaded) => onProgress(i + loaded)))("ETag");
      parts.push(`<Part><PartNumber>${n}</PartNumber><ETag>${etag}</ETag></Part>`);
    }
    await call("POST", q(""), { body: `<CompleteMultipartUpload>${parts.join("")}</CompleteMultipartUpload>`,
      headers: { "Content-Type": "application/xml" } });
  } catch (e) {
    await call("DELETE", q("")).catch(() => {});
    throw e;
  }
}
