// sweepcli ui: the home page, a sweep's page and a run's page, drawn from the JSON routes.
// Every value from a sweep goes into the page as text (textContent), never as markup;
// what plotly shows (hover texts, names, titles) is escaped first.
"use strict";

const TOKEN = document.querySelector("meta[name=sweepcli-token]").content;
const CONTROL = document.querySelector("meta[name=sweepcli-control]").content === "true";
const main = document.getElementById("main");
// plotly.js loads while the data does (it is a large script to parse): charts wait for it
const plotlyReady = new Promise(resolve => {
  const check = () => (window.Plotly ? resolve() : setTimeout(check, 10));
  check();
});
const crumbs = document.getElementById("crumbs");
const liveDot = document.getElementById("live");

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
const esc = s => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
function fmt(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    return (a !== 0 && (a < 1e-3 || a >= 1e5)) ? v.toExponential(3) : String(+v.toPrecision(5));
  }
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}
async function getJSON(url) {
  const r = await fetch(url, {credentials: "same-origin"});
  if (!r.ok) throw new Error(`${url}: ${r.status} ${await r.text()}`);
  return r.json();
}
function showError(e) { main.prepend(el("p", {class: "error"}, String(e))); }
function since(t) { if (!t) return ""; const s = Date.now() / 1000 - t; return s < 120 ? `${s.toFixed(0)} s` : s < 7200 ? `${(s / 60).toFixed(0)} min` : `${(s / 3600).toFixed(1)} h`; }

// ---- the home page --------------------------------------------------------------------------
async function home() {
  crumbs.textContent = "";
  const draw = async () => {
    let rows;
    try { rows = await getJSON("/api/sweeps"); } catch (e) { liveDot.className = ""; return; }
    liveDot.className = "on";
    const table = el("table", {id: "sweeps"},
      el("tr", {}, ["sweep", "name", "state", "method", "metric", "runs", "best", "agents", "budget"].map(h => el("th", {}, h))));
    for (const r of rows) {
      if (r.error) { table.appendChild(el("tr", {}, el("td", {}, r.id), el("td", {colspan: 8, class: "error"}, r.error))); continue; }
      const counts = Object.entries(r.counts).map(([k, n]) => `${n} ${k}`).join(", ") || "no runs";
      const budget = r.budget ? Object.entries(r.budget).map(([u, b]) => `${fmt(b.spent)} of ${fmt(b.budget)} ${u}`).join("; ") : "";
      table.appendChild(el("tr", {"data-id": r.id},
        el("td", {}, el("a", {href: "/sweep/" + encodeURIComponent(r.id).replace("%2F", "/")}, r.id)),
        el("td", {}, r.name || ""), el("td", {class: "state-" + r.state}, r.state), el("td", {}, r.method),
        el("td", {}, r.metric || ""), el("td", {}, counts), el("td", {class: "num"}, fmt(r.best)),
        el("td", {}, String(r.agents.length)), el("td", {}, budget)));
    }
    main.replaceChildren(el("h1", {}, "Sweeps"), rows.length ? table : el("p", {class: "note"}, "No sweeps here yet."));
  };
  await draw();
  setInterval(draw, 1000);
}

// ---- a sweep's page ---------------------------------------------------------------------------
const S = {runs: new Map(), lines: new Map(), loading: new Set(), keys: new Set(), summaries: {},
           selected: new Set(), sortKey: "value", sortDir: 1, filter: "", panels: [], figsAt: 0};

function runRows() { return [...S.runs.values()]; }
function better(a, b) { return S.head.metric && S.head.metric.goal === "maximize" ? a > b : a < b; }

