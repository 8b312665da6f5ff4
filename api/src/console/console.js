// The admin console: one page, sections chosen by the URL's fragment (`#/users`, `#/users/7`,
// `#/import`, `#/invitations`, `#/monitoring`, `#/tokens`), every action a call to the
// documented API with the admin's credentials. Nothing here parses data as markup.
"use strict";

import { api, ApiError, credentials, drawThroughput, el, forget, saveCredentials, signOut, upload, verify, when } from "./common.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const signOutButton = document.getElementById("sign-out");
const status = document.getElementById("status");
const GOOGLE_REMEMBER = "concierge-google-remember";

// A timer a section started (polling): stopped when the admin leaves the section.
let timers = [];
// Counts the sections opened: an answer that arrives after the admin moved on is dropped
// instead of drawn over the section they are in.
let generation = 0;
function every(ms, fn) { timers.push(setInterval(fn, ms)); }

function say(text) { status.textContent = text; }

function errorBox() { return el("p", { class: "error", role: "alert" }); }

function show(box, e) {
  box.textContent = e instanceof ApiError ? `${e.message}${e.code ? ` (${e.code})` : ""}` : String(e);
}

function page(title, ...children) {
  main.replaceChildren(el("h2", {}, title), ...children);
  document.title = `Concierge · ${title}`;
  main.focus();
}

function td(label, ...children) { return el("td", { dataset: { label } }, ...children); }

function table(headings, rows, cls) {
  return el("div", { class: "scroll" }, el("table", { class: cls || "cards" },
    el("thead", {}, el("tr", {}, headings.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows)));
}

// ---------------------------------------------------------------- sign in

async function signInPage(message) {
  nav.hidden = true; signOutButton.hidden = true;
  const error = errorBox();
  if (message) error.textContent = message;
  const secret = el("input", { id: "secret", type: "password", autocomplete: "off", required: true });
  const kind = el("select", { id: "kind" },
    el("option", { value: "key" }, "Admin key (x-api-key)"),
    el("option", { value: "token" }, "Admin API token (cnc_…)"));
  const remember = el("input", { id: "remember", type: "checkbox" });
  const form = el("form", { class: "signin", onsubmit: async (e) => {
    e.preventDefault();
    const creds = { kind: kind.value, value: secret.value.trim() };
    const answer = await verify(creds).catch(() => 0);
    if (answer === 200) { saveCredentials(creds, remember.checked); route(); return; }
    error.textContent = answer === 401 || answer === 403 ? "These credentials are not an admin's."
      : answer === 429 ? "Too many failed sign-ins from this address: wait, then try again."
      : `The server answered ${answer || "nothing"}; try again.`;
  } },
  el("fieldset", {},
    el("legend", {}, "Sign in"),
    el("label", {}, "With", kind),
    el("label", {}, "Key or token", secret),
    el("label", { class: "inline" }, remember, "Remember me on this device"),
    el("p", { class: "muted" }, "Otherwise nothing is kept once this tab is closed. The admin key is never remembered: stay signed in with an API token or Google."),
    el("button", { class: "primary", type: "submit" }, "Sign in"),
    el("button", { id: "google", type: "button", onclick: () => googleStart(error, remember.checked) }, "Sign in with Google (admins)"),
    error));
  main.replaceChildren(form);
  document.title = "Concierge · sign in";
  secret.focus();
}

async function googleStart(error, remember) {
  try {
    const start = await api("POST", "/api/login/google");
    sessionStorage.setItem(GOOGLE_REMEMBER, remember ? "1" : "");
    location.assign(start.authorization_url);
  } catch (e) { show(error, e); }
}

// Back from Google with `?code=…&state=…`: our tokens, if the account is an admin's.
async function googleFinish(params) {
  history.replaceState(null, "", location.pathname + "#/users");
  const remember = sessionStorage.getItem(GOOGLE_REMEMBER) === "1";
  sessionStorage.removeItem(GOOGLE_REMEMBER);
  const body = { code: params.get("code"), state: params.get("state") };
  for (let tries = 0; tries < 10; tries++) {
    const resp = await fetch("/api/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const answer = await resp.json().catch(() => ({}));
    if (resp.status === 202) continue; // The sign-in still runs: asking again waits again.
    if (!resp.ok) return signInPage(`Google sign-in failed: ${answer.message || resp.status}`);
    if (answer.user.role !== "admin") {
      await fetch("/api/logout", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ refresh_token: answer.refresh_token }) });
      return signInPage(`${answer.user.email} is not an admin.`);
    }
    saveCredentials({ kind: "jwt", value: answer.access_token, refresh: answer.refresh_token, who: answer.user.email }, remember);
    return route();
  }
  return signInPage("Google sign-in is taking too long; try again.");
}

