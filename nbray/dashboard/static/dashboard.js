// nbray dashboard: polls the JSON API (same origin, session cookie) and renders tables.
"use strict";
const state = { page: 0, pageSize: 50 };
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
    const tb = document.querySelector("#objects tbody");
    tb.innerHTML = page.objects.map((o) => `<tr class="nbray-object" data-object-id="${esc(o.object_id)}">` + [
      o.object_id, size(o.size), o.type, `${o.owner.process} (pid ${o.owner.pid})`,
      o.locations.map((l) => label.get(l) || l.slice(0, 12)).join(", ") || "-",
      o.where + (o.spill_url ? ` → ${o.spill_url}` : ""), o.reference_types.join(", ") || "-",
      o.call_site || o.created_by].map((c) => `<td>${esc(c)}</td>`).join("") + "</tr>").join("");
    const pages = Math.max(1, Math.ceil(page.total / state.pageSize));
    $("page").textContent = ` page ${state.page + 1}/${pages} (${page.total} objects) `;
    rows(document.querySelector("#tasks tbody"), await api("tasks", { limit: 200 }),
      (t) => [t.task_id, t.name, t.state, label.get(t.node_id) || "", t.pid ?? "", t.attempt]);
  } catch (e) {
    $("cluster").textContent = `cannot reach the cluster: ${e.message}`;
  }
}
for (const id of ["sort_by", "descending", "where"]) $(id).addEventListener("change", () => { state.page = 0; refresh(); });
$("filter").addEventListener("input", () => { state.page = 0; refresh(); });
$("prev").addEventListener("click", () => { state.page = Math.max(0, state.page - 1); refresh(); });
$("next").addEventListener("click", () => { state.page += 1; refresh(); });
refresh();
setInterval(refresh, 1500);