async function sweepPage(ref) {
  crumbs.replaceChildren("/ ", el("a", {href: "/sweep/" + ref}, ref));
  const data = await getJSON("/api/sweep/" + ref);
  performance.mark("data");
  S.ref = ref; S.head = data; S.params = data.params;
  for (const r of data.runs) S.runs.set(r.run_id, r);
  if (data.metrics) data.metrics.forEach(k => S.keys.add(k));
  main.replaceChildren(
    el("h1", {id: "title"}), el("dl", {class: "head", id: "head"}), el("div", {class: "controls", id: "controls"}),
    el("h2", {}, "Charts"), el("div", {class: "note"}, "Any key the runs logged; x: the line, _step, epoch or wall time; smoothing, log axis, colour by a parameter. The best runs and the running ones are drawn (selected runs only, when some are selected)."),
    el("div", {}, el("button", {id: "add-panel", onclick: () => addPanel()}, "add a chart")),
    el("div", {class: "panels", id: "panels"}),
    el("h2", {}, "Best so far"), el("div", {class: "fig", id: "fig-best"}),
    el("h2", {}, "The sweep's views"), el("div", {class: "note"}, "Importance, parallel coordinates (drag along an axis to brush), each parameter, the front, the stopping rule's rungs and reasons, the population: as the report draws them."),
    el("div", {id: "views"}),
    el("h2", {id: "runs-title"}, "Runs"),
    el("div", {class: "bar"}, "filter: ", el("input", {id: "filter", placeholder: "text, or key=value / key>number", oninput: e => { S.filter = e.target.value; drawTable(); }}),
       " ", el("span", {id: "compare"})),
    el("div", {class: "tablewrap"}, el("table", {id: "runs"})));
  drawHead(); drawControls();
  drawTable();  // the page can be read: the charts follow once plotly.js is in
  performance.mark("table");
  await plotlyReady;
  addPanel(S.head.metric ? S.head.metric.name : null);
  drawBest();
  performance.mark("charts");
  document.body.dataset.ready = "1";
  // what is not needed to read the page comes after it is drawn
  setTimeout(() => { loadTopLines(); loadSummaries(); }, 50);
  if (S.runs.size <= BIG) setTimeout(loadViews, 300);
  else document.getElementById("views").replaceChildren(el("button", {id: "draw-views", onclick: () => { S.viewsOn = true; loadViews(); }},
    `draw them (${S.runs.size} runs: a few seconds)`));
  const events = new EventSource(`/api/sweep/${ref}/events`);
  events.onopen = () => { liveDot.className = "on"; };
  events.onerror = () => { liveDot.className = ""; };
  events.addEventListener("sweep", e => { Object.assign(S.head, JSON.parse(e.data)); drawHead(); drawControls(); soon("best", drawBest);
    // the views (a forest's importance among them) are made again at most every 30 s, and
    // only while the page is looked at: the machine is busy training
    if ((S.runs.size <= BIG || S.viewsOn) && document.visibilityState === "visible") soon("views", loadViews, 30000); });
  events.addEventListener("runs", e => {
    for (const r of JSON.parse(e.data)) S.runs.set(r.run_id, r);
    soon("table", drawTable); soon("best", drawBest); soon("top", loadTopLines, 1000);
    soon("summaries", loadSummaries, 1500);
  });
  events.addEventListener("lines", e => {
    for (const [rid, [start, lines]] of Object.entries(JSON.parse(e.data))) {
      const have = S.lines.get(rid);
      if (!have) continue;  // not drawn: fetched when it is
      if (start === have.length) { have.push(...lines); lines.forEach(l => Object.keys(l).forEach(k => S.keys.add(k))); }
      else if (start > have.length) fetchLines(rid, have.length);
    }
    soon("charts", drawPanels);
  });
}

function loadSummaries() {
  getJSON(`/api/sweep/${S.ref}/summaries`).then(s => { S.summaries = s; drawTable(); }).catch(() => {});
}

const BIG = 2000;  // runs past which the sweep's views are drawn when asked (they take seconds)
const timers = {};
function soon(name, f, wait = 200) { if (!timers[name]) timers[name] = setTimeout(() => { timers[name] = null; f(); }, wait); }

function drawHead() {
  const h = S.head;
  document.getElementById("title").textContent = `Sweep ${h.id}` + (h.name ? ` — ${h.name}` : "");
  const counts = Object.entries(h.counts || {}).map(([k, n]) => `${n} ${k}`).join(", ") || "no runs yet";
  const best = h.best ? `${h.best.run_id}  ${fmt(h.best.value)}  ` + Object.entries(h.best.params).map(([k, v]) => `${k}=${fmt(v)}`).join(" ") : "-";
  const budget = h.budget ? Object.entries(h.budget).map(([u, b]) => `${fmt(b.spent)} of ${fmt(b.budget)} ${u} spent, ${fmt(b.left)} left`).join("; ") : "";
  const rows = [["state", h.state], ["method", h.method], ["metric", h.metric ? `${h.metric.name} (${h.metric.goal})` : "-"],
                ["runs", counts], ["best", best], ["agents", (h.agents || []).join(", ") || "none running"], ["budget", budget], ["folder", h.path]];
  document.getElementById("head").replaceChildren(...rows.filter(([, v]) => v).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {id: "head-" + k}, v)]));
}

