/* Tsunagari website snippet: page views, time on page, events, consent, identify. No dependencies.
   <script async src="https://YOUR-TSUNAGARI/t.js" data-consent="always"></script>
   data-collect="https://COLLECTOR" sends hits to a `tsunagari collect` server instead.
   window.tsunagari('track', 'name', {k: 'v'}); tsunagari('consent', true); tsunagari('identify', {e, ts, sig}) */
(function (w, d, n) {
  "use strict";
  var me = d.currentScript || d.querySelector('script[src*="/t.js"]');
  if (!me || w.__tsunagari) return;
  w.__tsunagari = 1;
  var base = me.src.replace(/\/t\.js(\?.*)?$/, "");
  var collector = (me.getAttribute("data-collect") || base).replace(/\/+$/, "");
  var mode = me.getAttribute("data-consent") || "always";
  var dnt = me.getAttribute("data-dnt") !== "ignore" && (n.doNotTrack === "1" || w.doNotTrack === "1");
  var KEY = "_tsg_vid", OK = "_tsg_ok", secure = location.protocol === "https:" ? ";Secure" : "";
  function get(name) {
    var m = d.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? m[1] : null;
  }
  function set(name, value) {
    d.cookie = name + "=" + value + ";path=/;max-age=63072000;SameSite=Lax" + secure;
  }
  function consented() { return mode === "always" || get(OK) === "1"; }
  function newId() {
    var a = new Uint8Array(16), s = "", i;
    w.crypto.getRandomValues(a);
    for (i = 0; i < 16; i++) s += (a[i] < 16 ? "0" : "") + a[i].toString(16);
    return s;
  }
  function vid() {
    if (!consented()) return null;
    var v = get(KEY);
    if (!/^[0-9a-f]{32}$/.test(v || "")) { v = newId(); set(KEY, v); }
    return v;
  }
  function send(url, data, beacon) {
    if (dnt || (mode === "opt_in" && !consented())) return;
    var body = JSON.stringify(data);
    if (beacon && n.sendBeacon && n.sendBeacon(url, new Blob([body], { type: "text/plain" }))) return;
    try {
      w.fetch(url, { method: "POST", body: body, keepalive: true, mode: "cors", credentials: "omit",
        headers: { "Content-Type": "text/plain" } });
    } catch (e) { /* tracking never breaks the page */ }
  }
  function hit(kind, extra) {
    var data = { k: kind, v: vid(), u: location.href, t: d.title, r: d.referrer,
      s: screen.width + "x" + screen.height, c: consented() ? 1 : 0 };
    for (var key in extra) data[key] = extra[key];
    send(collector + "/t/collect", data, kind === "leave");
  }
  var shown = Date.now(), visible = 0, left = false;
  function leave() {
    if (left) return;
    left = true;
    visible += Date.now() - shown;
    hit("leave", { d: visible });
  }
  d.addEventListener("visibilitychange", function () {
    if (d.visibilityState === "hidden") leave();
  });
  w.addEventListener("pagehide", leave);
  function fillForms() {
    var v = vid(), inputs = d.querySelectorAll('input[name="' + KEY + '"]'), i;
    for (i = 0; i < inputs.length; i++) inputs[i].value = v || "";
  }
  var api = {
    track: function (name, props) { hit("ev", { n: name, p: props || {} }); },
    consent: function (yes) {
      set(OK, yes ? "1" : "0");
      if (!yes) d.cookie = KEY + "=;path=/;max-age=0";
      fillForms();
    },
    identify: function (p) {
      if (p && consented()) send(base + "/t/identify", { v: vid(), e: p.email, ts: p.ts, sig: p.sig });
    }
  };
  function call(args) {
    var f = api[args[0]];
    if (f) f.apply(null, Array.prototype.slice.call(args, 1));
  }
  var queued = (w.tsunagari && w.tsunagari.q) || [];
  w.tsunagari = function () { call(arguments); };
  hit("pv", {});
  if (d.readyState === "loading") d.addEventListener("DOMContentLoaded", fillForms); else fillForms();
  for (var i = 0; i < queued.length; i++) call(queued[i]);
})(window, document, navigator);
