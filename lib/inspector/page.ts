/**
 * The inspector's page: one HTML file with its CSS and JS, no framework,
 * works offline, fits a phone, dark mode by `prefers-color-scheme`. Captured
 * data is hostile: the script only ever puts it in the page as text
 * (`textContent`, `value`), never as markup.
 */

/** The page's HTML. */
export const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>groktunnel inspector</title>
<style>
:root{--bg:#fff;--fg:#1d1d1f;--dim:#6e6e73;--line:#e3e3e6;--pane:#f6f6f8;--sel:#e8f0fe;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--mono:ui-monospace,SFMono-Regular,Menlo,monospace}
@media (prefers-color-scheme:dark){:root{--bg:#151517;--fg:#e6e6e6;--dim:#9a9aa0;--line:#2c2c30;--pane:#1d1d20;--sel:#1f2a44;--ok:#3fb950;--warn:#d29922;--bad:#f85149}}
[hidden]{display:none!important}*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,sans-serif;background:var(--bg);color:var(--fg)}
header{display:flex;flex-wrap:wrap;gap:.5em;align-items:center;padding:.6em .8em;border-bottom:1px solid var(--line)}
header h1{font-size:1em;margin:0 1em 0 0}header .tunnel{color:var(--dim);font-family:var(--mono);font-size:.9em;overflow-wrap:anywhere}
.filters{display:flex;flex-wrap:wrap;gap:.4em;padding:.5em .8em;border-bottom:1px solid var(--line)}
input,select,textarea,button{font:inherit;color:inherit;background:var(--pane);border:1px solid var(--line);border-radius:4px;padding:.25em .45em}
button{cursor:pointer}button:hover{border-color:var(--dim)}
main{display:grid;grid-template-columns:minmax(18em,2fr) 3fr;min-height:calc(100vh - 6em)}
@media (max-width:760px){main{grid-template-columns:1fr}}
#list{list-style:none;margin:0;padding:0;border-right:1px solid var(--line);overflow:auto;max-height:calc(100vh - 6em)}
#list li{display:grid;grid-template-columns:4.2em 1fr auto;gap:.4em;padding:.45em .8em;border-bottom:1px solid var(--line);cursor:pointer}
#list li.sel{background:var(--sel)}#list .m{font-weight:600}#list .p{font-family:var(--mono);overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
#list .meta{grid-column:2/4;color:var(--dim);font-size:.85em}
.s2{color:var(--ok)}.s3{color:var(--dim)}.s4{color:var(--warn)}.s5{color:var(--bad)}
#detail{padding:.8em;overflow:auto;max-height:calc(100vh - 6em)}#detail h2{font-size:1.05em;margin:.2em 0 .6em;font-family:var(--mono);overflow-wrap:anywhere}
.tabs{display:flex;gap:.3em;margin:.6em 0}.tabs button.on{border-color:var(--fg)}
table{border-collapse:collapse;width:100%;font-family:var(--mono);font-size:.9em}td{border-bottom:1px solid var(--line);padding:.2em .4em;vertical-align:top;overflow-wrap:anywhere}td:first-child{color:var(--dim);width:30%}
pre{background:var(--pane);padding:.6em;overflow:auto;font-family:var(--mono);font-size:.88em;white-space:pre-wrap;overflow-wrap:anywhere;margin:.4em 0}
.err{color:var(--bad)}.dim{color:var(--dim)}.empty{color:var(--dim);padding:2em;text-align:center}
form.edit{display:grid;gap:.4em;margin-top:.6em}form.edit textarea{font-family:var(--mono);min-height:6em}
</style></head>
<body>
<header><h1>groktunnel inspector</h1><span class="tunnel" id="tunnel"></span>
<span style="flex:1"></span><span class="dim" id="skipped"></span><button id="clear" type="button">Clear</button></header>
<div class="filters">
<select id="f-method" aria-label="method"><option value="">any method</option><option>GET</option><option>POST</option><option>PUT</option><option>PATCH</option><option>DELETE</option><option>HEAD</option><option>OPTIONS</option></select>
<input id="f-path" placeholder="path contains" aria-label="path">
<input id="f-status" placeholder="status (2xx, 404)" size="10" aria-label="status">
<input id="f-dur" placeholder="slower than ms" size="10" aria-label="duration">
<input id="f-header" placeholder="header: value" aria-label="header">
</div>
<main><ul id="list"></ul><section id="detail"><p class="empty">Requests through the tunnel appear here as they happen.</p></section></main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
};
const items = [];
let selected = null;
const fromB64 = (s) => Uint8Array.from(atob(s || ""), (c) => c.charCodeAt(0));
const latin1 = (b) => { let s = ""; for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192)); return s; };
const fmtSize = (n) => n < 1024 ? n + " B" : n < 1048576 ? (n / 1024).toFixed(1) + " KiB" : (n / 1048576).toFixed(1) + " MiB";
function matches(it) {
  const m = $("f-method").value, p = $("f-path").value, s = $("f-status").value.trim(), d = Number($("f-dur").value), h = $("f-header").value.trim().toLowerCase();
  if (m && it.method !== m) return false;
  if (p && !it.uri.includes(p)) return false;
  if (s) { const code = String(it.status_code); if (/^[1-5]xx$/i.test(s) ? code[0] !== s[0] : code !== s) return false; }
  if (d && !(it.duration_ms > d)) return false;
  if (h) {
    const [hn, hv] = h.includes(":") ? [h.slice(0, h.indexOf(":")).trim(), h.slice(h.indexOf(":") + 1).trim()] : [h, ""];
    if (!it.headers.some(([k, v]) => k.toLowerCase() === hn && v.toLowerCase().includes(hv))) return false;
  }
  return true;
}
function row(it) {
  const cls = "s" + String(it.status_code)[0];
  const li = el("li", { "data-id": it.id, onclick: () => select(it.id) },
    el("span", { class: "m", text: it.method }),
    el("span", { class: "p", text: it.uri, title: it.uri }),
    el("span", { class: cls, text: it.status_code ? String(it.status_code) : "…" }),
    el("span", { class: "meta", text: new Date(it.start).toLocaleTimeString() + " · " + it.duration_ms + " ms · " + fmtSize(it.size) + " · " + it.remote_addr + (it.replay_of ? " · replay of " + it.replay_of : "") + (it.status_code === 101 ? (it.websocket_closed ? " · websocket closed" : " · websocket open") : "") }));
  if (it.id === selected) li.classList.add("sel");
  return li;
}
function render() {
  const list = $("list");
  list.replaceChildren(...items.filter(matches).map(row));
  if (!list.children.length) list.append(el("li", { class: "empty", text: items.length ? "Nothing matches the filters." : "No requests yet." }));
  if (selected === null) $("detail").replaceChildren(el("p", { class: "empty", text: items.length ? "Select a request to see it here." : "Requests through the tunnel appear here as they happen." }));
}
for (const id of ["f-method", "f-path", "f-status", "f-dur", "f-header"]) $(id).addEventListener("input", render);
async function decoded(body, hdrs) {
  const enc = ((hdrs["Content-Encoding"] || [])[0] || "").toLowerCase().trim();
  if (!enc || enc === "identity" || !body.length) return { bytes: body };
  const fmt = { gzip: "gzip", "x-gzip": "gzip", deflate: "deflate", br: "brotli" }[enc];
  try {
    if (!fmt) throw new Error("unknown coding");
    const out = await new Response(new Blob([body]).stream().pipeThrough(new DecompressionStream(fmt))).arrayBuffer();
    return { bytes: new Uint8Array(out), note: "decoded from " + enc };
  } catch (e) { return { bytes: body, note: "shown as sent: cannot decode " + enc + " here (" + e.message + ")" }; }
}
function hexdump(b) {
  let out = "";
  for (let i = 0; i < Math.min(b.length, 65536); i += 16) {
    const s = b.subarray(i, i + 16);
    out += i.toString(16).padStart(8, "0") + "  " + Array.from(s, (x) => x.toString(16).padStart(2, "0")).join(" ").padEnd(48) + "  " + Array.from(s, (x) => x >= 32 && x < 127 ? String.fromCharCode(x) : ".").join("") + "\\n";
  }
  return out + (b.length > 65536 ? "… " + (b.length - 65536) + " more bytes\\n" : "");
}
async function bodyView(b64, hdrs, size, truncated) {
  const box = el("div");
  const { bytes, note } = await decoded(fromB64(b64), hdrs);
  if (!size) { box.append(el("p", { class: "dim", text: "No body." })); return box; }
  if (note) box.append(el("p", { class: "dim", text: note }));
  if (truncated) box.append(el("p", { class: "dim", text: "Captured the first " + fmtSize(fromB64(b64).length) + " of " + fmtSize(size) + "." }));
  const type = ((hdrs["Content-Type"] || [])[0] || "").toLowerCase();
  let text = null;
  try { text = new TextDecoder("utf-8", { fatal: true }).decode(bytes); } catch {}
  if (text !== null && (type.includes("json") || /^\\s*[\\[{]/.test(text) && type === "")) {
    try { box.append(el("pre", { class: "json", text: JSON.stringify(JSON.parse(text), null, 2) })); return box; }
    catch (e) {
      const at = Number((/position (\\d+)/.exec(e.message) || [])[1]);
      box.append(el("p", { class: "err", text: "Invalid JSON: " + e.message }));
      if (at >= 0 && !Number.isNaN(at)) box.append(el("pre", {}, text.slice(0, at), el("mark", { text: text.slice(at, at + 1) || " " }), text.slice(at + 1)));
      else box.append(el("pre", { text }));
      return box;
    }
  }
  if (text !== null && type.includes("application/x-www-form-urlencoded")) {
    box.append(el("table", {}, ...[...new URLSearchParams(text)].map(([k, v]) => el("tr", {}, el("td", { text: k }), el("td", { text: v })))));
    return box;
  }
  if (text !== null && !/[\\x00-\\x08\\x0e-\\x1f]/.test(text)) { box.append(el("pre", { text })); return box; }
  box.append(el("pre", { class: "hex", text: hexdump(bytes) }));
  return box;
}
const headerTable = (hdrs) => el("table", {}, ...Object.entries(hdrs).flatMap(([k, vs]) => vs.map((v) => el("tr", {}, el("td", { text: k }), el("td", { text: v })))));
async function select(id) {
  selected = id;
  render();
  const res = await fetch("/api/requests/http/" + encodeURIComponent(id));
  const d = $("detail");
  if (!res.ok) { d.replaceChildren(el("p", { class: "empty", text: "That request is gone." })); return; }
  const r = await res.json();
  const g = r.groktunnel;
  const tabs = el("div", { class: "tabs" });
  const body = el("div");
  const show = async (which) => {
    for (const b of tabs.children) b.classList.toggle("on", b.dataset.t === which);
    if (which === "request") body.replaceChildren(headerTable(r.request.headers), await bodyView(r.request.body, r.request.headers, g.request_body_size, g.request_truncated));
    else if (which === "response") body.replaceChildren(r.response ? headerTable(r.response.headers) : el("p", { class: "dim", text: "No response yet." }), r.response ? await bodyView(r.response.body, r.response.headers, g.response_body_size, g.response_truncated) : "");
    else body.replaceChildren(el("h3", { text: "Request" }), el("pre", { class: "raw", text: latin1(fromB64(r.request.raw)) }), el("h3", { text: "Response" }), el("pre", { class: "raw", text: r.response ? latin1(fromB64(r.response.raw)) : "" }));
  };
  for (const t of ["request", "response", "raw"]) tabs.append(el("button", { type: "button", "data-t": t, text: t[0].toUpperCase() + t.slice(1), onclick: () => show(t) }));
  const edit = el("form", { class: "edit", hidden: "" },
    el("label", { text: "Method " }, el("input", { name: "method", value: r.request.method })),
    el("label", { text: "Path " }, el("input", { name: "path", value: r.request.uri })),
    el("label", { text: "Headers (one per line)" }), el("textarea", { name: "headers" }),
    el("label", { text: "Body" }), el("textarea", { name: "body" }),
    el("button", { type: "submit", text: "Send to the local app" }));
  edit.headers.value = Object.entries(r.request.headers).flatMap(([k, vs]) => vs.map((v) => k + ": " + v)).join("\\n");
  try { edit.body.value = new TextDecoder("utf-8", { fatal: true }).decode(fromB64(r.request.body)); } catch { edit.body.value = ""; }
  edit.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const headers = edit.headers.value.split("\\n").filter((l) => l.includes(":")).map((l) => [l.slice(0, l.indexOf(":")).trim(), l.slice(l.indexOf(":") + 1).trim()]);
    replay({ id, method: edit.method.value, path: edit.path.value, headers, body: edit.body.value });
  });
  d.replaceChildren(
    el("h2", { text: r.request.method + " " + r.request.uri }),
    el("p", { class: "dim", text: (r.response ? r.response.status : "pending") + " · " + Math.round(r.duration / 1e6) + " ms · from " + r.remote_addr + " · " + new Date(r.start).toLocaleString() + (g.replay_of ? " · replay of " + g.replay_of : "") }),
    el("div", { class: "tabs" }, el("button", { type: "button", id: "replay", text: "Replay", onclick: () => replay({ id }) }), el("button", { type: "button", text: "Replay with edits", onclick: () => edit.toggleAttribute("hidden") })),
    edit, tabs, body);
  show("request");
}
async function replay(payload) {
  const res = await fetch("/api/requests/http", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(payload) });
  if (!res.ok) alert("Replay failed: " + (await res.text()));
}
$("clear").addEventListener("click", async () => {
  await fetch("/api/requests/http", { method: "DELETE", headers: { "content-type": "application/json" } });
  items.length = 0; selected = null; render();
  $("detail").replaceChildren(el("p", { class: "empty", text: "Cleared." }));
});
async function start() {
  const t = await (await fetch("/api/tunnels")).json();
  $("tunnel").textContent = t.tunnels.map((x) => x.public_url + " → " + x.config.addr).join(", ");
  // Subscribe first, and take the snapshot once the subscription is live:
  // a request finishing in between is then in one or the other, never lost.
  const es = new EventSource("/api/events");
  const upsert = (it) => {
    const at = items.findIndex((x) => x.id === it.id);
    if (at >= 0) items[at] = it; else items.unshift(it);
  };
  es.addEventListener("request", (e) => {
    upsert(JSON.parse(e.data));
    if (items.length > 500) items.length = 500;
    render();
  });
  es.addEventListener("clear", () => { items.length = 0; render(); });
  es.addEventListener("open", async () => {
    const r = await (await fetch("/api/requests/http?summary=1")).json();
    for (const it of r.requests.reverse()) if (!items.some((x) => x.id === it.id)) upsert(it);
    items.sort((a, b) => Number(b.id.slice(4)) - Number(a.id.slice(4)));
    render();
    document.body.dataset.live = "1";
  });
}
start();
// Requests over the capture rate (--inspect-rate) are counted, not kept.
const skipped = async () => {
  const r = await (await fetch("/api/requests/http?summary=1&limit=1")).json();
  $("skipped").textContent = r.not_captured ? r.not_captured + " not captured (over the capture rate)" : "";
};
skipped();
setInterval(skipped, 5000);
</script></body></html>
`;
