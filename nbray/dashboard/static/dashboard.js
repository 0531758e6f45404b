// nbray dashboard: polls the JSON API (same origin, session cookie) and renders tables.
"use strict";
const state = { page: 0, pageSize: 50, open: new Set() };  // open: ids whose detail row shows
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
function size(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}
async function api(name, params = {}) {
  const q = new URLSearchParams(params).toString();
  const r = await fetch(`/api/${name}${q ? "?" + q : ""}`, { credentials: "same-origin" });
  if (!r.ok) throw new Error(`${name}: ${r.status} ${r.statusText}`);
  return r.json();
}
function rows(tbody, items, cells) {
  tbody.innerHTML = items.map((it) => `<tr>${cells(it).map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`).join("");
}
const ROLE = { head: "head node", node: "worker node", driver: "driver" };
function nodeRow(n) {
  const pct = n.store_capacity ? (100 * n.store_used / n.store_capacity) : 0;
  const dead = n.alive === false;
  const who = n.role === "driver" ? `driver pid ${n.pid ?? "?"} on ${n.hostname || "?"}` : (n.hostname || "");
  let detail;
  if (dead) {
    const when = n.lost_at ? ` at ${new Date(n.lost_at * 1000).toLocaleTimeString()}` : "";
    const left = n.objects_left ? `${n.objects_left} object(s) it created are still held by others and stay`
      : "no object it created is left";
    detail = n.role === "driver"
      ? `disconnected${when} (${n.lost_reason || "gone"}): the references it held were released, objects only it held were freed; ${left}`
      : `lost${when} (${n.lost_reason || "gone"}): its workers' tasks were retried elsewhere or failed, objects only it held were rebuilt or reported lost; ${left}`;
  } else if (n.role === "driver") {
    detail = `attached; runs no tasks; its store ${size(n.store_used)} of ${size(n.store_capacity)}`;
  } else {
    const w = n.taskWorkers ?? n.workers;
    detail = `store ${size(n.store_used)} of ${size(n.store_capacity)}, ${n.objects} objects, spilled ${size(n.spilled_bytes)}, ${w} worker${w === 1 ? "" : "s"}`;
  }
  const bar = dead || n.role === "driver" ? "" : `<div class="bar"><div style="width:${pct.toFixed(1)}%"></div></div>`;
  return `<div class="node ${dead ? "dead" : ""}" data-node-id="${esc(n.node_id)}" data-role="${esc(n.role || "")}" data-alive="${!dead}">` +
    `<span class="role role-${esc(n.role || "node")}">${esc(ROLE[n.role] || "node")}${dead ? (n.role === "driver" ? " (gone)" : " (lost)") : ""}</span> ` +
    `<b>${esc(who)}</b> <code>${esc(n.node_id.slice(0, 12))}</code><div class="detail">${esc(detail)}</div>${bar}</div>`;
}
// -- the objects table: one dense line per object, the rest in a detail row ------------------
const WHERE = { shared_memory: "shared mem", inline: "inline", spilled: "spilled", pending: "pending" };
const REFS = { LOCAL_REFERENCE: "local ref", BORROWED: "borrowed", USED_BY_PENDING_TASK: "task arg",
  CAPTURED_IN_OBJECT: "nested", CAPTURED_BY_CLOSURE: "closure", PINNED_IN_MEMORY: "mapped", ACTOR_HANDLE: "actor" };
