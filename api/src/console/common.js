// What the admin console and the job dashboard share: the admin's credentials, calls to the
// documented API, building elements without ever parsing data as HTML, and the last hour's
// throughput chart.
"use strict";

const KEY = "concierge-admin";

// The credentials, in this tab's sessionStorage, or in localStorage when the admin chose to
// be remembered on this device. `kind` is `key` (x-api-key), `token` (an API token) or `jwt`
// (a signed-in admin's access token, with its refresh token).
export function credentials() {
  const raw = sessionStorage.getItem(KEY) || localStorage.getItem(KEY);
  try { return raw ? JSON.parse(raw) : null; } catch { return null; }
}

// Saves `creds` for this tab, or on this device when `remember` is set, except the admin key:
// the key to everything is never written where it outlives the tab.
export function saveCredentials(creds, remember) {
  const keep = !!remember && creds.kind !== "key";
  // Written over, never removed first: another tab reading between a removal and the write
  // would take the admin for signed out (and sign itself out).
  (keep ? localStorage : sessionStorage).setItem(KEY, JSON.stringify({ ...creds, remember: keep }));
  (keep ? sessionStorage : localStorage).removeItem(KEY);
}

export function forget() {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
  // The last refresh's record holds a refresh token too.
  try { indexedDB.deleteDatabase(KEY); } catch { /* no IndexedDB: nothing kept there */ }
}

// The headers that carry `creds` (none without).
export function authHeaders(creds) {
  if (!creds) return {};
  return creds.kind === "key" ? { "x-api-key": creds.value } : { Authorization: "Bearer " + creds.value };
}

// Whether `creds` are an admin's: the status of a cheap admin call made with them.
export async function verify(creds) {
  const resp = await fetch("/api/users?per_page=1", { headers: authHeaders(creds) });
  return resp.status;
}

// An answer the API refused: its status and JSON error body.
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

// The last refresh of a remembered sign-in (the token it replaced and the tokens it got), in
// IndexedDB. Tabs share a remembered sign-in through localStorage, but a write there reaches
// the other tabs a moment later; a transaction committed in IndexedDB is seen by the next one
// in any tab. `write`: the record to store; without it, the record stored.
function lastRefresh(write) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(KEY, 1);
    open.onupgradeneeded = () => open.result.createObjectStore("refresh");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const tx = db.transaction("refresh", write ? "readwrite" : "readonly");
      let found = null;
      if (write) tx.objectStore("refresh").put(write, "last");
      else tx.objectStore("refresh").get("last").onsuccess = (e) => { found = e.target.result || null; };
      tx.oncomplete = () => { db.close(); resolve(found); };
      tx.onerror = () => { db.close(); reject(tx.error); };
    };
  });
}

// A signed-in admin's access token expires. A refresh token works once, and presenting it
// twice ends the session, so refreshes are one at a time across every tab of the origin (a
// Web Lock), and a refresh that finds the token it was asked to replace already replaced (by
// another request, or another tab: see `lastRefresh`) uses the new one instead of refreshing
// again.
async function refreshJwt(used) {
  const run = async () => {
    const now = credentials();
    if (!now || now.kind !== "jwt") return false;
    if (now.value !== used) return true;
    if (now.remember) {
      const last = await lastRefresh().catch(() => null);
      if (last && last.replaced === used) {
        saveCredentials({ ...now, value: last.value, refresh: last.refresh }, true);
        return true;
      }
    }
    const resp = await fetch("/api/refresh", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: now.refresh }),
    });
    if (!resp.ok) return false;
    const tokens = await resp.json();
    if (!credentials()) {
      // Signed out meanwhile: end the session the refresh continued.
      await endSession(tokens.refresh_token);
      return false;
    }
    if (now.remember) {
      await lastRefresh({ replaced: used, value: tokens.access_token, refresh: tokens.refresh_token }).catch(() => {});
    }
    saveCredentials({ ...now, value: tokens.access_token, refresh: tokens.refresh_token }, now.remember);
    return true;
  };
  return navigator.locks ? navigator.locks.request("concierge-admin-refresh", run) : run();
}