function drawControls() {
  const box = document.getElementById("controls");
  if (!CONTROL) { box.replaceChildren(); return; }
  const act = async action => {
    const r = await fetch(`/api/sweep/${S.ref}/control/${action}`, {method: "POST", headers: {"X-Sweepcli-Token": TOKEN}});
    if (!r.ok) showError(await r.text());
  };
  box.replaceChildren(...["pause", "resume", "stop", "cancel"].map(a => el("button", {id: "control-" + a, onclick: () => {
    if ((a === "cancel" || a === "stop") && !confirm(`${a} sweep ${S.ref}?`)) return;
    act(a);
  }}, a)), el("span", {class: "note"}, " the same as sweepcli sweep --" + "pause/--resume/--stop/--cancel"));
}

// ---- metric lines -----------------------------------------------------------------------------
async function fetchLines(rid, from = 0) {
  if (S.loading.has(rid)) return;
  S.loading.add(rid);
  try {
    const got = await getJSON(`/api/sweep/${S.ref}/run/${rid}/lines?from=${from}`);
    const have = from === 0 ? [] : (S.lines.get(rid) || []);
    have.length = got.start;
    have.push(...got.lines);
    S.lines.set(rid, have);
    got.lines.forEach(l => Object.keys(l).forEach(k => S.keys.add(k)));
  } catch (e) { /* a run gone: nothing to draw */ }
  S.loading.delete(rid);
  soon("charts", drawPanels);
}

function shownRuns() {
  if (S.selected.size) return [...S.selected].filter(r => S.runs.has(r));
  const rows = runRows();
  const valued = rows.filter(r => r.value !== null && r.value !== undefined).sort((a, b) => better(a.value, b.value) ? -1 : 1);
  const pick = new Set(valued.slice(0, 20).map(r => r.run_id));
  rows.filter(r => r.state === "running").slice(0, 20).forEach(r => pick.add(r.run_id));
  return [...pick];
}
function loadTopLines() { for (const rid of shownRuns()) if (!S.lines.has(rid)) fetchLines(rid); }

