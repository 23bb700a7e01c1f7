// vaxbook pages: small progressive enhancements. Every page works without
// this file; with it the waiting room polls instead of reloading, counts
// down to the opening on the server's clock, the search fills 시군구 when a
// 시도 is chosen and can search near the browser's location, provider
// lights refresh, and forms are not sent twice.
(function () {
  'use strict';

  function fmt(s) {
    var args = Array.prototype.slice.call(arguments, 1), i = 0;
    return String(s).replace(/%(\[\d+\])?[sdv]/g, function (m, idx) {
      if (idx) { return String(args[parseInt(idx.slice(1, -1), 10) - 1]); }
      return String(args[i++]);
    });
  }

  function duration(el, ms) {
    var d = el.dataset;
    if (ms < 60000) { return d.tUnderMinute; }
    var m = Math.round(ms / 60000);
    if (m < 60) { return fmt(d.tMinutes, m); }
    return fmt(d.tHours, Math.floor(m / 60), m % 60);
  }

  // Waiting room: poll when the server says (retry_after_ms), never sooner.
  function queue(el) {
    var d = el.dataset;
    var t0 = performance.now();
    var serverNow = Number(d.serverNow), opens = Number(d.opens);
    var next = d.next || '/book';
    var first = Number(d.first) || 0;
    // The countdown runs on the server's clock: the server's now at load
    // plus the time elapsed since, measured by the browser's monotonic
    // timer. The browser's wall clock is never read.
    var cd = document.getElementById('countdown');
    if (cd && opens) {
      var tick = function () {
        var left = opens - (serverNow + (performance.now() - t0));
        if (left <= 0) { cd.textContent = d.tOpening; return; }
        var s = Math.ceil(left / 1000), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
        cd.textContent = (h > 0 ? h + ':' + String(m).padStart(2, '0') : String(m)) + ':' + String(r).padStart(2, '0');
        setTimeout(tick, 1000 - (left % 1000));
      };
      tick();
    }
    function show(q) {
      var pos = document.getElementById('q-position');
      if (q.state === 'waiting' && pos) {
        pos.textContent = q.position;
        if (q.position > first) { first = q.position; }
        var ahead = document.getElementById('q-ahead');
        if (ahead) { ahead.textContent = fmt(q.ahead === 1 ? d.tAheadOne : d.tAhead, q.ahead); }
        var bar = document.getElementById('q-progress');
        if (bar) { bar.max = first; bar.value = first - q.position; bar.textContent = (first - q.position) + ' / ' + first; }
        var eta = document.getElementById('q-eta');
        if (eta) {
          var ms = q.eta_seconds * 1000;
          eta.textContent = q.eta_uncertain ? (ms > 0 ? fmt(d.tEtaUncertain, duration(el, ms)) : d.tEtaUnknown) : fmt(d.tEta, duration(el, ms));
        }
      } else if (q.state !== d.state) {
        // prequeue → waiting (or expired): the page shows another layout.
        window.location.reload();
      }
    }
    function poll() {
      fetch('/api/v1/queue/status', { credentials: 'same-origin', headers: { 'Accept': 'application/json' } })
        .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
        .then(function (res) {
          if (!res.ok) { window.location.reload(); return; }
          var q = res.body;
          if (q.state === 'admitted') {
            var note = document.getElementById('q-note');
            if (note) { note.textContent = d.tAdmitted; }
            window.location.assign(next);
            return;
          }
          show(q);
          schedule(q.retry_after_ms);
        })
        .catch(function () { schedule(5000); });
    }
    function schedule(ms) { setTimeout(poll, Math.max(Number(ms) || 0, 1000)); }
    if (d.state === 'waiting' || d.state === 'prequeue') { schedule(d.retryMs); }
  }

  // Search: fill 시군구 for the chosen 시도 from /api/v1/regions.
  function regions(sido) {
    var sg = document.getElementById('sigungu');
    if (!sg) { return; }
    var cache = null;
    sido.addEventListener('change', function () {
      var load = cache ? Promise.resolve(cache) : fetch('/api/v1/regions', { headers: { 'Accept': 'application/json' } })
        .then(function (r) { return r.json(); }).then(function (b) { cache = b; return b; });
      load.then(function (b) {
        // A list answered late (a second change, a slow fetch) must not
        // undo a district already picked from the same list.
        var keep = sg.value;
        var first = sg.options[0];
        sg.innerHTML = '';
        sg.appendChild(first);
        (b.sido || []).forEach(function (s) {
          if (s.code !== sido.value) { return; }
          s.sigungu.forEach(function (g) {
            var o = document.createElement('option');
            o.value = g.code;
            o.textContent = sido.dataset.lang === 'en' ? g.en : g.ko;
            o.selected = g.code === keep;
            sg.appendChild(o);
          });
        });
      }).catch(function () { /* the form still works: submit to get the list */ });
    });
  }

  // Search near the browser's location (optional); the home district otherwise.
  function nearMe(btn) {
    if (!('geolocation' in navigator)) { return; }
    btn.hidden = false;
    btn.addEventListener('click', function () {
      btn.disabled = true;
      navigator.geolocation.getCurrentPosition(function (pos) {
        var q = 'near=' + pos.coords.latitude.toFixed(5) + ',' + pos.coords.longitude.toFixed(5);
        if (btn.dataset.change && btn.dataset.change !== '0') { q += '&change=' + btn.dataset.change; }
        window.location.assign('/book?' + q);
      }, function () {
        window.location.assign(btn.dataset.fallback + '&geo=failed');
      }, { timeout: 10000, maximumAge: 600000 });
    });
  }

  // Provider lights: refresh every 15 s.
  function lights(list) {
    var d = list.dataset;
    setInterval(function () {
      fetch('/api/v1/identity/providers', { headers: { 'Accept': 'application/json' } })
        .then(function (r) { return r.json(); })
        .then(function (b) {
          (b.providers || []).forEach(function (p) {
            var a = list.querySelector('[data-provider="' + p.name + '"] .light');
            if (!a) { return; }
            a.className = 'light light-' + p.light;
            var t = a.querySelector('.ltext');
            if (t) { t.textContent = d['light' + p.light.charAt(0).toUpperCase() + p.light.slice(1)] || p.light; }
          });
        }).catch(function () {});
    }, 15000);
  }

  document.addEventListener('DOMContentLoaded', function () {
    var q = document.getElementById('queue');
    if (q) { queue(q); }
    var sido = document.getElementById('sido');
    if (sido) { regions(sido); }
    var nm = document.getElementById('near-me');
    if (nm) { nearMe(nm); }
    var pl = document.getElementById('providers');
    if (pl) { lights(pl); }
    Array.prototype.forEach.call(document.querySelectorAll('form.once'), function (f) {
      f.addEventListener('submit', function () {
        Array.prototype.forEach.call(f.querySelectorAll('button[type=submit]'), function (b) {
          setTimeout(function () { b.disabled = true; }, 0);
        });
      });
    });
  });
}());