function endSession(refreshToken) {
  return fetch("/api/logout", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ refresh_token: refreshToken }),
  }).catch(() => {});
}

// Forgets the credentials and, for a Google sign-in, ends its session at the API.
export async function signOut() {
  const creds = credentials();
  forget();
  if (creds && creds.kind === "jwt") await endSession(creds.refresh);
}

// Calls `path` with the admin's credentials; `body` is sent as JSON, or as it is when it is
// FormData. Resolves with the JSON answer (null for 204); rejects with an ApiError.
export async function api(method, path, body, retried) {
  const creds = credentials();
  const headers = authHeaders(creds);
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) { payload = JSON.stringify(body); headers["content-type"] = "application/json"; }
  const resp = await fetch(path, { method, headers, body: payload });
  if (resp.status === 401 && creds && creds.kind === "jwt" && !retried && await refreshJwt(creds.value)) {
    return api(method, path, body, true);
  }
  if (resp.status === 204) return null;
  const answer = await resp.json().catch(() => null);
  if (!resp.ok) {
    const error = new ApiError(resp.status, answer);
    if (resp.status === 401 || resp.status === 403) window.dispatchEvent(new CustomEvent("concierge-unauthorized", { detail: error }));
    throw error;
  }
  return answer;
}

// Uploads `form` to `path` with progress (`onProgress(sent, total)`), as `api` does.
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    for (const [k, v] of Object.entries(authHeaders(credentials()))) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.total);
    xhr.onload = () => {
      let answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(answer);
      else reject(new ApiError(xhr.status, answer));
    };
    xhr.onerror = () => reject(new ApiError(0, { message: "the server cannot be reached" }));
    xhr.send(form);
  });
}

// An element: `el("a", { href: "#/users", class: "x", onclick: f }, "text", child…)`. Text is
// always text: nothing here parses markup.
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k in node && typeof v !== "string") node[k] = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

// The last hour's jobs done and attempts failed per minute (`GET /api/admin/throughput`), as
// bars in an SVG that scales to its box, with a text summary for screen readers.
export async function drawThroughput(container) {
  const data = await api("GET", "/api/admin/throughput?minutes=60");
  const minutes = data.minutes;
  const width = 1000, height = 180, pad = 28;
  const max = Math.max(1, ...minutes.map((m) => m.done + m.failed));
  const bar = (width - pad) / minutes.length;
  const y = (v) => (height - pad) * (1 - v / max);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img",
    "aria-label": "Jobs done and failed per minute over the last hour" });
  chart.append(svg("text", { x: 0, y: 10, class: "axis" }, String(max)));
  chart.append(svg("text", { x: 0, y: height - pad, class: "axis" }, "0"));
  minutes.forEach((m, i) => {
    const x = pad + i * bar;
    const at = new Date(m.minute_start_ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const done = svg("rect", { x, y: y(m.done), width: Math.max(1, bar - 1), height: height - pad - y(m.done), class: "done" },
      svg("title", {}, `${at}: ${m.done} done, ${m.failed} failed`));
    const failed = svg("rect", { x, y: y(m.done + m.failed), width: Math.max(1, bar - 1),
      height: y(m.done) - y(m.done + m.failed), class: "failed" });
    chart.append(done, failed);
    if (i % 15 === 0) chart.append(svg("text", { x, y: height - 6, class: "axis" }, at));
  });
  const done = minutes.reduce((s, m) => s + m.done, 0), failed = minutes.reduce((s, m) => s + m.failed, 0);
  container.replaceChildren(chart, el("p", { class: "legend" },
    el("span", { class: "key done" }), ` ${done} done `, el("span", { class: "key failed" }), ` ${failed} failed in the last hour`));
  return { done, failed };
}