async function doSignOut() {
  await signOut();
  location.hash = "#/";
  signInPage("Signed out.");
}

// ---------------------------------------------------------------- users

const ROLES = ["admin", "personal_only"];
const INVITATION = ["pending", "sent", "failed", "verified", "expired", "revoked"];

function select(id, label, options, value) {
  return el("label", {}, label, el("select", { id, name: id },
    el("option", { value: "" }, "any"),
    options.map((o) => el("option", { value: o, selected: o === value }, o.replace("_", " ")))));
}

async function usersPage(params) {
  const q = params.get("q") || "", pageNo = Math.max(1, Number(params.get("page")) || 1);
  const error = errorBox();
  const form = el("form", { class: "bar", role: "search", onsubmit: (e) => {
    e.preventDefault();
    const f = new FormData(form), next = new URLSearchParams();
    for (const [k, v] of f) if (v) next.set(k, v);
    location.hash = "#/users?" + next;
  } },
  el("label", {}, "Search email, name, username or Discord id", el("input", { id: "q", name: "q", type: "search", value: q, size: 32 })),
  select("role", "Role", ROLES, params.get("role")),
  select("status", "Invitation", INVITATION, params.get("status")),
  select("verified", "Verified", ["true", "false"], params.get("verified")),
  el("button", { class: "primary", type: "submit" }, "Search"));
  const results = el("div", {}, el("p", { class: "muted" }, "Loading…"));
  page("Users", form, error, results,
    el("h3", {}, "Danger zone"),
    el("div", { class: "panel" }, el("p", {}, "Delete every user who is not an admin."),
      el("button", { id: "delete-all", class: "danger", type: "button", onclick: deleteAllDialog }, "Delete all users…")));
  const query = new URLSearchParams(params);
  query.set("page", pageNo); query.set("per_page", 50);
  try {
    const answer = await api("GET", "/api/users?" + query);
    const pages = Math.max(1, Math.ceil(answer.total / answer.per_page));
    const rows = answer.users.map((u) => el("tr", {},
      td("Email", el("a", { href: `#/users/${u.id}` }, u.email)),
      td("Name", u.full_name || ""), td("Username", u.username || ""), td("Discord", u.discord_id || ""),
      td("Role", u.role), td("Active", u.is_active ? "yes" : "no"), td("Verified", u.verified ? "yes" : "no"),
      td("Invitation", u.invitation ? u.invitation.status : "—"),
      td("Last email", u.last_email ? `${u.last_email.kind} ${u.last_email.status}` : "—")));
    const go = (n) => { const p = new URLSearchParams(params); p.set("page", n); return "#/users?" + p; };
    results.replaceChildren(
      el("p", { id: "user-count" }, `${answer.total} ${answer.total === 1 ? "user" : "users"} · page ${answer.page} of ${pages}`),
      table(["Email", "Name", "Username", "Discord", "Role", "Active", "Verified", "Invitation", "Last email"], rows),
      el("nav", { class: "bar", "aria-label": "Pages" },
        answer.page > 1 ? el("a", { href: go(answer.page - 1), rel: "prev" }, "← Previous") : null,
        answer.page < pages ? el("a", { href: go(answer.page + 1), rel: "next" }, "Next →") : null));
  } catch (e) { show(error, e); results.replaceChildren(); }
}

const CONFIRM_ALL = "DELETE ALL USERS";

