"use strict";
(function () {
  // Every value from the feed is set as text: never parsed as HTML.
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function kv(k, v, cls) {
    var s = el("span", "kv" + (cls ? " " + cls : ""));
    s.appendChild(el("span", "k", k));
    s.appendChild(el("span", "v", v));
    return s;
  }
  function secs(d) {
    d = Math.floor(d || 0);
    var m = Math.floor(d / 60), s = d % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }
  function meter(l) {
    var m = el("div", "meter");
    m.dataset.track = l.track;
    m.appendChild(el("span", "k", l.track));
    var bar = el("div", "bar"), fill = el("div", "fill");
    var db = l.dbfs;
    var pct = db === null || db === undefined ? 0 : Math.max(0, Math.min(100, (db + 60) / 60 * 100));
    fill.style.width = pct.toFixed(1) + "%";
    if (db !== null && db > -6) fill.classList.add("hot");
    bar.appendChild(fill);
    m.appendChild(bar);
    m.appendChild(el("span", "db", db === null || db === undefined ? "— dBFS" : db.toFixed(1) + " dBFS"));
    return m;
  }
  function cell(row, text, cls) { row.appendChild(el("td", cls, text)); }
  function streams(list) {
    var t = el("table", "streams");
    var h = el("tr");
    ["Stream", "Dialect", "App host", "Tracks", "Frames sent", "Queue", "Added latency"].forEach(function (x) { h.appendChild(el("th", null, x)); });
    var head = el("thead"); head.appendChild(h); t.appendChild(head);
    var body = el("tbody");
    list.forEach(function (s) {
      var r = el("tr", "stream");
      r.dataset.stream = s.name;
      cell(r, s.name, "name");
      cell(r, s.dialect, "dialect");
      cell(r, s.url_host, "host");
      cell(r, (s.tracks || []).join(", "), "tracks");
      cell(r, s.frames_sent, "num frames");
      cell(r, s.queue_depth, "num queue");
      cell(r, s.latency_ms.toFixed(1) + " ms", "num latency");
      body.appendChild(r);
    });
    t.appendChild(body);
    return t;
  }
  function callCard(c) {
    var d = el("div", "call");
    d.dataset.sid = c.sid;
    var head = el("div", "call-head");
    head.appendChild(el("span", "sid", c.sid));
    head.appendChild(kv("from", c.from_name ? c.from_name + " (" + c.from + ")" : c.from, "from"));
    head.appendChild(kv("to", c.to, "to"));
    head.appendChild(kv("direction", c.direction, "direction"));
    head.appendChild(kv("state", c.state, "state"));
    head.appendChild(kv("duration", secs(c.duration), "duration"));
    head.appendChild(kv("codec", c.codec || "—", "codec"));
    head.appendChild(kv("controller", c.controller, "controller"));
    d.appendChild(head);
    var ms = el("div", "meters");
    (c.levels || []).forEach(function (l) { ms.appendChild(meter(l)); });
    d.appendChild(ms);
    if (c.streams && c.streams.length) d.appendChild(streams(c.streams));
    else d.appendChild(el("p", "empty", "No streams."));
    return d;
  }
  function render(s) {
    document.getElementById("node").textContent = s.node;
    document.getElementById("updated").textContent = new Date(s.time).toLocaleTimeString();
    var calls = (s.calls || []).slice().sort(function (a, b) { return a.sid < b.sid ? -1 : a.sid > b.sid ? 1 : 0; });
    document.getElementById("call-count").textContent = String(calls.length);
    document.getElementById("no-calls").hidden = calls.length > 0;
    document.getElementById("calls").replaceChildren.apply(document.getElementById("calls"), calls.map(callCard));
    var rows = (s.ends || []).map(function (e) {
      var r = el("tr", "end");
      r.dataset.sid = e.sid;
      cell(r, e.sid, "sid");
      cell(r, e.from, "from");
      cell(r, e.to, "to");
      cell(r, secs(e.duration), "num duration");
      cell(r, e.reason, "reason");
      cell(r, new Date(e.ended_at).toLocaleTimeString(), "ended");
      return r;
    });
    document.getElementById("ends").replaceChildren.apply(document.getElementById("ends"), rows);
    document.body.dataset.snapshots = String((Number(document.body.dataset.snapshots) || 0) + 1);
  }
  var status = document.getElementById("status");
  var es = new EventSource("/dashboard/events");
  es.addEventListener("open", function () { status.textContent = "live"; status.className = "status on"; });
  es.addEventListener("error", function () { status.textContent = "reconnecting"; status.className = "status off"; });
  es.addEventListener("snapshot", function (ev) { render(JSON.parse(ev.data)); });
})();
