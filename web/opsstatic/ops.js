// vaxbook operator dashboard: live figures over Server-Sent Events and
// charts drawn with uPlot. Everything else (the figures at page load, every
// form) works without this script.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (!meta) { return; }
  var csrf = meta.getAttribute("content");
  var i18n = document.getElementById("ops-i18n");
  var tz = (i18n && i18n.dataset.tz) || "Asia/Seoul";
  var state = { snapshot: null, series: null, charts: {}, seq: 0, connected: false };
  window.vbOps = state;

  function tr(kind, value) {
    if (!i18n) { return value; }
    var v = i18n.getAttribute("data-" + kind + "-" + value);
    return v === null ? value : v;
  }

  var timeFmt, hmsFmt;
  try {
    timeFmt = new Intl.DateTimeFormat("sv-SE", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
    hmsFmt = new Intl.DateTimeFormat("en-GB", { timeZone: tz, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  } catch (e) { timeFmt = null; hmsFmt = null; }
  function hms(ts) { var d = new Date(ts * 1e3); return hmsFmt ? hmsFmt.format(d) : d.toISOString().slice(11, 19); }

  var formats = {
    f1: function (x) { return typeof x === "number" ? x.toFixed(1) : "–"; },
    num: function (x) { return typeof x === "number" ? Math.round(x).toLocaleString("en-US") : "–"; },
    pct: function (x) { return typeof x === "number" ? (100 * x).toFixed(1) + "%" : "–"; },
    time: function (x) { var d = new Date(x); return timeFmt ? timeFmt.format(d) : d.toISOString(); },
    mode: function (x) { return tr("mode", x); },
    light: function (x) { return tr("light", x); },
    decision: function (x) { return tr("decision", x); },
    breaker: function (x) { return tr("breaker", x); }
  };

  function lookup(obj, path) {
    var parts = path.split(".");
    for (var i = 0; i < parts.length; i++) {
      if (obj === null || obj === undefined) { return undefined; }
      obj = obj[parts[i]];
    }
    return obj;
  }

  function setText(el, text) {
    if (el.textContent !== text) { el.textContent = text; }
  }

  function renderValues(snap) {
    var els = document.querySelectorAll("[data-k]");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var v = lookup(snap, el.getAttribute("data-k"));
      if (v === undefined) { continue; }
      var f = formats[el.getAttribute("data-f")];
      setText(el, f ? f(v) : String(v));
      if (el.getAttribute("data-f") === "light") {
        el.className = "light light-" + v;
      }
    }
  }

  function cell(tag, text, scope) {
    var c = document.createElement(tag);
    if (scope) { c.setAttribute("scope", scope); }
    c.textContent = text;
    return c;
  }

  function renderRefusals(snap) {
    var body = document.getElementById("refusals-body");
    if (!body) { return; }
    var rows = document.createDocumentFragment();
    (snap.refusals || []).forEach(function (r) {
      var tr = document.createElement("tr");
      var th = cell("th", "", "row");
      var code = document.createElement("code");
      code.textContent = r.code;
      th.appendChild(code);
      tr.appendChild(th);
      tr.appendChild(cell("td", formats.num(r.total)));
      tr.appendChild(cell("td", formats.f1(r.per_s)));
      rows.appendChild(tr);
    });
    if (!snap.refusals || snap.refusals.length === 0) {
      var tr0 = document.createElement("tr");
      var td = cell("td", (i18n && i18n.dataset.none) || "–");
      td.setAttribute("colspan", "3");
      tr0.appendChild(td);
      rows.appendChild(tr0);
    }
    body.replaceChildren(rows);
  }

  // Charts. Each keeps columns [t, series…] as uPlot wants them.
  var palette = ["#0b4f8a", "#b35900", "#1f7a3a", "#8a1f6b", "#5a5a5a", "#8a1010"];
  var charts = [
    { id: "chart-flow", cols: function (s) { return [s.arrivals, s.admitted, s.bookings, s.rate, s.outflow]; },
      point: function (p) { return [p.arrivals, p.admitted, p.bookings, p.rate, p.outflow]; } },
    { id: "chart-queue", cols: function (s) { return [s.waiting, s.active]; },
      point: function (p) { return [p.waiting, p.active]; } },
    { id: "chart-latency", cols: function (s) { return s.p95_ms; },
      point: function (p) { return p.p95_ms; } }
  ];
  var maxPoints = 600;

  function chartWidth(el) { return Math.max(200, el.clientWidth || 300); }

  function makeChart(def, data) {
    var el = document.getElementById(def.id);
    if (!el || typeof uPlot === "undefined") { return null; }
    var names = [];
    try { names = JSON.parse(el.getAttribute("data-series") || "[]"); } catch (e) { names = []; }
    var series = [{}];
    for (var i = 1; i < data.length; i++) {
      series.push({ label: names[i - 1] || ("s" + i), stroke: palette[(i - 1) % palette.length], width: 2, spanGaps: true });
    }
    var opts = {
      width: chartWidth(el), height: 200, legend: { show: false }, cursor: { show: false },
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), tz); },
      scales: { x: { time: true } }, series: series,
      axes: [{ stroke: "#4a4a4a", values: function (u, splits) { return splits.map(hms); } }, { stroke: "#4a4a4a", size: 60 }]
    };
    el.replaceChildren();
    var u = new uPlot(opts, data, el);
    def.chart = u;
    def.data = data;
    state.charts[def.id] = u;
    return u;
  }

  function initCharts(s) {
    charts.forEach(function (def) {
      var data = [s.t.slice()].concat(def.cols(s).map(function (c) { return c.slice(); }));
      if (def.chart) { def.chart.destroy(); def.chart = null; }
      makeChart(def, data);
    });
  }

  function pushPoint(p) {
    charts.forEach(function (def) {
      if (!def.chart) { return; }
      var d = def.data;
      var n = d[0].length;
      if (n > 0 && d[0][n - 1] >= p.t) { return; }
      var vals = def.point(p);
      d[0].push(p.t);
      for (var i = 1; i < d.length; i++) { d[i].push(vals[i - 1]); }
      if (d[0].length > maxPoints) { for (var j = 0; j < d.length; j++) { d[j].shift(); } }
      def.chart.setData(d);
    });
  }

  window.addEventListener("resize", function () {
    charts.forEach(function (def) {
      if (def.chart) { def.chart.setSize({ width: chartWidth(document.getElementById(def.id)), height: 200 }); }
    });
  });

  // Live status line.
  var status = document.getElementById("live-status");
  function live(which) {
    if (status) { setText(status, status.getAttribute("data-live-" + which) || which); }
  }

  function connect() {
    if (typeof EventSource === "undefined") { return; }
    var es = new EventSource("/ops/events?csrf_token=" + encodeURIComponent(csrf));
    es.addEventListener("series", function (ev) {
      state.series = JSON.parse(ev.data);
      initCharts(state.series);
    });
    es.addEventListener("snapshot", function (ev) {
      var snap = JSON.parse(ev.data);
      if (snap.seq <= state.seq) { return; }
      state.seq = snap.seq;
      state.snapshot = snap;
      state.connected = true;
      live("on");
      renderValues(snap);
      renderRefusals(snap);
      pushPoint(snap.point);
    });
    es.addEventListener("signed_out", function () { es.close(); window.location.assign("/ops/login?expired=1"); });
    es.onerror = function () { state.connected = false; live("lost"); };
  }

  // The waiting-room form goes through the JSON API (with the CSRF header),
  // so the page and its charts stay; without script it posts as a form.
  function refreshAudit() {
    fetch("/api/v1/ops/audit?limit=20", { headers: { "X-CSRF-Token": csrf, "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (page) {
        var body = document.getElementById("audit-body");
        if (!page || !body) { return; }
        var rows = document.createDocumentFragment();
        page.entries.forEach(function (e) {
          var tr = document.createElement("tr");
          tr.appendChild(cell("td", formats.time(e.at)));
          tr.appendChild(cell("td", e.actor));
          var a = cell("td", ""); var c = document.createElement("code"); c.textContent = e.action; a.appendChild(c); tr.appendChild(a);
          tr.appendChild(cell("td", e.target));
          var d = cell("td", ""); d.className = "detail"; var dc = document.createElement("code"); dc.textContent = e.detail; d.appendChild(dc); tr.appendChild(d);
          rows.appendChild(tr);
        });
        body.replaceChildren(rows);
      })
      .catch(function () {});
  }

  var form = document.getElementById("waitroom-form");
  if (form && window.fetch) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var out = form.querySelector(".form-status");
      var body = {};
      var mode = form.querySelector('input[name="mode"]:checked');
      if (mode) { body.mode = mode.value; }
      ["rate_per_s", "min_rate", "max_rate"].forEach(function (k) {
        var v = form.elements[k].value.trim();
        if (v !== "") { body[k] = Number(v); }
      });
      var ma = form.elements.max_active.value.trim();
      if (ma !== "") { body.max_active = parseInt(ma, 10); }
      fetch(form.getAttribute("data-api"), {
        method: "PUT", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body)
      }).then(function (r) {
        return r.json().then(function (j) { return { ok: r.ok, body: j }; });
      }).then(function (res) {
        out.className = "form-status " + (res.ok ? "notice" : "error");
        out.textContent = res.ok ? form.getAttribute("data-ok") :
          form.getAttribute("data-failed") + " " + (res.body.detail || res.body.code || "");
        if (res.ok) {
          setText(document.getElementById("mode-now"), tr("mode", res.body.mode));
          refreshAudit();
        }
      }).catch(function () { form.submit(); });
    });
  }

  live("off");
  connect();
})();