function deleteAllDialog() {
  const typed = el("input", { id: "confirm-all", autocomplete: "off" });
  const error = errorBox();
  const dialog = el("dialog", { "aria-labelledby": "delete-all-title" },
    el("form", { method: "dialog", onsubmit: async (e) => {
      if (e.submitter && e.submitter.value === "cancel") return;
      e.preventDefault();
      if (typed.value !== CONFIRM_ALL) { error.textContent = `Type ${CONFIRM_ALL} exactly.`; return; }
      try {
        const done = await api("DELETE", "/api/all?confirm=" + encodeURIComponent(typed.value));
        dialog.close(); dialog.remove(); say(done.message);
        route();
      } catch (err) { show(error, err); }
    } },
    el("h3", { id: "delete-all-title" }, "Delete all users"),
    el("p", {}, "Every user who is not an admin is deleted, with their links, invitations and sessions. This cannot be undone."),
    el("label", {}, `Type ${CONFIRM_ALL} to confirm`, typed),
    error,
    el("div", { class: "bar" },
      el("button", { value: "cancel", formnovalidate: true }, "Cancel"),
      el("button", { id: "confirm-delete-all", class: "danger", type: "submit", value: "delete" }, "Delete all users"))));
  document.body.append(dialog);
  dialog.addEventListener("close", () => dialog.remove());
  dialog.showModal();
  typed.focus();
}