function addPanel(key) {
  const id = S.panels.length;
  const p = {id, key: key || [...S.keys][0] || "", x: "line", smooth: 0, log: false, colour: "", group: ""};
  S.panels.push(p);
  const keySel = el("select", {class: "key", onchange: e => { p.key = e.target.value; drawPanel(p); }});
  const xSel = el("select", {class: "x", onchange: e => { p.x = e.target.value; drawPanel(p); }},
    ["line", "_step", "epoch", "_timestamp", "_runtime"].map(x => el("option", {value: x}, x === "line" ? "metric line" : x)));
  const colourSel = el("select", {class: "colour", onchange: e => { p.colour = e.target.value; drawPanel(p); }},
    el("option", {value: ""}, "a colour a run"), S.params.map(n => el("option", {value: n}, n)));
  const groupSel = el("select", {class: "group", onchange: e => { p.group = e.target.value; drawPanel(p); }},
    el("option", {value: ""}, "no groups"), S.params.map(n => el("option", {value: n}, "group by " + n)));
  const smooth = el("input", {type: "range", min: 0, max: 0.99, step: 0.01, value: 0, class: "smooth", oninput: e => { p.smooth = +e.target.value; drawPanel(p); }});
  const log = el("input", {type: "checkbox", class: "log", onchange: e => { p.log = e.target.checked; drawPanel(p); }});
  p.keySel = keySel;
  const box = el("div", {class: "panel", id: "panel-" + id},
    el("div", {class: "bar"}, "key ", keySel, " x ", xSel, " smoothing ", smooth, el("label", {}, log, " log"), " colour ", colourSel, " ", groupSel),
    el("div", {class: "fig", id: "panel-fig-" + id}));
  document.getElementById("panels").appendChild(box);
  drawPanel(p);
}
function drawPanels() { S.panels.forEach(drawPanel); }

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
function colourOf(p, r, i, range) {
  if (!p.colour) return PALETTE[i % PALETTE.length];
  const v = r.params[p.colour];
  if (typeof v === "number" && range) { const t = range[1] > range[0] ? (v - range[0]) / (range[1] - range[0]) : 0.5; return `hsl(${(240 - 240 * t).toFixed(0)},70%,45%)`; }
  let h = 0; for (const c of String(v)) h = (h * 31 + c.charCodeAt(0)) % 360; return `hsl(${h},65%,45%)`;
}
function drawPanel(p) {
  const keys = [...S.keys].sort();
  if (!p.key && keys.length) p.key = keys[0];
  const current = [...p.keySel.options].map(o => o.value).join("\n");
  if (current !== keys.join("\n")) p.keySel.replaceChildren(...keys.map(k => el("option", {value: k}, k)));
  p.keySel.value = p.key;
  const runs = shownRuns();
  const nums = runs.map(rid => S.runs.get(rid).params[p.colour]).filter(v => typeof v === "number");
  const range = nums.length ? [Math.min(...nums), Math.max(...nums)] : null;
  const traces = [];
  runs.forEach((rid, i) => {
    const lines = S.lines.get(rid); const r = S.runs.get(rid);
    if (!lines || !r) return;
    const xs = [], ys = [];
    let ema = null;
    lines.forEach((l, j) => {
      const y = l[p.key];
      if (typeof y !== "number") return;
      const x = p.x === "line" ? j + 1 : l[p.x];
      if (x === undefined || x === null) return;
      ema = ema === null ? y : p.smooth * ema + (1 - p.smooth) * y;  // an exponential moving average
      xs.push(p.x === "_timestamp" ? new Date(x * 1000) : x); ys.push(p.smooth ? ema : y);
    });
    if (!xs.length) return;
    const cfg = Object.entries(r.params).map(([k, v]) => `${esc(k)}=${esc(fmt(v))}`).join("<br>");
    traces.push({type: "scatter", mode: xs.length > 1 ? "lines" : "markers", name: rid, x: xs, y: ys,
                 line: {color: colourOf(p, r, i, range), width: 1.5}, marker: {color: colourOf(p, r, i, range)},
                 text: xs.map(() => `run ${rid} (${esc(r.state)})<br>${cfg}`),
                 hovertemplate: `%{text}<br>${esc(p.key)}: %{y:.4g} at %{x}<extra></extra>`});
  });
  if (p.group) {  // W&B's grouping: a group's mean at each x, its range as a band
    const groups = new Map();
    traces.forEach((t, i) => {
      const g = fmt(S.runs.get(t.name).params[p.group]);
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push(t);
    });
    traces.length = 0;
    [...groups.entries()].forEach(([g, ts], i) => {
      const at = new Map();
      ts.forEach(t => t.x.forEach((x, j) => { const k = +x; if (!at.has(k)) at.set(k, []); at.get(k).push(t.y[j]); }));
      const xs = [...at.keys()].sort((a, b) => a - b);
      const mean = xs.map(x => at.get(x).reduce((a, b) => a + b, 0) / at.get(x).length);
      const lo = xs.map(x => Math.min(...at.get(x))), hi = xs.map(x => Math.max(...at.get(x)));
      const colour = PALETTE[i % PALETTE.length];
      const name = `${esc(p.group)}=${esc(g)} (${ts.length} run${ts.length === 1 ? "" : "s"})`;
      traces.push({type: "scatter", mode: "lines", x: [...xs, ...xs.slice().reverse()], y: [...hi, ...lo.slice().reverse()],
                   fill: "toself", fillcolor: colour, opacity: 0.15, line: {width: 0}, hoverinfo: "skip", showlegend: false, name: name + " range"},
                  {type: "scatter", mode: "lines", x: xs, y: mean, name, line: {color: colour, width: 2},
                   hovertemplate: `${name}<br>mean %{y:.4g} at %{x}<extra></extra>`});
    });
  }
  const layout = {margin: {l: 55, r: 10, t: 24, b: 40}, height: 320, showlegend: traces.length <= 24,
                  title: {text: esc(p.key), font: {size: 13}},
                  xaxis: {title: {text: esc(p.x === "line" ? "metric line" : p.x)}}, yaxis: {type: p.log ? "log" : "linear", title: {text: esc(p.key)}}};
  Plotly.react("panel-fig-" + p.id, traces, layout, {displaylogo: false, responsive: true});
}

