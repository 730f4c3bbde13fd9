"""The stylesheet and the script of the HTML report, inlined into every file (no CDN, works from file://)."""

from __future__ import annotations

CSS = """
:root{--fg:#1f2328;--muted:#59636e;--bg:#fff;--panel:#f6f8fa;--line:#d1d9e0;--red:#cf222e;--green:#1a7f37;
--amber:#9a6700;--blue:#0969da;--redbg:#ffebe9;--greenbg:#dafbe1;--amberbg:#fff8c5}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--panel:#151b23;
--line:#3d444d;--red:#f85149;--green:#3fb950;--amber:#d29922;--blue:#4493f8;--redbg:#3c1618;
--greenbg:#12261e;--amberbg:#2e2a1b}}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;
color:var(--fg);background:var(--bg)}
body>main,body>header,body>section,body>form,body>footer{max-width:1200px;margin:0 auto;padding:0 16px}
[hidden]{display:none!important}
h1{font-size:22px;margin:16px 0 4px}h2{font-size:16px;margin:20px 0 8px}h3{font-size:13px;margin:12px 0 4px;
color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.verdict{border-left:6px solid var(--green);padding:8px 16px;margin-top:16px;background:var(--panel)}
.verdict.failed{border-color:var(--red)}.verdict h1{color:var(--green)}.verdict.failed h1{color:var(--red)}
h3 .muted{text-transform:none;letter-spacing:0;font-weight:400}pre.prompt{max-height:240px}
.score{font-size:16px;margin:0}.reasons{margin:6px 0}.facts{color:var(--muted);margin:6px 0}
.facts span+span:before{content:" · "}
table{border-collapse:collapse;width:100%;margin:4px 0}th,td{border:1px solid var(--line);padding:4px 8px;
text-align:left;vertical-align:top}th{background:var(--panel)}
pre{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:8px 10px;margin:4px 0;
white-space:pre-wrap;overflow-wrap:anywhere;max-height:480px;overflow:auto;font:12px/1.45 ui-monospace,
SFMono-Regular,Menlo,Consolas,monospace}
#filters{position:sticky;top:0;background:var(--bg);border-bottom:1px solid var(--line);padding:8px 16px;
display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center;z-index:1}
#filters fieldset{border:0;padding:0;margin:0;display:flex;gap:4px}
#filters label.pill{border:1px solid var(--line);border-radius:16px;padding:2px 10px;cursor:pointer}
#filters label.pill:has(input:checked){background:var(--fg);color:var(--bg)}
#filters input[type=radio]{position:absolute;opacity:0}
#filters input[type=search]{min-width:240px;padding:4px 8px}
#shown{color:var(--muted);margin-left:auto}
details.case{border:1px solid var(--line);border-radius:6px;margin:6px 0;background:var(--bg);
content-visibility:auto;contain-intrinsic-size:auto 40px}
details.case>summary{padding:6px 10px;cursor:pointer;display:flex;gap:10px;flex-wrap:wrap;
align-items:baseline}
details.case[open]>summary{border-bottom:1px solid var(--line);background:var(--panel)}
details.case .body{padding:4px 12px 10px}
.badge{font-weight:600;white-space:nowrap}.failed>summary .badge{color:var(--red)}
.error>summary .badge{color:var(--amber)}.passed>summary .badge{color:var(--green)}
.unchecked>summary .badge{color:var(--muted)}
.where,.muted{color:var(--muted)}.why{flex:1 1 300px;min-width:0}.tag{border:1px solid var(--line);
border-radius:10px;padding:0 6px;font-size:12px;color:var(--muted)}
.new{background:var(--redbg);color:var(--red);border-radius:10px;padding:0 6px;font-size:12px;font-weight:600}
.fixed{background:var(--greenbg);color:var(--green);border-radius:10px;padding:0 6px;font-size:12px}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:12px}
@media (max-width:800px){.cols{grid-template-columns:1fr}}
td.ok{color:var(--green)}td.bad{color:var(--red)}td.na{color:var(--muted)}
a{color:var(--blue)}footer{color:var(--muted);margin:24px auto}
"""

SCRIPT = r"""
(function () {
  "use strict";
  var cases = Array.prototype.slice.call(document.querySelectorAll("details.case"));
  var form = document.getElementById("filters");
  var shown = document.getElementById("shown");
  var texts = new WeakMap();
  function text(el) {
    var t = texts.get(el);
    if (t === undefined) { t = el.textContent.toLowerCase(); texts.set(el, t); }
    return t;
  }
  function read() {
    var p = new URLSearchParams(location.hash.slice(1));
    return {status: p.get("status") || "all", tag: p.get("tag") || "", suite: p.get("suite") || "",
            q: p.get("q") || "", id: p.get("case") || ""};
  }
  function matches(d, f) {
    if (f.status === "failing" && d.status !== "failed" && d.status !== "error") return false;
    if (f.status === "new" && d.new !== "1") return false;
    if (f.status === "passing" && d.status !== "passed") return false;
    if (f.tag && d.tags.indexOf("\t" + f.tag + "\t") < 0) return false;
    if (f.suite && d.suite !== f.suite) return false;
    return true;
  }
  function apply() {
    var f = read(), q = f.q.toLowerCase(), n = 0;
    var radio = form.querySelector("input[name=status][value='" + f.status + "']");
    if (radio) radio.checked = true;
    form.elements.tag.value = f.tag;
    form.elements.suite.value = f.suite;
    if (form.elements.q.value !== f.q) form.elements.q.value = f.q;
    cases.forEach(function (el) {
      var ok = matches(el.dataset, f) && (!q || text(el).indexOf(q) >= 0);
      el.hidden = !ok;
      if (ok) n++;
    });
    shown.textContent = n === cases.length ? n + " cases shown" : n + " of " + cases.length + " cases shown";
    if (f.id) {
      var target = cases.find(function (el) { return el.dataset.id === f.id; });
      if (target) { target.hidden = false; target.open = true; target.scrollIntoView(); }
    }
  }
  function update() {
    var p = new URLSearchParams();
    var status = form.querySelector("input[name=status]:checked");
    if (status && status.value !== "all") p.set("status", status.value);
    if (form.elements.tag.value) p.set("tag", form.elements.tag.value);
    if (form.elements.suite.value) p.set("suite", form.elements.suite.value);
    if (form.elements.q.value) p.set("q", form.elements.q.value);
    history.replaceState(null, "", "#" + p.toString());
    apply();
  }
  form.addEventListener("change", update);
  form.addEventListener("input", update);
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  window.addEventListener("hashchange", apply);
  apply();
})();
"""
