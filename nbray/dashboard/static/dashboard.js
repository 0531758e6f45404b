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
async function refresh() {
  try {
    const c = await api("cluster");
    $("cluster").textContent = `${c.nodes} node(s), CPU ${c.available.CPU ?? 0}/${c.resources.CPU ?? 0} free, ${c.workers} workers, ${c.objects} objects`;
    const page = await api("objects", { sort_by: $("sort_by").value, descending: $("descending").checked,
      filter: $("filter").value, where: $("where").value, offset: state.page * state.pageSize, limit: state.pageSize });
    $("nodes").innerHTML = page.nodes.map((n) => {
      const pct = n.store_capacity ? (100 * n.store_used / n.store_capacity) : 0;
      return `<div class="node ${n.alive === false ? "dead" : ""}" data-node-id="${esc(n.node_id)}"><b>${esc(n.node_id.slice(0, 12))}</b> ${esc(n.hostname || "")}
        store ${size(n.store_used)} of ${size(n.store_capacity)}, ${n.objects} objects, spilled ${size(n.spilled_bytes)}
        <div class="bar"><div style="width:${pct.toFixed(1)}%"></div></div></div>`;
    }).join("");
    const tb = document.querySelector("#objects tbody");
    tb.innerHTML = page.objects.map((o) => `<tr class="nbray-object" data-object-id="${esc(o.object_id)}">` + [
      o.object_id, size(o.size), o.type, `${o.owner.process} (pid ${o.owner.pid})`,
      o.locations.map((l) => l.slice(0, 12)).join(", ") || "-",
      o.where + (o.spill_url ? ` → ${o.spill_url}` : ""), o.reference_types.join(", ") || "-",
      o.call_site || o.created_by].map((c) => `<td>${esc(c)}</td>`).join("") + "</tr>").join("");
    const pages = Math.max(1, Math.ceil(page.total / state.pageSize));
    $("page").textContent = ` page ${state.page + 1}/${pages} (${page.total} objects) `;
    rows(document.querySelector("#tasks tbody"), await api("tasks", { limit: 200 }),
      (t) => [t.task_id, t.name, t.state, (t.node_id || "").slice(0, 12), t.pid ?? "", t.attempt]);
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
