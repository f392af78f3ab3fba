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
export function putWithProgress(url, blob, onProgress, headers = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.setRequestHeader("X-Pails-CSRF", csrf);
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => xhr.status < 300 ? resolve((n) => xhr.getResponseHeader(n))
      : reject(new ApiError(xhr.status, String(xhr.status), `upload refused (${xhr.status}): ` +
        (xhr.responseText.match(/<Code>(.*?)<\/Code>/)?.[1] || "")));
    xhr.onerror = () => reject(new ApiError(0, "NetworkError", "the upload failed"));
    xhr.send(blob);
  });
}

const PART = 16 * 1024 * 1024;  // multipart above this size, in parts of this size
const TABLE = new Uint32Array(256).map((_, n) => {
  for (let k = 0; k < 8; k++) n = (n >>> 1) ^ (0xedb88320 & -(n & 1));
  return n;
});

// CRC32 (IEEE) of bytes, in base64 as x-amz-checksum-crc32 carries it (a browser has no MD5).
export function crc32(bytes) {
  let crc = ~0;
  for (let i = 0; i < bytes.length; i++) crc = (crc >>> 8) ^ TABLE[(crc ^ bytes[i]) & 255];
  crc = ~crc >>> 0;
  return btoa(String.fromCharCode(crc >>> 24, (crc >>> 16) & 255, (crc >>> 8) & 255, crc & 255));
}

const blobCrc = async (blob) => crc32(new Uint8Array(await blob.arrayBuffer()));
const partXml = (n, etag, crc) => `<Part><PartNumber>${n}</PartNumber><ETag>${etag}</ETag>` +
  `<ChecksumCRC32>${crc}</ChecksumCRC32></Part>`;

// An unfinished multipart upload of bucket/key (the page was reloaded, the network failed) whose parts
// are this file's first parts: the sizes this page uses and the CRC32 of each (ListParts gives them),
// so a file of the same name but other bytes starts afresh. The newest such upload first.
async function unfinished(bucket, key, file) {
  const listed = await getXml(`${s3Path(bucket).replace(/\/$/, "")}?uploads&prefix=${encodeURIComponent(key)}`);
  const ids = [...listed.getElementsByTagName("Upload")].filter((u) => text(u, "Key") === key)
    .map((u) => text(u, "UploadId")).reverse();
  for (const id of ids) {
    const parts = [];
    let marker = "0";
    while (marker) {
      const doc = await getXml(`${s3Path(bucket, key)}?uploadId=${encodeURIComponent(id)}&part-number-marker=${marker}`);
      for (const p of doc.getElementsByTagName("Part")) {
        parts.push({ n: Number(text(p, "PartNumber")), etag: text(p, "ETag"), size: Number(text(p, "Size")),
          crc: text(p, "ChecksumCRC32") });
      }
      marker = text(doc, "IsTruncated") === "true" ? text(doc, "NextPartNumberMarker") : "";
    }
    let same = parts.length > 0;
    for (const [i, p] of parts.entries()) {
      same = same && p.n === i + 1 && p.size === Math.min(PART, file.size - i * PART) && p.size > 0 && p.crc !== "" &&
        p.crc === await blobCrc(file.slice(i * PART, i * PART + p.size));
    }
    if (same) return { id, parts };
  }
  return null;
}

// Upload one file to bucket/key: one PUT, or a multipart upload for big files, which continues an
// unfinished one of the same bytes (resolves to the number of parts already there). A part S3 refuses
// aborts the upload; a network failure leaves it to continue later.
export async function upload(bucket, key, file, onProgress) {
  const url = s3Path(bucket, key);
  if (file.size <= PART) return putWithProgress(url, file, onProgress);
  const found = await unfinished(bucket, key, file).catch(() => null);
  const uploadId = found?.id || text(new DOMParser().parseFromString(await (await call("POST", url + "?uploads",
    { headers: { "x-amz-checksum-algorithm": "CRC32" } })).text(), "application/xml"), "UploadId");
  const q = (extra) => `${url}?uploadId=${encodeURIComponent(uploadId)}${extra}`;
  const parts = (found?.parts || []).map((p) => partXml(p.n, p.etag, p.crc));
  try {
    for (let n = parts.length + 1, i = parts.length * PART; i < file.size; i += PART, n++) {
      const slice = file.slice(i, i + PART);
      const crc = await blobCrc(slice);
      const etag = (await putWithProgress(q(`&partNumber=${n}`), slice, (loaded) => onProgress(i + loaded),
        { "x-amz-checksum-crc32": crc }))("ETag");
      parts.push(partXml(n, etag, crc));
    }
    await call("POST", q(""), { body: `<CompleteMultipartUpload>${parts.join("")}</CompleteMultipartUpload>`,
      headers: { "Content-Type": "application/xml" } });
  } catch (e) {
    if (e.status !== 0) await call("DELETE", q("")).catch(() => {});
    throw e;
  }
  return found ? found.parts.length : 0;
}
