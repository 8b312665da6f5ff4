// The job dashboard: queues (live, from the event stream), the last hour's throughput,
// workers, and the jobs of a queue with retry, discard, replay and pause. Shares the admin
// console's credentials and look.
"use strict";

import { api, authHeaders, credentials, drawThroughput, el, forget, saveCredentials, signOut } from "./common.js";

const $ = (id) => document.getElementById(id);

// `/dashboard#key=…` opens the dashboard with those credentials (kept in this tab) and drops
// them from the address bar.
const fromHash = new URLSearchParams(location.hash.slice(1)).get("key");
if (fromHash) {
  saveCredentials({ kind: guessKind(fromHash), value: fromHash }, false);
  history.replaceState(null, "", location.pathname);
}

function guessKind(secret) {
  if (secret.startsWith("cnc_")) return "token";
  return secret.split(".").length === 3 ? "jwt" : "key";
}

function cell(text, cls) { return el("td", { class: cls }, text); }

function button(label, action) {
  return el("button", { type: "button", onclick: async () => { await action().catch(shown); refresh(); } }, label);
}

function shown(e) { $("error").textContent = e.message; }

function renderQueues(queues) {
  const body = $("queues").tBodies[0];
  body.replaceChildren(...queues.map((q) => {
    const actions = el("td", {},
      q.paused ? button("resume", () => api("POST", `/api/admin/queues/${q.queue}/resume`))
        : button("pause", () => api("POST", `/api/admin/queues/${q.queue}/pause`)),
      q.dead ? button("replay dead", () => api("POST", `/api/admin/queues/${q.queue}/replay-dead?limit=10000`)) : null);
    // Only a job nobody has claimed yet waits: with none, there is no age to show.
    const waiting = q.oldest_waiting_seconds === null || q.oldest_waiting_seconds === undefined ? "—" : `${q.oldest_waiting_seconds} s`;
    return el("tr", { dataset: { queue: q.queue } },
      cell(q.queue), cell(q.waiting, "num"), cell(q.running, "num"), cell(q.scheduled, "num"),
      cell(q.retrying, "num"), cell(q.dead, q.dead ? "num dead" : "num"), cell(waiting, "num oldest-waiting"),
      cell(q.finished_last_minute, "num"), cell(q.paused ? "paused" : "running", q.paused ? "paused" : ""), actions);
  }));
  const select = $("job-queue");
  if (!select.options.length) {
    for (const q of queues) select.add(new Option(q.queue));
    // Start where attention is needed: the first queue with dead jobs.
    const dead = queues.find((q) => q.dead > 0);
    if (dead) select.value = dead.queue;
  }
}

async function refresh() {
  try {
    renderQueues(await api("GET", "/api/admin/queues"));
    const workers = await api("GET", "/api/admin/workers");
    $("workers").tBodies[0].replaceChildren(...workers.map((w) => el("tr", {},
      cell(w.name), cell(w.queue), cell(w.host), cell(w.pid, "num"), cell(w.concurrency, "num"),
      cell(new Date(w.last_heartbeat_ms).toLocaleTimeString()))));
    await drawThroughput($("throughput"));
    $("error").textContent = "";
  } catch (e) { shown(e); }
}

async function showJobs(event) {
  if (event) event.preventDefault();
  const queue = $("job-queue").value, state = $("job-state").value, search = $("job-search").value.trim();
  let jobs;
  try {
    if (/^[0-9a-f-]{36}$/.test(search)) {
      jobs = [await api("GET", `/api/admin/queues/${encodeURIComponent(queue)}/jobs/${search}`).catch(() => null)].filter(Boolean);
    } else {
      const q = search ? `&q=${encodeURIComponent(search)}` : "";
      jobs = await api("GET", `/api/admin/queues/${queue}/jobs?state=${state}&limit=500${q}`);
    }
  } catch (e) { shown(e); return; }
  $("jobs").tBodies[0].replaceChildren(...jobs.map((j) => el("tr", { class: "job" },
    cell(j.id), cell(j.state), cell(`${j.attempts}/${j.max_attempts}`), cell(j.error || ""),
    el("td", {}, button("open", () => showJob(queue, j.id))))));
}

async function showJob(queue, id) {
  const job = await api("GET", `/api/admin/queues/${queue}/jobs/${encodeURIComponent(id)}`);
  $("job-detail").textContent = JSON.stringify(job, null, 2);
  $("job-actions").replaceChildren(
    job.state === "failed" || job.state === "dead" ? button("retry", () => api("POST", `/api/admin/queues/${queue}/jobs/${encodeURIComponent(id)}/retry`)) : "",
    job.state !== "running" ? button("discard", () => api("DELETE", `/api/admin/queues/${queue}/jobs/${encodeURIComponent(id)}`)) : "");
}

// Server-sent events through fetch, so the credentials travel as headers.
async function stream() {
  const creds = credentials();
  if (!creds) return;
  try {
    const resp = await fetch("/api/admin/events", { headers: authHeaders(creds) });
    const reader = resp.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end); buffer = buffer.slice(end + 2);
        const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join("");
        if (data) renderQueues(JSON.parse(data));
      }
    }
  } catch { /* reconnect below */ }
  if (credentials()) setTimeout(stream, 3000);
}

function signIn(message) {
  $("app").hidden = true; $("sign-out").hidden = true; $("login").hidden = false;
  $("login-error").textContent = message || "";
}

async function open() {
  $("login").hidden = true; $("app").hidden = false; $("sign-out").hidden = false;
  await refresh();
  await showJobs();
  stream();
  setInterval(refresh, 10000);
}

window.addEventListener("concierge-unauthorized", () => { forget(); signIn("Those credentials are not an admin's."); });
$("login").onsubmit = (e) => {
  e.preventDefault();
  const secret = $("key").value.trim();
  saveCredentials({ kind: guessKind(secret), value: secret }, false);
  open();
};
$("sign-out").onclick = async () => { await signOut(); location.assign("/admin"); };
$("job-form").onsubmit = showJobs;
if (credentials()) open(); else signIn();