// ---- best so far, and the sweep's views ---------------------------------------------------------
function drawBest() {
  const rows = runRows().filter(r => r.value !== null && r.value !== undefined).sort((a, b) => a.started_at - b.started_at);
  let best = null; const bx = [], by = [], improved = new Set();
  rows.forEach((r, i) => { if (best === null || better(r.value, best)) { best = r.value; improved.add(i); } bx.push(i + 1); by.push(best); });
  const every = Math.ceil(rows.length / (BIG / 2));  // past 1,000 runs: the improvers and an even sample
  const points = rows.map((r, i) => [r, i]).filter(([, i]) => every === 1 || improved.has(i) || i % every === 0);
  const traces = [{type: "scatter", mode: "markers", name: every === 1 ? "runs" : `runs (1 in ${every}, and each new best)`,
                   x: points.map(([, i]) => i + 1), y: points.map(([r]) => r.value),
                   text: points.map(([r]) => `run ${r.run_id} (${esc(r.state)})<br>` + Object.entries(r.params).map(([k, v]) => `${esc(k)}=${esc(fmt(v))}`).join("<br>")),
                   hoverinfo: "text+y", marker: {size: 6, color: "#1f77b4", opacity: 0.7}},
                  {type: "scatter", mode: "lines", name: "best so far", x: bx, y: by, line: {color: "#c0392b", shape: "hv"}}];
  const prog = S.head.progress;
  const spent = prog && prog.points && prog.points.length ? [{type: "scatter", mode: "lines", name: `best against ${esc(prog.unit)} spent`,
    x: prog.points.map(p => p[0]), y: prog.points.map(p => p[1]), xaxis: "x2", yaxis: "y2", line: {color: "#8e44ad", shape: "hv"}}] : [];
  Plotly.react("fig-best", [...traces, ...spent], {height: 320, margin: {l: 55, r: 10, t: 20, b: 40}, grid: spent.length ? {rows: 1, columns: 2, pattern: "independent"} : undefined,
    xaxis: {title: {text: "run (in start order)"}}, xaxis2: {title: {text: prog ? esc(prog.unit) + " spent" : ""}}}, {displaylogo: false, responsive: true});
}

async function loadViews() {
  const box = document.getElementById("views");
  if (!box) return;
  let got;
  try { got = await getJSON(`/api/sweep/${S.ref}/figures`); } catch (e) { return; }
  // (best so far is drawn above, live; "curves" carries the rule's bands and why each run
  // was stopped or paused)
  const ids = Object.keys(got.figs).filter(k => k !== "best" && k !== "spent");
  const have = [...box.children].map(c => c.id).join(",");
  const want = ["view-importance", ...ids.map(k => "view-" + k)].join(",");
  if (have !== want) box.replaceChildren(el("div", {id: "view-importance"}), ...ids.map(k => el("div", {class: "fig", id: "view-" + k})));
  // parameter importance (a forest's permutation importance) and correlation, as W&B's panel
  const imp = got.importance;
  document.getElementById("view-importance").replaceChildren(
    el("h3", {}, "Parameter importance"),
    imp === null || imp === undefined ? el("p", {class: "note"}, "Importance needs 10 runs with a value of the metric.")
      : !imp.length ? el("p", {class: "note"}, "No parameter varies across the runs.")
      : el("table", {id: "importance"}, el("tr", {}, el("th", {}, "parameter"), el("th", {}, "importance"), el("th", {}, "correlation")),
          imp.map(d => el("tr", {}, el("td", {}, d.name),
            el("td", {}, el("span", {class: "bar", style: `width:${Math.round(d.importance * 200)}px`}), " ", d.importance.toFixed(2)),
            el("td", {}, d.correlation === null ? "" : (d.correlation > 0 ? "+" : "") + d.correlation.toFixed(2)
              + (d.correlation_of !== null && d.correlation_of !== undefined ? ` (${d.name} = ${d.correlation_of})` : ""))))));
  for (const k of ids) {
    const fig = got.figs[k];
    for (const t of fig.data) if (t._runs) { t.text = t._runs.map(i => got.texts[i]); delete t._runs; }
    Plotly.react("view-" + k, fig.data, fig.layout, {displaylogo: false, responsive: true});
  }
}