const COLUMNS = 5;
// Each id as its shortest prefix (at least 8 hex digits) no other id on the page starts with,
// as the JupyterLab sidebar shortens them (labextension/src/format.ts shortIds).  Ids that
// share a long prefix (more than 12 digits) show 4 digits, "…", and their shortest unique end.
function uniqueLengths(ids) {
  const sorted = [...new Set(ids)].sort(); const need = new Map();
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1], b = sorted[i]; let common = 0;
    while (common < a.length && common < b.length && a[common] === b[common]) common++;
    need.set(a, Math.max(need.get(a) ?? 0, common + 1)); need.set(b, Math.max(need.get(b) ?? 0, common + 1));
  }
  return need;
}
function shortIds(ids) {
  const head = uniqueLengths(ids);
  const rev = (id) => [...id].reverse().join("");
  const tail = uniqueLengths(ids.map(rev));
  const out = new Map(ids.map((id) => {
    const n = Math.max(8, head.get(id) ?? 0), m = Math.max(4, tail.get(rev(id)) ?? 0);
    if (n <= 12) return [id, n >= id.length ? id : `${id.slice(0, n)}…`];
    if (m <= 8) return [id, `${id.slice(0, 4)}…${id.slice(-m)}`];
    // the 6 digits up to where it differs from its neighbours, marked on both sides
    return [id, `${id.slice(0, 2)}…${id.slice(n - 6, n)}…`];
  }));
  const seen = new Map();
  for (const s of out.values()) seen.set(s, (seen.get(s) || 0) + 1);
  for (const [id, s] of out) if (seen.get(s) > 1) out.set(id, id);  // no short form tells them apart
  return out;
}
// A call site in a file: its file name and line (the whole path is the cell's title).
const siteText = (site) => String(site || "").replace(/^.*[\\/]([^\\/]+:\d+)$/, "$1");
function detailRow(o, label) {
  const where = o.locations.map((l) => label.get(l) || l.slice(0, 12)).join(", ") || "-";
  const items = [["object id", o.object_id], ["size", `${o.size.toLocaleString()} bytes`],
    ["owner", `${o.owner.process} (pid ${o.owner.pid})`], ["on", where],
    ["references", o.reference_types.map((t) => `${REFS[t] || t} (${t})`).join(", ") || "-"],
    ["created by", o.created_by], ["task", o.task_id || "-"]];
  if (o.spill_url) items.push(["spilled to", o.spill_url]);
  return `<tr class="nbray-object-detail" data-object-id="${esc(o.object_id)}"><td colspan="${COLUMNS}"><dl>` +
    items.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join("") + "</dl></td></tr>";
}
function renderObjects(objects, label) {
  const largest = Math.max(1, ...objects.map((o) => o.size));
  const short = shortIds(objects.map((o) => o.object_id));
  document.querySelector("#objects tbody").innerHTML = objects.map((o) => {
    const id = esc(o.object_id), pct = (100 * o.size / largest).toFixed(1);
    const site = o.call_site || o.created_by;
    const open = state.open.has(o.object_id);
    return `<tr class="nbray-object${open ? " open" : ""}" data-object-id="${id}" title="click for details">` +
      `<td class="oid"><code class="copy" title="${id} (click to copy)">${esc(short.get(o.object_id))}</code></td>` +
      `<td class="size" title="${o.size.toLocaleString()} bytes"><span class="size-text">${esc(size(o.size))}</span>` +
      `<span class="sbar"><span style="width:${pct}%;min-width:${o.size ? 1 : 0}px"></span></span></td>` +
      `<td title="${esc(o.type)}">${esc(o.type)}</td>` +
      `<td class="where-${esc(o.where)}" title="${esc(o.where + (o.spill_url ? ` → ${o.spill_url}` : ""))}">${esc(WHERE[o.where] || o.where)}</td>` +
      `<td class="site" title="${esc(site)}">${esc(siteText(site))}</td></tr>` + (open ? detailRow(o, label) : "");
  }).join("") || `<tr><td colspan="${COLUMNS}" class="muted">no objects</td></tr>`;
}
async function copyText(text) {
  try { await navigator.clipboard.writeText(text); return; } catch (e) { /* not a secure context */ }
  const area = Object.assign(document.createElement("textarea"), { value: text });
  document.body.appendChild(area); area.select(); document.execCommand("copy"); area.remove();
}
document.querySelector("#objects tbody").addEventListener("click", async (ev) => {
  const row = ev.target.closest("tr.nbray-object");
  if (!row) return;
  const code = ev.target.closest("code.copy");
  if (code) {  // the id: copy the full one, say so for a moment
    await copyText(row.dataset.objectId);
    code.classList.add("copied"); code.dataset.copied = row.dataset.objectId;
    setTimeout(() => code.classList.remove("copied"), 1200);
    return;
  }
  const id = row.dataset.objectId;
  if (state.open.has(id)) state.open.delete(id); else state.open.add(id);
  refresh();
});
// Column headers sort: a click sorts by that column, a second click flips the order.
function showSort() {
  for (const th of document.querySelectorAll("#objects th[data-sort]")) {
    const on = th.dataset.sort === $("sort_by").value;
    th.classList.toggle("sorted", on);
    th.dataset.dir = on ? ($("descending").checked ? "desc" : "asc") : "";
    th.setAttribute("aria-sort", on ? ($("descending").checked ? "descending" : "ascending") : "none");
  }
}
for (const th of document.querySelectorAll("#objects th[data-sort]")) {
  th.addEventListener("click", () => {
    if ($("sort_by").value === th.dataset.sort) $("descending").checked = !$("descending").checked;
    else { $("sort_by").value = th.dataset.sort; $("descending").checked = ["size", "created", "last_access"].includes(th.dataset.sort); }
    state.page = 0; showSort(); refresh();
  });
}
async function refresh() {
  try {
    const [c, nodes, workers] = await Promise.all([api("cluster"), api("nodes"), api("workers")]);
    const label = new Map(nodes.map((n) => [n.node_id, n.label || n.hostname || n.node_id.slice(0, 12)]));
    const live = nodes.filter((n) => n.alive !== false);
    const liveNodes = live.filter((n) => n.role !== "driver").length;
    const drivers = live.filter((n) => n.role === "driver").length;
    const taskWorkers = workers.filter((w) => w.state !== "driver" && w.state !== "dead");
    const page = await api("objects", { sort_by: $("sort_by").value, descending: $("descending").checked,
      filter: $("filter").value, where: $("where").value, offset: state.page * state.pageSize, limit: state.pageSize });
    const filtered = $("filter").value || $("where").value;
    const objects = filtered ? c.objects : page.total;
    $("cluster").textContent = `${liveNodes} node${liveNodes === 1 ? "" : "s"}` +
      (drivers ? `, ${drivers} attached driver${drivers === 1 ? "" : "s"}` : "") +
      `, ${taskWorkers.length} worker${taskWorkers.length === 1 ? "" : "s"}, ${objects} object${objects === 1 ? "" : "s"}` +
      `, CPU ${c.available.CPU ?? 0} of ${c.resources.CPU ?? 0} free`;
    $("cluster").dataset.nodes = liveNodes; $("cluster").dataset.drivers = drivers;
    $("cluster").dataset.workers = taskWorkers.length; $("cluster").dataset.objects = objects;
    for (const n of nodes) n.taskWorkers = taskWorkers.filter((w) => w.node_id === n.node_id).length;
    $("nodes").innerHTML = nodes.map(nodeRow).join("");
    rows(document.querySelector("#workers tbody"), workers.filter((w) => w.state !== "dead"),
      (w) => [w.worker_id, w.state === "driver" ? `driver pid ${w.pid}` : w.pid, label.get(w.node_id) || w.node_id.slice(0, 12),
        w.state + (w.blocked ? " (blocked in get)" : ""), w.task || ""]);
    document.querySelectorAll("#workers tbody tr").forEach((tr) => tr.classList.add("nbray-worker"));
    renderObjects(page.objects, label);
    const pages = Math.max(1, Math.ceil(page.total / state.pageSize));
    $("page").textContent = ` page ${state.page + 1}/${pages} (${page.total} objects) `;
    rows(document.querySelector("#tasks tbody"), await api("tasks", { limit: 200 }),
      (t) => [t.task_id, t.name, t.state, label.get(t.node_id) || "", t.pid ?? "", t.attempt]);
  } catch (e) {
    $("cluster").textContent = `cannot reach the cluster: ${e.message}`;
  }
}
for (const id of ["sort_by", "descending", "where"]) $(id).addEventListener("change", () => { state.page = 0; showSort(); refresh(); });
$("filter").addEventListener("input", () => { state.page = 0; refresh(); });
$("prev").addEventListener("click", () => { state.page = Math.max(0, state.page - 1); refresh(); });
$("next").addEventListener("click", () => { state.page += 1; refresh(); });
showSort();
refresh();
setInterval(refresh, 1500);