async function userPage(id) {
  const mine = generation;
  const error = errorBox();
  page("User", error);
  let u;
  try { u = await api("GET", `/api/users/${id}`); } catch (e) { show(error, e); return; }
  if (mine !== generation) return;
  const role = el("select", { id: "role" }, ROLES.map((r) => el("option", { value: r, selected: r === u.role }, r.replace("_", " "))));
  const active = el("input", { id: "active", type: "checkbox", checked: u.is_active });
  const username = el("input", { id: "username", value: u.username || "", maxlength: 64 });
  const saved = el("span", { role: "status" });
  const edit = el("form", { class: "bar", onsubmit: async (e) => {
    e.preventDefault(); error.textContent = ""; saved.textContent = "";
    // Only what this admin changed: a concurrent change by another admin stays.
    const change = {};
    if (role.value !== u.role) change.role = role.value;
    if (active.checked !== u.is_active) change.is_active = active.checked;
    const name = username.value.trim();
    if (name !== (u.username || "")) {
      if (!name) { error.textContent = "A username can be changed, not removed."; return; }
      change.username = name;
    }
    if (!Object.keys(change).length) { saved.textContent = "Nothing to change."; return; }
    try { await api("PATCH", `/api/users/${id}`, change); say("Saved."); userPage(id); } catch (err) { show(error, err); }
  } },
  el("label", {}, "Role", role), el("label", { class: "inline" }, active, "Active"),
  el("label", {}, "Username", username), el("button", { id: "save-user", class: "primary", type: "submit" }, "Save"), saved);
  const facts = el("dl", { class: "facts" }, [
    ["Email", u.email], ["Name", u.full_name || "—"], ["Username", u.username || "—"], ["Role", u.role],
    ["Active", u.is_active ? "yes" : "no"], ["Verified", u.verified ? `yes, ${when(u.verified_at)}` : "no"],
    ["Personality", u.personality || "—"], ["Channel", u.communication_channel || "—"], ["Created", when(u.created_at)],
    ["Invitation", u.invitation ? `${u.invitation.status}${u.invitation.token_expires_at ? `, token expires ${when(u.invitation.token_expires_at)}` : ""}` : "none"],
  ].flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const accounts = u.accounts.length
    ? table(["Provider", "Account", "Name", "Email", "Confirmed", "Last sign-in"], u.accounts.map((a) => el("tr", {},
      td("Provider", a.provider), td("Account", a.subject), td("Name", a.provider_username || ""),
      td("Email", `${a.email || ""}${a.email ? (a.email_verified ? " (verified)" : " (unverified)") : ""}`),
      td("Confirmed", when(a.confirmed_at)), td("Last sign-in", when(a.last_login_at)))))
    : el("p", { class: "muted" }, "No linked account.");
  const mails = u.mails.length
    ? table(["Kind", "Status", "Attempts", "Error", "Sent"], u.mails.map((m) => el("tr", {},
      td("Kind", m.kind), td("Status", m.status), td("Attempts", m.attempts), td("Error", m.last_error || ""), td("Sent", when(m.sent_at)))))
    : el("p", { class: "muted" }, "No mail.");
  const actions = el("div", { class: "bar" },
    el("button", { id: "reissue", type: "button", onclick: async () => {
      try { const r = await api("POST", `/api/refresh-token/${id}`); say(r.message); saved.textContent = r.message; userPage(id); } catch (e) { show(error, e); }
    } }, "Reissue invitation token"),
    el("button", { id: "delete-user", class: "danger", type: "button", onclick: async () => {
      if (!confirm(`Delete ${u.email} and everything about them?`)) return;
      try { await api("DELETE", `/api/${id}`); say(`${u.email} deleted`); location.hash = "#/users"; } catch (e) { show(error, e); }
    } }, "Delete user"));
  page(u.email, el("p", {}, el("a", { href: "#/users" }, "← All users")), error,
    el("div", { class: "panel" }, facts), el("h3", {}, "Change"), edit, actions,
    el("h3", {}, "Linked accounts"), accounts, el("h3", {}, "Mails"), mails,
    el("h3", {}, "Audit trail"), auditTable(u.audit));
}

function auditTable(entries) {
  if (!entries.length) return el("p", { class: "muted" }, "Nothing recorded.");
  return table(["When", "Who", "Action", "Target", "Detail"], entries.map((a) => el("tr", {},
    td("When", when(a.at)), td("Who", a.actor), td("Action", a.action), td("Target", a.target || ""),
    td("Detail", a.detail ? JSON.stringify(a.detail) : ""))));
}

// ---------------------------------------------------------------- import

// The columns `POST /api/upload-csv` reads (api/src/invitations/upload.rs), to show which
// ones the preview recognises.
const COLUMNS = {
  email: ["email", "email_address", "e_mail"],
  name: ["name", "full_name", "fullname"],
  "first name": ["first_name", "firstname"],
  "last name": ["last_name", "lastname"],
};

function recognise(header) {
  const h = header.trim().toLowerCase().replace(/[ -]/g, "_");
  return Object.entries(COLUMNS).find(([, names]) => names.includes(h))?.[0] || null;
}

// The first `max` records of a CSV text (quotes as RFC 4180), for the preview only: the
// server reads the whole file and is the judge.
function previewRecords(text, max) {
  const records = []; let field = "", record = [], quoted = false;
  for (let i = 0; i < text.length && records.length < max; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { record.push(field); field = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      record.push(field); records.push(record); record = []; field = "";
    } else field += c;
  }
  if ((field || record.length) && records.length < max) { record.push(field); records.push(record); }
  return records;
}

// A cell a spreadsheet would run as a formula is written as text (OWASP's CSV injection
// advice): a leading =, +, -, @, tab or carriage return gets a leading apostrophe.
export function csvCell(value) {
  let text = value === null || value === undefined ? "" : String(value);
  // Also a leading line feed, and the full-width signs some spreadsheets read as the same.
  if (/^[=+\-@\t\r\n\uFF1D\uFF0B\uFF0D\uFF20]/.test(text)) text = "'" + text;
  return '"' + text.replace(/"/g, '""') + '"';
}

function resultsCsv(report) {
  const lines = [["line", "email", "status", "reason", "user_id"].map(csvCell).join(",")];
  for (const r of report.results) lines.push([r.line, r.email, r.status, r.reason, r.user_id].map(csvCell).join(","));
  return lines.join("\r\n") + "\r\n";
}

function importPage() {
  const error = errorBox();
  const file = el("input", { id: "csv-file", type: "file", accept: ".csv,text/csv" });
  const preview = el("div", { id: "preview" });
  const progress = el("div", { id: "progress" });
  const results = el("div", { id: "results" });
  const go = el("button", { id: "import", class: "primary", type: "submit", disabled: true }, "Import");
  file.addEventListener("change", async () => {
    error.textContent = ""; results.replaceChildren(); progress.replaceChildren();
    const f = file.files[0];
    if (!f) { preview.replaceChildren(); go.disabled = true; return; }
    const head = await f.slice(0, 64 * 1024).text();
    const records = previewRecords(head, 6);
    const header = records[0] || [];
    const known = header.map(recognise);
    const lines = (await f.text()).split(/\r\n|\n|\r/).filter((l) => l.trim()).length - 1;
    preview.replaceChildren(
      el("p", { id: "preview-summary" }, `${f.name}: about ${Math.max(0, lines)} rows. `,
        known.includes("email") ? "Columns recognised: " + known.filter(Boolean).join(", ") + "." : "No email column: the import will be refused."),
      table(header.map((h, i) => known[i] ? `${h} → ${known[i]}` : `${h} (ignored)`),
        records.slice(1).map((r) => el("tr", {}, header.map((h, i) => td(h, r[i] || "")))), "plain"));
    go.disabled = false;
  });
  const form = el("form", { class: "bar", onsubmit: async (e) => {
    e.preventDefault(); error.textContent = ""; results.replaceChildren();
    const f = file.files[0]; if (!f) return;
    go.disabled = true;
    const bar = el("progress", { id: "upload-progress", max: 100, value: 0, "aria-label": "Import progress" });
    const stage = el("p", { id: "stage", role: "status" }, "Uploading…");
    progress.replaceChildren(stage, bar);
    const form = new FormData(); form.append("file", f);
    const started = performance.now();
    try {
      const report = await upload("/api/upload-csv", form, (sent, total) => {
        bar.value = total ? Math.round(90 * sent / total) : 0;
        if (sent === total) { stage.textContent = `Importing ${f.name} on the server…`; bar.removeAttribute("value"); }
      });
      bar.value = 100;
      stage.textContent = `Imported in ${((performance.now() - started) / 1000).toFixed(1)} s.`;
      showResults(results, report);
    } catch (err) {
      progress.replaceChildren();
      show(error, err.code === "invalid_csv" ? `Nothing was imported: ${err.message}` : err);
    } finally { go.disabled = false; }
  } }, el("label", {}, "CSV file (a header row with an email column; name or first and last name optional)", file), go);
  page("Import invitees", form, error, preview, progress, results);
}

function showResults(box, report) {
  const shown = { filter: "", page: 0 };
  const PER = 100;
  const list = el("div", {});
  const render = () => {
    const rows = shown.filter ? report.results.filter((r) => r.status === shown.filter) : report.results;
    const slice = rows.slice(shown.page * PER, (shown.page + 1) * PER);
    const pages = Math.max(1, Math.ceil(rows.length / PER));
    list.replaceChildren(
      table(["Line", "Email", "Result", "Reason", "User"], slice.map((r) => el("tr", { class: r.status },
        td("Line", r.line), td("Email", r.email), td("Result", r.status), td("Reason", r.reason || ""),
        td("User", r.user_id ? el("a", { href: `#/users/${r.user_id}` }, r.user_id) : "")))),
      el("div", { class: "bar" },
        el("button", { type: "button", disabled: shown.page === 0, onclick: () => { shown.page--; render(); } }, "← Previous"),
        el("span", { id: "results-page" }, `page ${shown.page + 1} of ${pages} (${rows.length} rows)`),
        el("button", { type: "button", disabled: shown.page + 1 >= pages, onclick: () => { shown.page++; render(); } }, "Next →")));
  };
  const filter = el("select", { id: "result-filter", onchange: () => { shown.filter = filter.value; shown.page = 0; render(); } },
    el("option", { value: "" }, "all"), ["created", "updated", "duplicate", "invalid"].map((s) => el("option", { value: s }, s)));
  const download = el("button", { id: "download", type: "button", onclick: () => {
    const url = URL.createObjectURL(new Blob([resultsCsv(report)], { type: "text/csv" }));
    const a = el("a", { href: url, download: `import-${report.upload_id}.csv` });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } }, "Download results (CSV)");
  box.replaceChildren(
    el("div", { class: "tiles", id: "tally" },
      [["rows", report.rows], ["created", report.created], ["updated", report.updated], ["duplicate", report.duplicate], ["invalid", report.invalid]]
        .map(([k, v]) => el("div", { class: "tile", dataset: { count: k } }, k, el("strong", {}, v)))),
    el("div", { class: "bar" }, el("label", {}, "Show", filter), download,
      el("a", { href: "#/invitations" }, "Send the invitations →")),
    list);
  render();
}

// ---------------------------------------------------------------- invitations

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function invitationsPage(params) {
  const error = errorBox();
  const statusFilter = params.get("status") || "pending";
  const filter = el("form", { class: "bar", onsubmit: (e) => { e.preventDefault(); location.hash = "#/invitations?status=" + encodeURIComponent(which.value); } });
  const which = el("select", { id: "invite-status" }, ["pending", "failed", "sent", "expired"].map((s) => el("option", { value: s, selected: s === statusFilter }, s)));
  filter.append(el("label", {}, "Invitees whose invitation is", which), el("button", { type: "submit" }, "Show"));
  const list = el("div", {});
  const watch = el("div", { id: "batch" });
  const sendSelected = el("button", { id: "send-selected", class: "primary", type: "button" }, "Send to the selected");
  const sendAll = el("button", { id: "send-all", type: "button" }, "Send to everyone who still needs one");
  const recent = el("div", {});
  page("Invitations", filter, error, list, el("div", { class: "bar" }, sendSelected, sendAll), watch,
    el("h3", {}, "Recent batches"), recent);
  const send = (ids) => { error.textContent = ""; queueMails(ids, statusFilter, error); };
  sendAll.onclick = () => send(null);
  try {
    const answer = await api("GET", `/api/users?status=${encodeURIComponent(statusFilter)}&verified=false&per_page=200`);
    const boxes = [];
    const all = el("input", { type: "checkbox", id: "select-all", "aria-label": "Select all", onchange: () => boxes.forEach((b) => { b.checked = all.checked; }) });
    const rows = answer.users.map((u) => {
      const box = el("input", { type: "checkbox", value: u.id, "aria-label": `Select ${u.email}` });
      boxes.push(box);
      return el("tr", {}, td("Pick", box), td("Email", el("a", { href: `#/users/${u.id}` }, u.email)),
        td("Name", u.full_name || ""), td("Invitation", u.invitation ? u.invitation.status : ""),
        td("Last email", u.last_email ? `${u.last_email.status}${u.last_email.last_error ? ": " + u.last_email.last_error : ""}` : "—"));
    });
    list.replaceChildren(el("p", {}, `${answer.total} invitees ${statusFilter}${answer.total > 200 ? " (the first 200 shown)" : ""}.`),
      rows.length ? table([all, "Email", "Name", "Invitation", "Last email"], rows) : el("p", { class: "muted" }, "Nobody."));
    sendSelected.onclick = () => {
      const ids = boxes.filter((b) => b.checked).map((b) => b.value);
      if (!ids.length) { error.textContent = "Select invitees first."; return; }
      send(ids);
    };
  } catch (e) { show(error, e); }
  const batch = params.get("batch");
  if (batch && !UUID.test(batch)) { error.textContent = "That is not a batch id."; }
  else if (batch) { watchBatch(watch, batch, error); every(2000, () => watchBatch(watch, batch, error)); }
  try {
    const batches = await api("GET", "/api/batches?limit=10");
    recent.replaceChildren(batches.length ? table(["Queued at", "By", "Mails", "Sent", "Failed", ""], batches.map((b) => el("tr", {},
      td("Queued at", when(b.created_at)), td("By", b.requested_by), td("Mails", b.total), td("Sent", b.sent), td("Failed", b.failed),
      td("", el("a", { href: `#/invitations?status=${encodeURIComponent(statusFilter)}&batch=${b.batch_id}` }, "watch"))))) : el("p", { class: "muted" }, "No batch yet."));
  } catch (e) { show(error, e); }
}

// Queues invitation mails for `ids` (null: everyone who still needs one), then watches the
// batch, listing invitees by `status` (the page's default when null).
async function queueMails(ids, status, error) {
  const query = ids ? "?" + ids.map((id) => "user_ids=" + encodeURIComponent(id)).join("&") : "";
  try {
    const queued = await api("POST", "/api/send-emails" + query);
    location.hash = `#/invitations?${status ? `status=${encodeURIComponent(status)}&` : ""}batch=${queued.batch_id}`;
  } catch (e) { show(error, e); }
}

async function watchBatch(box, id, error) {
  try {
    const b = await api("GET", `/api/batches/${id}`);
    const done = b.sent + b.failed;
    const failed = b.failed ? (await api("GET", `/api/batches/${id}/mails?status=failed&limit=1000`)).mails : [];
    const resend = el("button", { id: "resend-failed", type: "button",
      onclick: () => queueMails(failed.map((m) => m.user_id).filter(Boolean), null, error) }, `Resend the ${failed.length} failed`);
    box.replaceChildren(el("div", { class: "panel" },
      el("h3", {}, `Batch of ${when(b.created_at)}`),
      el("progress", { max: Math.max(1, b.total), value: done, "aria-label": "Mails finished" }),
      el("p", { id: "batch-counts", role: "status" },
        `${b.total} mails: ${b.queued} queued, ${b.sent} sent, ${b.retrying} being retried, ${b.failed} failed${b.finished ? " — finished" : ""}.`),
      failed.length ? el("div", {}, table(["Email", "Attempts", "Why it failed"], failed.map((m) => el("tr", {},
        td("Email", m.email), td("Attempts", m.attempts), td("Why it failed", m.last_error || "")))), resend) : null));
    if (b.finished) { timers.forEach(clearInterval); timers = []; }
  } catch (e) { show(error, e); }
}

// ---------------------------------------------------------------- monitoring

async function monitoringPage(params) {
  const error = errorBox();
  const tiles = el("div", { class: "tiles", id: "health" }, el("p", { class: "muted" }, "Loading…"));
  const chart = el("div", { id: "throughput" });
  const audit = el("div", {});
  const form = el("form", { class: "bar", onsubmit: (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) next.set(k, v);
    location.hash = "#/monitoring?" + next;
  } },
  ["actor", "action", "target"].map((k) => el("label", {}, k[0].toUpperCase() + k.slice(1), el("input", { id: `audit-${k}`, name: k, value: params.get(k) || "" }))),
  el("button", { type: "submit" }, "Filter"));
  page("Monitoring", error, tiles, el("h3", {}, "Jobs per minute, last hour"), chart,
    el("p", {}, el("a", { href: "/dashboard" }, "Open the job dashboard →")),
    el("h3", {}, "Audit log"), form, audit);
  const refresh = async () => {
    try {
      const h = await api("GET", "/api/health/detailed");
      const c = h.checks;
      tiles.replaceChildren(
        tile("Overall", h.status, h.failing.length ? "failing: " + h.failing.join(", ") : "every check is up"),
        tile("Database", c.database.status, c.database.error || `${c.database.latency_ms.toFixed(1)} ms`),
        tile("Redis", c.redis.status, c.redis.error || `${c.redis.latency_ms.toFixed(1)} ms`),
        tile("Workers", c.workers.status, c.workers.error || `${c.workers.live} live${c.workers.queues_without_workers.length ? "; no worker for " + c.workers.queues_without_workers.join(", ") : ""}`),
        tile("Queues", c.queues.status, c.queues.error || (c.queues.paused.length ? "paused: " + c.queues.paused.join(", ") : `${c.queues.queues.length} queues`)),
        tile("Migrations", c.migrations.status, c.migrations.error || `version ${c.migrations.applied_version}`));
    } catch (e) {
      if (e.status === 503) show(error, "Some check is down: see the tiles."); else show(error, e);
    }
    try { await drawThroughput(chart); } catch (e) { show(error, e); }
  };
  await refresh();
  every(10000, refresh);
  const query = new URLSearchParams(params); query.set("limit", 50);
  try {
    const answer = await api("GET", "/api/audit?" + query);
    const older = new URLSearchParams(params);
    if (answer.next_before) older.set("before", answer.next_before);
    audit.replaceChildren(auditTable(answer.entries),
      ...(answer.next_before ? [el("a", { href: "#/monitoring?" + older }, "Older →")] : []));
  } catch (e) { show(error, e); }
}

function tile(name, state, detail) {
  return el("div", { class: "tile", dataset: { check: name.toLowerCase() } }, name, el("strong", { class: state }, state), el("span", { class: "muted" }, detail));
}

// ---------------------------------------------------------------- API tokens

async function tokensPage() {
  const error = errorBox();
  const created = el("div", { id: "created" });
  const name = el("input", { id: "token-name", required: true, maxlength: 100 });
  const role = el("select", { id: "token-role" }, ROLES.map((r) => el("option", { value: r }, r.replace("_", " "))));
  const days = el("input", { id: "token-days", type: "number", min: 1, max: 3650, placeholder: "never" });
  const list = el("div", {});
  const form = el("form", { class: "bar", onsubmit: async (e) => {
    e.preventDefault(); error.textContent = "";
    const body = { name: name.value.trim(), role: role.value };
    if (days.value) body.expires_in_days = Number(days.value);
    try {
      const t = await api("POST", "/api/tokens", body);
      const secret = el("p", { class: "secret", id: "new-token" }, t.token);
      created.replaceChildren(el("div", { class: "notice", role: "status" },
        el("p", {}, `Token “${t.name}” created. Copy it now: it is shown this once.`), secret,
        el("button", { type: "button", onclick: () => navigator.clipboard.writeText(t.token).then(() => say("copied")) }, "Copy")));
      form.reset();
      load();
    } catch (err) { show(error, err); }
  } },
  el("label", {}, "Name (what it is for)", name), el("label", {}, "Role", role),
  el("label", {}, "Expires in days", days), el("button", { class: "primary", type: "submit" }, "Create token"));
  page("API tokens", form, error, created, list);
  async function load() {
    try {
      const tokens = await api("GET", "/api/tokens");
      const state = (t) => t.revoked_at ? `revoked ${when(t.revoked_at)}`
        : t.expires_at && new Date(t.expires_at) < new Date() ? "expired" : "live";
      list.replaceChildren(tokens.length ? table(["Name", "Starts with", "Role", "Created", "Last used", "Expires", "State", ""], tokens.map((t) => el("tr", {},
        td("Name", t.name), td("Starts with", t.token_prefix + "…"), td("Role", t.role), td("Created", when(t.created_at)),
        td("Last used", t.last_used_at ? when(t.last_used_at) : "never"), td("Expires", t.expires_at ? when(t.expires_at) : "never"),
        td("State", state(t)),
        td("", state(t) !== "live" ? "" : el("button", { class: "danger", type: "button", "aria-label": `Revoke ${t.name}`, onclick: async () => {
          if (!confirm(`Revoke “${t.name}”? Requests with it fail from now on.`)) return;
          try { await api("DELETE", `/api/tokens/${t.id}`); say(`${t.name} revoked`); load(); } catch (err) { show(error, err); }
        } }, "Revoke"))))) : el("p", { class: "muted" }, "No token yet."));
    } catch (err) { show(error, err); }
  }
  load();
}

// ---------------------------------------------------------------- routing

function route() {
  generation++;
  timers.forEach(clearInterval); timers = [];
  const creds = credentials();
  if (!creds) return signInPage();
  nav.hidden = false; signOutButton.hidden = false;
  const [path, query] = (location.hash.slice(1) || "/users").split("?");
  const params = new URLSearchParams(query || "");
  const section = path.split("/")[1] || "users";
  for (const a of nav.querySelectorAll("a")) {
    if (a.getAttribute("href") === "#/" + section) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const id = path.split("/")[2];
  switch (section) {
    case "users": return id ? userPage(encodeURIComponent(id)) : usersPage(params);
    case "import": return importPage();
    case "invitations": return invitationsPage(params);
    case "monitoring": return monitoringPage(params);
    case "tokens": return tokensPage();
    default: location.hash = "#/users";
  }
}

window.addEventListener("concierge-unauthorized", (e) => {
  if (e.detail.status === 401) { forget(); signInPage("Your sign-in ended; sign in again."); }
});
window.addEventListener("hashchange", route);
signOutButton.addEventListener("click", doSignOut);

const params = new URLSearchParams(location.search);
if (params.get("code") && params.get("state")) googleFinish(params); else route();