// ---- the runs table -----------------------------------------------------------------------------
function matches(r, filter) {
  if (!filter) return true;
  return filter.split(/\s+/).filter(Boolean).every(term => {
    const m = term.match(/^([^=<>]+)(=|<|>)(.*)$/);
    if (m) {
      const [, k, op, v] = m;
      const have = k in r.params ? r.params[k] : k === "state" ? r.state : k === "value" ? r.value : (S.summaries[r.run_id] || {})[k];
      if (op === "=") return String(have) === v;
      const a = Number(have), b = Number(v);
      return !isNaN(a) && !isNaN(b) && (op === "<" ? a < b : a > b);
    }
    return JSON.stringify([r.run_id, r.state, r.params, r.reason, S.summaries[r.run_id] || {}]).includes(term);
  });
}
function cell(r, col) {
  if (col === "run") return r.run_id;
  if (col in r && col !== "params") return r[col];
  if (col.startsWith("p:")) return r.params[col.slice(2)];
  if (col.startsWith("s:")) return (S.summaries[r.run_id] || {})[col.slice(2)];
  return "";
}
function drawTable() {
  const table = document.getElementById("runs");
  if (!table) return;
  const summaryKeys = [...new Set(Object.values(S.summaries).flatMap(s => Object.keys(s)))].sort().slice(0, 12);
  const feasibility = runRows().some(r => "feasible" in r) ? ["feasible"] : [];
  const pbtStep = runRows().some(r => "step" in r) ? ["step"] : [];
  const cols = ["run", "state", "value", "steps", ...pbtStep, ...feasibility, ...S.params.map(n => "p:" + n), ...summaryKeys.map(k => "s:" + k), "reason"];
  let rows = runRows().filter(r => matches(r, S.filter));
  const key = S.sortKey, dir = S.sortDir;
  rows.sort((a, b) => {
    const x = cell(a, key), y = cell(b, key);
    if (x === y) return 0; if (x === undefined || x === null || x === "") return 1; if (y === undefined || y === null || y === "") return -1;
    return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y))) * dir;
  });
  document.getElementById("runs-title").textContent = `Runs (${rows.length} of ${S.runs.size})`;
  const head = el("tr", {}, el("th", {}, ""), cols.map(c => el("th", {"data-col": c, onclick: () => {
    if (S.sortKey === c) S.sortDir = -S.sortDir; else { S.sortKey = c; S.sortDir = 1; } drawTable(); }},
    c.replace(/^[ps]:/, "") + (S.sortKey === c ? (S.sortDir > 0 ? " ▲" : " ▼") : ""))));
  const shown = rows.slice(0, 300);
  table.replaceChildren(head, ...shown.map(r => el("tr", {"data-run": r.run_id},
    el("td", {}, el("input", {type: "checkbox", checked: S.selected.has(r.run_id) ? "" : null, onchange: e => {
      if (e.target.checked) S.selected.add(r.run_id); else S.selected.delete(r.run_id);
      drawCompare(); loadTopLines(); drawPanels(); }})),
    cols.map(c => c === "run" ? el("td", {}, el("a", {href: `/sweep/${S.ref}/run/${r.run_id}`}, r.run_id))
      : el("td", {class: (c === "state" ? "state-" + r.state : "") + (typeof cell(r, c) === "number" ? " num" : "")}, fmt(cell(r, c)))))));
  if (rows.length > shown.length) table.appendChild(el("tr", {}, el("td", {colspan: cols.length + 1, class: "note"}, `${rows.length - shown.length} more: filter or sort to see them`)));
}
function drawCompare() {
  const box = document.getElementById("compare");
  const ids = [...S.selected];
  if (ids.length < 2) { box.replaceChildren(ids.length ? "1 run selected (its curves only)" : ""); return; }
  const names = [...new Set(ids.flatMap(i => Object.keys(S.runs.get(i).params)))];
  const differ = names.filter(n => new Set(ids.map(i => JSON.stringify(S.runs.get(i).params[n]))).size > 1);
  box.replaceChildren(el("table", {class: "diff", id: "config-diff"},
    el("tr", {}, el("th", {}, "config diff"), ids.map(i => el("th", {}, i))),
    differ.map(n => el("tr", {}, el("td", {}, n), ids.map(i => el("td", {}, fmt(S.runs.get(i).params[n])))))));
}

