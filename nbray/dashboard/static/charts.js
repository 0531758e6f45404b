// nbray charts: per-node store bars, memory over time, the task stream (a Gantt of the
// newest 30 s of runs per worker), tasks per second, and actors by state. Polls the JSON
// API (metrics, timeline, actors) once a second and draws with the vendored Chart.js.
//
// Used by charts.html (query parameters api=, kernel_id=, theme=light|dark: the page the
// Jupyter server extension and the JupyterLab panel open) and by the head's dashboard page,
// which mounts the same charts into its own element: NbrayCharts.mount(element, options).
"use strict";
(function () {
  const WINDOW_S = 30;           // the task stream shows the newest 30 s
  const HISTORY_S = 300;         // memory and rate charts: the newest 5 min of samples
  const POLL_MS = 1000;
  const MAX_RUNS = 5000;         // bars in the task stream at most (the newest)
  const SECTIONS = [
    ["store", "Object store per node"],
    ["memory", "Store memory over time"],
    ["timeline", `Task stream (last ${WINDOW_S} s)`],
    ["rate", "Tasks per second, busy workers"],
    ["actors", "Actors"],
  ];
  const STATE_CLASS = { ALIVE: "alive", PENDING_CREATION: "pending", RESTARTING: "restarting", DEAD: "dead" };
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

  function size(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return i === 0 ? `${n} B` : `${n.toFixed(n >= 100 ? 0 : 1)} ${units[i]}`;
  }
  function duration(s) {
    if (s < 1e-3) return `${(s * 1e6).toFixed(0)} µs`;
    if (s < 1) return `${(s * 1e3).toFixed(1)} ms`;
    return `${s.toFixed(2)} s`;
  }

  // A stable colour per function name: a hash of the name (FNV-1a, then murmur's final mix
  // so that similar names spread) picks one of 16 distinct colours, the same on every page
  // and reload; more names than colours share some.
  const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
    "#ff9da7", "#9c755f", "#17becf", "#bcbd22", "#d62728", "#9467bd", "#e377c2", "#2ca02c", "#1f77b4"];
  function slotOf(name) {
    let h = 0x811c9dc5;
    for (let i = 0; i < name.length; i++) { h ^= name.charCodeAt(i); h = Math.imul(h, 0x01000193); }
    h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
    return (h >>> 0) % PALETTE.length;
  }
  const colourOf = (name) => PALETTE[slotOf(name)];
  // Per page: a name keeps its colour once seen; a name whose hashed colour another name
  // already has takes the next free one, so the few functions on screen stay apart.
  function colourKeeper() {
    const given = new Map(), taken = new Map();
    return (name) => {
      if (given.has(name)) return given.get(name);
      let slot = slotOf(name);
      for (let i = 0; i < PALETTE.length && taken.has(slot); i++) slot = (slot + 1) % PALETTE.length;
      taken.set(slot, name);
      given.set(name, PALETTE[slot]);
      return PALETTE[slot];
    };
  }
  const shortName = (name) => name.split(".").slice(-2).join(".");

  // Options from a page's query string. api: a path ("/nbray/api/") or a full URL of this
  // page's origin (its own cookies then authenticate every call, and nothing can point it
  // at another site); anything else falls back to /api/.
  function optionsFromQuery(search, here) {
    const q = new URLSearchParams(search);
    const page = new URL(here || window.location.href);
    let api = "/api/";
    try {
      const url = new URL(q.get("api") || "/api/", page);
      if (url.origin === page.origin) api = url.pathname.endsWith("/") ? url.pathname : url.pathname + "/";
    } catch (e) { /* not a URL: the default */ }
    return { api, kernelId: q.get("kernel_id") || "", theme: q.get("theme") === "dark" ? "dark" : "light" };
  }

  // The colours of the page that embeds this one, when it is JupyterLab on the same origin
  // (the charts panel): its theme's background, text and border variables, so the panel
  // matches the theme exactly (JupyterLab Dark is a neutral grey, our own dark palette is
  // bluer).  null when not embedded, cross-origin, or the parent defines no theme.
  function parentPalette() {
    try {
      if (window.parent === window) return null;
      const style = window.parent.getComputedStyle(window.parent.document.documentElement);
      const read = (name) => style.getPropertyValue(name).trim();
      const palette = { background: read("--jp-layout-color0"), text: read("--jp-ui-font-color1"),
                        grid: read("--jp-border-color2"), track: read("--jp-layout-color3") };
      return palette.background && palette.text ? palette : null;
    } catch (e) {
      return null;  // another origin: its document is not ours to read
    }
  }

  function mount(root, options) {
    const opts = Object.assign({ api: "/api/", kernelId: "", theme: "light" }, options || {});
    const dark = opts.theme === "dark";
    root.classList.add("nbray-charts");
    root.classList.toggle("nbray-dark", dark);
    if (document.body.classList.contains("nbray-charts-page")) document.body.classList.toggle("nbray-dark", dark);
    root.innerHTML = `<div class="nbray-charts-status" role="status"></div>` + SECTIONS.map(([key, title]) =>
      `<section data-chart="${key}"><h3>${esc(title)}</h3>` +
      (key === "actors" ? `<div class="nbray-actors"><table><thead><tr><th>state</th><th>class</th><th>name</th>` +
        `<th>pid</th><th>queued</th><th>restarts</th><th>why dead</th></tr></thead>` +
        `<tbody></tbody></table><p class="nbray-empty">no actors</p></div>`
        : `<div class="nbray-canvas"><canvas></canvas></div>`) + `</section>`).join("");
    const section = (key) => root.querySelector(`section[data-chart="${key}"]`);
    const functionColour = colourKeeper();
    const status = root.querySelector(".nbray-charts-status");

    const Chart = window.Chart;
    const theme = parentPalette();
    const text = theme ? theme.text : dark ? "#d1d5db" : "#374151";
    const grid = theme && theme.grid ? theme.grid : dark ? "rgba(255,255,255,0.12)" : "rgba(0,0,0,0.08)";
    if (theme) {
      root.style.color = theme.text;
      root.dataset.palette = "parent";
      if (document.body.classList.contains("nbray-charts-page")) document.body.style.background = theme.background;
    }
    const axis = (extra) => Object.assign({ ticks: { color: text }, grid: { color: grid }, border: { color: grid } }, extra || {});
    const base = {
      animation: false, responsive: true, maintainAspectRatio: false,
      plugins: { legend: { labels: { color: text, boxWidth: 12 } } },
    };
    const secondsAxis = (min) => axis({ type: "linear", min, max: 0, title: { display: true, text: "seconds ago", color: text },
      ticks: { color: text, callback: (v) => `${-v}` } });
    const canvas = (key) => section(key).querySelector("canvas");

    // Each node's bar is its own capacity (100 %): in memory + free, then what is spilled
    // beyond it; nodes of different sizes stay readable side by side. Tooltips give bytes.
    const pct = (part, n) => n.store_capacity ? 100 * part / n.store_capacity : 0;
    let lastNodes = [];
    const store = new Chart(canvas("store"), {
      type: "bar",
      data: { labels: [], datasets: [
        { label: "in memory", data: [], backgroundColor: dark ? "#60a5fa" : "#2563eb" },
        { label: "free", data: [], backgroundColor: theme && theme.track ? theme.track : dark ? "#374151" : "#e5e7eb" },
        { label: "spilled (on disk)", data: [], backgroundColor: dark ? "#f59e0b" : "#d97706" },
      ] },
      options: Object.assign({}, base, {
        indexAxis: "y",
        scales: { x: axis({ stacked: true, beginAtZero: true, suggestedMax: 100,
                            ticks: { color: text, callback: (v) => `${v}%` },
                            title: { display: true, text: "% of the node's store", color: text } }),
                  y: axis({ stacked: true }) },
        plugins: Object.assign({}, base.plugins, { tooltip: { callbacks: {
          label: (c) => {
            const n = lastNodes[c.dataIndex], key = ["store_used", "free", "spilled_bytes"][c.datasetIndex];
            const bytes = key === "free" ? n.store_capacity - n.store_used : n[key];
            return `${c.dataset.label}: ${size(bytes)}`;
          },
          footer: (items) => items.length && lastNodes[items[0].dataIndex]
            ? `capacity ${size(lastNodes[items[0].dataIndex].store_capacity)}` : "" } } }),
      }),
    });

    const memory = new Chart(canvas("memory"), {
      type: "line", data: { datasets: [] },
      options: Object.assign({}, base, {
        parsing: false, normalized: true,
        scales: { x: secondsAxis(-120), y: axis({ beginAtZero: true, suggestedMax: 2 ** 20,
                                                   ticks: { color: text, callback: (v) => size(v) } }) },
        elements: { point: { radius: 0 }, line: { borderWidth: 2, tension: 0 } },
        interaction: { mode: "nearest", axis: "x", intersect: false },
        plugins: Object.assign({}, base.plugins, { tooltip: { callbacks: {
          title: (items) => items.length ? `${(-items[0].parsed.x).toFixed(0)} s ago` : "",
          label: (c) => `${c.dataset.label}: ${size(c.parsed.y)}` } } }),
      }),
    });

    const timeline = new Chart(canvas("timeline"), {
      type: "bar", data: { labels: [], datasets: [] },
      options: Object.assign({}, base, {
        indexAxis: "y",
        scales: { x: secondsAxis(-WINDOW_S), y: axis({ ticks: { color: text, font: { family: "ui-monospace, monospace", size: 11 } } }) },
        datasets: { bar: { grouped: false, barPercentage: 0.8, categoryPercentage: 1, minBarLength: 2 } },
        plugins: Object.assign({}, base.plugins, { tooltip: { callbacks: {
          title: (items) => items.length ? items[0].raw.name : "",
          label: (c) => [`${duration(c.raw.dur)} on ${c.raw.worker}`, `ended ${(-c.raw.x[1]).toFixed(1)} s ago`] } } }),
      }),
    });

    const rate = new Chart(canvas("rate"), {
      type: "bar", data: { datasets: [
        { type: "bar", label: "tasks done per second", data: [], backgroundColor: dark ? "#34d399" : "#059669", yAxisID: "y", order: 2 },
        { type: "line", label: "workers busy (average)", data: [], borderColor: dark ? "#f472b6" : "#db2777", backgroundColor: "transparent",
          pointRadius: 0, borderWidth: 2.5, tension: 0.3, yAxisID: "running", order: 1 },
      ] },
      options: Object.assign({}, base, {
        parsing: false,
        scales: { x: secondsAxis(-120),
                  y: axis({ beginAtZero: true, ticks: { color: text, precision: 0 },
                            title: { display: true, text: "done / s", color: text } }),
                  running: axis({ position: "right", beginAtZero: true, suggestedMax: 2, grid: { drawOnChartArea: false },
                                  ticks: { color: text, precision: 0 }, title: { display: true, text: "busy workers", color: text } }) },
        datasets: { bar: { barPercentage: 1, categoryPercentage: 1 } },
        plugins: Object.assign({}, base.plugins, { tooltip: { callbacks: {
          title: (items) => items.length ? `${(-items[0].parsed.x).toFixed(0)} s ago` : "",
          label: (c) => `${c.dataset.label}: ${c.parsed.y.toFixed(1)}` } } }),
      }),
    });

    // -- data ------------------------------------------------------------------------------
    const samples = [];          // metrics samples, oldest first
    const runs = new Map();      // task id + attempt -> timeline event, the newest WINDOW_S
    let lastSample = 0, lastRunEnd = 0, offset = 0;  // offset: the head's clock minus ours

    async function api(name, params) {
      const q = new URLSearchParams(params || {});
      if (opts.kernelId) q.set("kernel_id", opts.kernelId);
      const qs = q.toString();
      const r = await fetch(`${opts.api}${name}${qs ? "?" + qs : ""}`, { credentials: "same-origin" });
      if (!r.ok) {
        let why = r.statusText;
        try { const body = await r.json(); why = body.error || body.message || why; } catch (e) { /* not JSON */ }
        throw new Error(`${name}: ${r.status} ${why}`);
      }
      return r.json();
    }

    function drawStore(nodes) {
      lastNodes = nodes;
      store.data.labels = nodes.map((n) => [n.label, `${size(n.store_used)} of ${size(n.store_capacity)}` +
        (n.spilled_bytes ? `, ${size(n.spilled_bytes)} spilled` : "")]);
      store.data.datasets[0].data = nodes.map((n) => pct(n.store_used, n));
      store.data.datasets[1].data = nodes.map((n) => pct(Math.max(0, n.store_capacity - n.store_used), n));
      store.data.datasets[2].data = nodes.map((n) => pct(n.spilled_bytes, n));
      const sec = section("store");
      sec.dataset.nodes = nodes.map((n) => n.node_id).join(" ");
      sec.dataset.labels = nodes.map((n) => n.label).join("\n");
      sec.querySelector(".nbray-canvas").style.height = `${Math.max(110, 60 + 44 * nodes.length)}px`;
      store.update("none");
    }

    function drawMemory(now) {
      const byNode = new Map();
      for (const s of samples) {
        for (const n of s.nodes) {
          if (!byNode.has(n.node_id)) byNode.set(n.node_id, { label: n.label, used: [], spilled: [] });
          const e = byNode.get(n.node_id);
          e.used.push({ x: s.t - now, y: n.store_used });
          e.spilled.push({ x: s.t - now, y: n.spilled_bytes });
        }
      }
      const sets = [];
      let k = 0;
      for (const e of byNode.values()) {
        const c = PALETTE[k++ % PALETTE.length];  // nodes in the head's order: the head first
        sets.push({ label: `${e.label} in memory`, data: e.used, borderColor: c, backgroundColor: c });
        if (e.spilled.some((p) => p.y > 0)) {
          sets.push({ label: `${e.label} spilled`, data: e.spilled, borderColor: c, backgroundColor: c, borderDash: [6, 4] });
        }
      }
      memory.data.datasets = sets;
      const span = samples.length ? Math.min(HISTORY_S, Math.max(30, now - samples[0].t)) : 30;
      memory.options.scales.x.min = -Math.ceil(span / 10) * 10;
      memory.update("none");
    }

    function drawRate(now) {
      const done = [], running = [];
      for (let i = 1; i < samples.length; i++) {
        const a = samples[i - 1], b = samples[i], dt = b.t - a.t;
        if (dt <= 0) continue;
        done.push({ x: b.t - now, y: Math.max(0, b.tasks_done - a.tasks_done) / dt });
        running.push({ x: b.t - now, y: b.busy_s === undefined ? b.tasks_running : Math.max(0, b.busy_s - a.busy_s) / dt });
      }
      rate.data.datasets[0].data = done;
      rate.data.datasets[1].data = running;
      rate.options.scales.x.min = memory.options.scales.x.min;
      rate.update("none");
    }

    function drawTimeline(now) {
      const rows = new Set(), byName = new Map();
      for (const [key, ev] of runs) {
        const end = (ev.ts + ev.dur) / 1e6;
        if (end < now - WINDOW_S) { runs.delete(key); continue; }
        const worker = `${ev.args.node_id.slice(0, 8)} ${ev.args.worker_id.split("-").pop()} pid ${ev.args.pid}`;
        rows.add(worker);
        if (!byName.has(ev.name)) byName.set(ev.name, []);
        byName.get(ev.name).push({ x: [Math.max(-WINDOW_S, ev.ts / 1e6 - now), end - now], y: worker,
          name: ev.name, dur: ev.dur / 1e6, worker: ev.args.worker_id });
      }
      const names = [...byName.keys()].sort();
      timeline.data.labels = [...rows].sort();
      timeline.data.datasets = names.map((name) => ({ label: shortName(name), data: byName.get(name),
        backgroundColor: functionColour(name), borderWidth: 0 }));
      const sec = section("timeline");
      sec.dataset.functions = names.join(" ");
      sec.querySelector(".nbray-canvas").style.height = `${Math.max(140, 70 + 22 * rows.size)}px`;
      timeline.update("none");
    }

    function drawActors(actors) {
      const sec = section("actors");
      const order = { ALIVE: 0, PENDING_CREATION: 1, RESTARTING: 2, DEAD: 3 };
      actors = actors.slice().sort((a, b) => (order[a.state] ?? 9) - (order[b.state] ?? 9) || a.class_name.localeCompare(b.class_name));
      sec.querySelector("tbody").innerHTML = actors.map((a) =>
        `<tr class="nbray-actor ${STATE_CLASS[a.state] || ""}" data-actor-id="${esc(a.actor_id)}" data-state="${esc(a.state)}">` +
        `<td><span class="nbray-state">${esc(a.state)}</span></td><td>${esc(a.class_name)}</td><td>${esc(a.name || "")}</td>` +
        `<td>${esc(a.pid ?? "")}</td><td>${esc(a.pending_calls ?? 0)}</td>` +
        `<td>${esc(a.restarts)}</td><td>${esc(a.death_cause || "")}</td></tr>`).join("");
      sec.querySelector(".nbray-empty").style.display = actors.length ? "none" : "";
    }

    let ticks = 0, busy = false;
    async function poll() {
      if (busy) return;  // a slow answer: skip a beat rather than pile requests up
      busy = true;
      try {
        const m = await api("metrics", lastSample ? { since: lastSample } : {});
        offset = m.now - Date.now() / 1000;
        for (const s of m.samples) samples.push(s);
        if (m.samples.length) lastSample = m.samples[m.samples.length - 1].t;
        while (samples.length && samples[0].t < m.now - HISTORY_S) samples.shift();
        const t = await api("timeline", { since: Math.max(lastRunEnd - 2, m.now - WINDOW_S), limit: MAX_RUNS });
        for (const ev of t.events) {
          runs.set(`${ev.args.task_id}/${ev.args.attempt}`, ev);
          lastRunEnd = Math.max(lastRunEnd, (ev.ts + ev.dur) / 1e6);
        }
        // Thousands of runs a second: keep the newest MAX_RUNS (the Map is in arrival order).
        for (const key of runs.keys()) { if (runs.size <= MAX_RUNS) break; runs.delete(key); }
        const now = t.now;
        if (samples.length) drawStore(samples[samples.length - 1].nodes);
        drawMemory(now);
        drawRate(now);
        drawTimeline(now);
        if (ticks++ % 2 === 0) drawActors(await api("actors"));
        status.textContent = "";
        root.dataset.updated = String(ticks);
      } catch (e) {
        status.textContent = `cannot reach the cluster: ${e.message}`;
      } finally {
        busy = false;
      }
    }
    poll();
    const timer = setInterval(poll, POLL_MS);
    return { stop: () => clearInterval(timer), poll, now: () => Date.now() / 1000 + offset };
  }

  window.NbrayCharts = { mount, optionsFromQuery, colourOf };
  // charts.html: <div data-nbray-charts="query"> mounts with the page's query parameters.
  const auto = document.querySelector("[data-nbray-charts]");
  if (auto) {
    const how = auto.dataset.nbrayCharts;
    mount(auto, how === "query" ? optionsFromQuery(window.location.search) : { api: how || "/api/" });
  }
})();
