(function () {
  const key = "sweepcli:" + location.pathname;
  let saved = {};
  try { saved = JSON.parse(sessionStorage.getItem(key) || "{}"); } catch (e) { saved = {}; }
  const orig = {};
  const low = SWEEP.goal === "maximize";
  function clip(v, range) {
    if (v === null || !range) return v;
    return Math.min(Math.max(v, range[0]), range[1]);
  }
  function beyond(v, range) {
    return range && v !== null && (v < range[0] || v > range[1]);
  }
  // what a mode of the metric axis makes of a figure's data: [trace index, changes]
  function changes(id, mode) {
    const where = SWEEP.axes[id], out = [];
    if (!where || !orig[id]) return out;
    if (where.parcoords !== undefined) {
      const k = where.parcoords, o = orig[id][0];
      const upd = {};
      upd["dimensions[" + k + "].values"] = o.dims[k].map(v => mode === "clip" ? clip(v, where.range) : v);
      upd["line.color"] = mode === "clip" ? o.color.map(v => clip(v, where.range)) : o.color;
      out.push([0, upd]);
      return out;
    }
    for (const i of where.traces) {
      const o = orig[id][i];
      if (!o || !o.y) continue;
      const base = o.symbol || "circle";
      out.push([i, {
        y: mode === "clip" ? o.y.map(v => clip(v, where.range)) : o.y,
        "marker.symbol": mode === "clip" && typeof base === "string"
          ? o.y.map(v => beyond(v, where.range) ? (low ? "triangle-down" : "triangle-up") : base)
          : base}]);
    }
    return out;
  }
  function setPath(obj, path, value) {  // "dimensions[2].values" or "marker.symbol"
    const keys = path.replace(/\[(\d+)\]/g, ".$1").split(".");
    let o = obj;
    for (const k of keys.slice(0, -1)) { if (o[k] === undefined) o[k] = {}; o = o[k]; }
    o[keys[keys.length - 1]] = value;
  }
  const hasAxis = !!document.getElementById("axis-mode");
  const first = saved.mode || (Object.values(SWEEP.axes).some(a => a.range) ? "clip" : "full");
  for (const [id, fig] of Object.entries(SWEEP.figs)) {
    const el = document.getElementById("fig-" + id);
    if (!el) continue;
    for (const t of fig.data) {
      if (t._runs) { t.text = t._runs.map(i => SWEEP.texts[i]); delete t._runs; }
    }
    orig[id] = fig.data.map(t => ({y: t.y ? t.y.slice() : null,
                                   symbol: t.marker ? t.marker.symbol : undefined,
                                   dims: t.dimensions ? t.dimensions.map(d => d.values.slice()) : null,
                                   color: t.line && Array.isArray(t.line.color) ? t.line.color.slice() : null}));
    if (hasAxis) {  // drawn once, in the chosen mode (a restyle after would draw it twice)
      for (const [i, upd] of changes(id, first)) {
        for (const [path, value] of Object.entries(upd)) setPath(fig.data[i], path, value);
      }
      if (first === "log" && fig.layout.yaxis) fig.layout.yaxis.type = "log";
    }
    Plotly.newPlot(el, fig.data, fig.layout, {responsive: true, displaylogo: false});
  }
  function applyMode(mode) {
    for (const id of Object.keys(SWEEP.axes)) {
      const el = document.getElementById("fig-" + id);
      const list = changes(id, mode);
      if (!el || !list.length) continue;
      const upd = {};
      for (const [i, u] of list) {
        for (const [path, value] of Object.entries(u)) (upd[path] = upd[path] || []).push(value);
      }
      Plotly.restyle(el, upd, list.map(([i]) => i));
      if (SWEEP.axes[id].parcoords === undefined) {
        Plotly.relayout(el, {"yaxis.type": mode === "log" ? "log" : "linear",
                             "yaxis.autorange": true});
      }
    }
  }
  document.querySelectorAll("#axis-mode input").forEach(input => {
    input.checked = input.value === first;
    input.addEventListener("change", () => { if (input.checked) applyMode(input.value); });
  });
  // the runs table: click a header to sort (numbers as numbers, blanks last)
  const table = document.getElementById("runs");
  let sortState = saved.sort || null;
  function sortBy(col, dir) {
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    rows.sort((a, b) => {
      const x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
      if (x === "" && y === "") return 0;
      if (x === "") return 1;
      if (y === "") return -1;
      const nx = parseFloat(x), ny = parseFloat(y);
      const c = (!isNaN(nx) && !isNaN(ny) && String(nx) !== "NaN") ? nx - ny : x.localeCompare(y);
      return dir * c;
    });
    rows.forEach(r => body.appendChild(r));
    table.querySelectorAll("th .arrow").forEach((s, i) => {
      s.textContent = i === col ? (dir > 0 ? " ▲" : " ▼") : "";
    });
    sortState = [col, dir];
  }
  table.querySelectorAll("th").forEach((th, i) => th.addEventListener("click", () => {
    sortBy(i, sortState && sortState[0] === i ? -sortState[1] : 1);
  }));
  if (sortState) sortBy(sortState[0], sortState[1]);
  if (saved.scroll) window.scrollTo(saved.scroll[0], saved.scroll[1]);
  function remember() {
    const modeInput = document.querySelector("#axis-mode input:checked");
    sessionStorage.setItem(key, JSON.stringify({
      mode: modeInput ? modeInput.value : null, sort: sortState,
      scroll: [window.scrollX, window.scrollY]}));
  }
  window.addEventListener("beforeunload", remember);
  // --watch: load the stamp beside the page; reload only when the page changed
  if (SWEEP.watch && SWEEP.stamp_file) {
    window.sweepcliStamp = function (stamp) {
      if (stamp && stamp !== SWEEP.stamp) { remember(); location.reload(); }
    };
    const every = Math.max(1000, Math.min(SWEEP.watch * 1000, 5000));
    setInterval(() => {
      const s = document.createElement("script");
      s.src = SWEEP.stamp_file + "?t=" + Date.now();
      s.onload = s.onerror = () => s.remove();
      document.head.appendChild(s);
    }, every);
  }
  document.body.dataset.ready = "1";
})();