// ---- a run's page ------------------------------------------------------------------------------
async function runPage(ref, rid) {
  await plotlyReady;
  crumbs.replaceChildren("/ ", el("a", {href: "/sweep/" + ref}, ref), " / ", el("span", {}, rid));
  S.ref = ref;
  const draw = async () => {
    let r;
    try { r = await getJSON(`/api/sweep/${ref}/run/${rid}`); } catch (e) { showError(e); return; }
    const got = await getJSON(`/api/sweep/${ref}/run/${rid}/lines`);
    const keys = [...new Set(got.lines.flatMap(l => Object.keys(l)))].filter(k => got.lines.some(l => typeof l[k] === "number"));
    main.replaceChildren(
      el("h1", {}, `Run ${r.run_id}`),
      CONTROL && r.state === "running" ? el("div", {class: "controls"}, el("button", {id: "control-stop-run", onclick: async () => {
        if (!confirm(`stop run ${rid}?`)) return;
        const q = await fetch(`/api/sweep/${ref}/control/stop-run?run=${rid}`, {method: "POST", headers: {"X-Sweepcli-Token": TOKEN}});
        if (!q.ok) showError(await q.text()); }}, "stop this run"), el("span", {class: "note"}, " the same as sweepcli sweep --stop ID --run RUN_ID")) : null,
      el("dl", {class: "head"}, [["state", r.state], ["value", fmt(r.value)], ["steps", r.steps], ["reason", r.reason || ""],
        ["agent", r.agent], ["folder", r.folder]].filter(([, v]) => v !== "").flatMap(([k, v]) => [el("dt", {}, k), el("dd", {id: "run-" + k}, v)])),
      el("h2", {}, "Config"), el("table", {id: "config"}, Object.entries(r.params).map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, fmt(v))))),
      el("h2", {}, "Metric lines"), el("div", {class: "fig", id: "run-fig"}),
      el("h2", {}, "Summary"), el("table", {id: "summary"}, Object.entries(r.summary || {}).map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, fmt(v))))),
      el("h2", {}, "Attempts"), el("table", {id: "attempts"}, el("tr", {}, ["attempt", "state", "agent", "started", "ended", "exit", "reason"].map(h => el("th", {}, h))),
        r.attempts.map(a => el("tr", {}, el("td", {}, a.attempt), el("td", {}, a.state), el("td", {}, a.agent || ""),
          el("td", {}, a.started_at ? new Date(a.started_at * 1000).toLocaleString() : ""), el("td", {}, a.ended_at ? new Date(a.ended_at * 1000).toLocaleString() : ""),
          el("td", {}, fmt(a.exit_code)), el("td", {}, a.reason || "")))),
      r.segments && r.segments.length ? [el("h2", {}, "Segments (pbt)"), el("table", {id: "segments"}, r.segments.map(s => el("tr", {},
        el("td", {}, `from step ${s.step}`), el("td", {}, s.parent ? `copied run ${s.parent[0]} at step ${s.parent[1]}` : "its own"),
        el("td", {}, Object.entries(s.params).map(([k, v]) => `${k}=${fmt(v)}`).join(" ")))))] : [],
      el("h2", {}, "Log (its end)"), el("pre", {class: "log", id: "log"}, r.log_tail || "(no output)"));
    const traces = keys.map(k => ({type: "scatter", mode: "lines", name: esc(k), x: got.lines.map((l, j) => typeof l[k] === "number" ? j + 1 : null).filter(x => x !== null),
      y: got.lines.map(l => l[k]).filter(v => typeof v === "number")}));
    Plotly.react("run-fig", traces, {height: 340, margin: {l: 55, r: 10, t: 20, b: 40}, xaxis: {title: {text: "metric line"}}}, {displaylogo: false, responsive: true});
  };
  await draw();
  const events = new EventSource(`/api/sweep/${ref}/events`);
  events.onopen = () => { liveDot.className = "on"; };
  events.onerror = () => { liveDot.className = ""; };
  const again = () => soon("run", draw, 500);
  events.addEventListener("lines", e => { if (rid in JSON.parse(e.data)) again(); });
  events.addEventListener("runs", e => { if (JSON.parse(e.data).some(r => r.run_id === rid)) again(); });
}

// ---- which page --------------------------------------------------------------------------------
(async () => {
  const parts = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  try {
    if (parts[0] === "sweep") {
      const at = parts.indexOf("run");
      if (at > 1) await runPage(parts.slice(1, at).join("/"), parts[at + 1]);
      else await sweepPage(parts.slice(1).join("/"));
    } else await home();
  } catch (e) { showError(e); }
})();
