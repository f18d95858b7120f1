/* Tsunagari forms and dynamic content for any registered site. No dependencies.
   <div data-tsunagari-form="12"></div> <div data-tsunagari-slot="hero"></div>
   <script async src="https://YOUR-TSUNAGARI/p/embed.js"></script>
   Works beside t.js: the visitor cookie it sets lets a known visitor skip known questions. */
(function (w, d) {
  "use strict";
  var me = d.currentScript || d.querySelector('script[src*="/p/embed.js"]');
  if (!me || w.__tsunagariEmbed) return;
  w.__tsunagariEmbed = 1;
  var base = me.src.replace(/\/p\/embed\.js(\?.*)?$/, "");
  var UTM = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "campaign"];

  function vid() {
    var m = d.cookie.match(/(?:^|; )_tsg_vid=([0-9a-f]{32})(?:;|$)/);
    return m ? m[1] : "";
  }
  function el(tag, attrs, text) {
    var e = d.createElement(tag), k;
    for (k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text) e.textContent = text;  /* never innerHTML for anything a form defines */
    return e;
  }
  function query() {
    var p = new URLSearchParams(location.search), out = new URLSearchParams(), i;
    for (i = 0; i < UTM.length; i++) if (p.get(UTM[i])) out.set(UTM[i], p.get(UTM[i]));
    return out;
  }
  function get(path, params) {
    return w.fetch(base + path + "?" + params.toString(), { mode: "cors", credentials: "omit" })
      .then(function (r) { return r.json().then(function (b) { return { status: r.status, body: b }; }); });
  }

  function field(f) {
    var wrap = el("div", { "class": "tsg-field tsg-" + f.kind, "data-name": f.name }), input, i;
    if (f.kind === "hidden") {
      return el("input", { type: "hidden", name: f.name, value: f.value || "" });
    }
    if (f.kind === "consent") {
      var label = el("label");
      input = el("input", { type: "checkbox", name: f.name, value: "1" });
      if (f.required) input.required = true;
      label.appendChild(input);
      label.appendChild(d.createTextNode(" " + f.label));
      wrap.appendChild(label);
    } else {
      var id = "tsg-" + f.name + "-" + Math.random().toString(36).slice(2, 7);
      wrap.appendChild(el("label", { "for": id }, f.label + (f.required ? " *" : "")));
      if (f.input === "select") {
        input = el("select", { id: id, name: f.name });
        input.appendChild(el("option", { value: "" }, "—"));
        for (i = 0; i < f.choices.length; i++) input.appendChild(el("option", { value: f.choices[i][0] }, f.choices[i][1]));
      } else if (f.input === "textarea") {
        input = el("textarea", { id: id, name: f.name, rows: "3", maxlength: "2000" });
      } else {
        input = el("input", { id: id, name: f.name, type: f.input, maxlength: "2000" });
      }
      if (f.required) input.required = true;
      wrap.appendChild(input);
    }
    wrap.appendChild(el("div", { "class": "tsg-error", role: "alert" }));
    return wrap;
  }

  function showErrors(form, errors) {
    var boxes = form.querySelectorAll(".tsg-error"), i, name;
    for (i = 0; i < boxes.length; i++) boxes[i].textContent = "";
    for (name in errors) {
      var box = form.querySelector('[data-name="' + name + '"] .tsg-error') || form.querySelector(".tsg-form-error");
      if (box) box.textContent = errors[name];
    }
  }

  function done(holder, body, texts) {
    if (body.redirect && !body.download_url && !body.confirm) { location.href = body.redirect; return; }
    holder.textContent = "";
    holder.appendChild(el("p", { "class": "tsg-thanks" }, body.confirm ? texts.confirm : body.message));
    if (body.download_url) holder.appendChild(el("a", { href: body.download_url, "class": "tsg-download" }, texts.download));
  }

  function mount(holder, def) {
    var form = el("form", { "class": "tsg-form", novalidate: "" }), i;
    if (def.title) form.appendChild(el("h3", {}, def.title));
    for (i = 0; i < def.fields.length; i++) form.appendChild(field(def.fields[i]));
    var trap = el("div", { "aria-hidden": "true", style: "position:absolute;left:-9999px" });
    trap.appendChild(el("input", { type: "text", name: def.honeypot, tabindex: "-1", autocomplete: "off" }));
    form.appendChild(trap);
    form.appendChild(el("div", { "class": "tsg-form-error tsg-error", role: "alert" }));
    var texts = def.texts || {};
    var button = el("button", { type: "submit" }, def.submit || texts.submit || "Submit");
    form.appendChild(button);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (!form.checkValidity()) { form.reportValidity(); return; }
      var data = new URLSearchParams(new FormData(form));
      data.set("_tsg_t", def.token);
      data.set("_tsg_vid", vid());
      data.set("page", location.href);
      button.disabled = true;
      w.fetch(base + "/f/" + def.id + "/submit", { method: "POST", mode: "cors", credentials: "omit", body: data })
        .then(function (r) { return r.json(); })
        .then(function (body) {
          button.disabled = false;
          if (body.ok) done(holder, body, texts);
          else showErrors(form, body.errors || { _: body.error });
        })
        .catch(function () { button.disabled = false; showErrors(form, { _: texts.network || "Network error" }); });
    });
    holder.textContent = "";
    holder.appendChild(form);
  }

  function loadForms() {
    var holders = d.querySelectorAll("[data-tsunagari-form]"), i;
    for (i = 0; i < holders.length; i++) (function (holder) {
      var params = query();
      params.set("v", vid());
      get("/f/" + encodeURIComponent(holder.getAttribute("data-tsunagari-form")) + "/render", params)
        .then(function (r) { if (r.status === 200) mount(holder, r.body); });
    })(holders[i]);
  }

  function loadSlots() {
    var holders = d.querySelectorAll("[data-tsunagari-slot]"), keys = [], i;
    for (i = 0; i < holders.length; i++) keys.push(holders[i].getAttribute("data-tsunagari-slot"));
    if (!keys.length) return;
    var params = new URLSearchParams({ k: keys.join(","), v: vid(), u: location.href });
    get("/p/slots.json", params).then(function (r) {
      if (r.status !== 200) return;
      for (i = 0; i < holders.length; i++) {
        var got = r.body[holders[i].getAttribute("data-tsunagari-slot")];
        if (got) {
          /* The HTML was sanitised with nh3 on the server: the only innerHTML here. */
          holders[i].innerHTML = got.html;
          holders[i].setAttribute("data-variant", got.variant);
        }
      }
    });
  }

  /* t.js may load after this script: give it a moment to set the visitor cookie. */
  var tries = 0;
  function start() {
    if (!vid() && tries++ < 10) { setTimeout(start, 100); return; }
    loadForms();
    loadSlots();
  }
  if (d.readyState === "loading") d.addEventListener("DOMContentLoaded", start); else start();
})(window, document);
