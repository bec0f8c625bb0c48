// The RPC port's web page (see web_page.hpp for why and what it may do). The page is kept small and readable
// rather than minified: one table of torrents updated in place every 1.5 s (rows keyed by info hash, so a click
// never lands on a row that was just replaced), a detail panel for one torrent, and a <dialog> to confirm a
// removal. Element ids and data-* attributes (#list tr[data-hash], .pt, .state, .toggle, #files) are what
// test/scripts/rpc_web_chromium.sh reads: keep them stable.
#include "node/web_page.hpp"

namespace p2p {

namespace {

// The policy allows only this page's own inline script and style, and fetch() to its own origin; no frame may
// hold it, no form may post elsewhere, and the favicon is an empty data: URL (no request, no 404 in the log).
constexpr const char* kCsp = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                             "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
                             "frame-ancestors 'none'";

constexpr std::string_view kPage = R"PAGE(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>p2pnode</title><link rel="icon" href="data:,">
<style>
:root{color-scheme:light dark;font:15px/1.4 system-ui,sans-serif}
body{margin:0 auto;max-width:1100px;padding:8px}
h1{font-size:1.25em;margin:.2em 0;display:flex;gap:.8em;align-items:baseline;flex-wrap:wrap}
h1 small{font-weight:normal;font-size:.7em;opacity:.75}
h2{font-size:1.1em;display:flex;gap:.6em;align-items:center;margin:.2em 0}
h3{font-size:1em;margin:.8em 0 .2em}
form{display:flex;flex-wrap:wrap;gap:6px;margin:8px 0}
#uri{flex:1 1 16em;min-width:0}
input,button{font:inherit;padding:4px 8px}
button{cursor:pointer}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 6px;border-bottom:1px solid #8884;vertical-align:middle}
th{font-size:.85em;opacity:.75}
.n{text-align:right;white-space:nowrap}
.bar{position:relative;height:1.2em;min-width:6em;background:#8883;border-radius:3px;overflow:hidden}
.bar i{position:absolute;left:0;top:0;bottom:0;background:#2a7ae2}
.bar span{position:relative;font-size:.8em;padding-left:4px}
.s6 .bar i{background:#2b9a4a}.s0 .bar i{background:#999}
.err,.bad{color:#d33}.err{font-size:.85em}
.nm{cursor:pointer;word-break:break-word}.nm:hover{text-decoration:underline}
.a{white-space:nowrap}
#msg{min-height:1.3em;font-size:.9em}
#detail{border:1px solid #8886;border-radius:6px;padding:8px;margin-top:12px}
.sel{background:#2a7ae222}
.scroll{overflow-x:auto}
dialog{max-width:90vw}
@media (max-width:700px){
 #tl thead{display:none}
 #list tr{display:grid;grid-template-columns:repeat(3,1fr);border-bottom:1px solid #8886;padding:4px 0}
 #list td{border:0;padding:2px 4px;text-align:left}
 #list td.name,#list td.p,#list td.a{grid-column:1/-1}
 #list td[data-l]::before{content:attr(data-l) " ";font-size:.8em;opacity:.7}
 #list td:empty{display:none}
 input,button{padding:8px 10px}
}
</style></head><body>
<h1>p2pnode <small id="tot"></small><small id="conn" class="bad"></small></h1>
<form id="add">
<input id="uri" placeholder="magnet link, info hash or .torrent path on the node" autocomplete="off">
<input id="file" type="file" accept=".torrent,application/x-bittorrent">
<button>Add</button>
</form>
<div id="msg" role="status"></div>
<table id="tl"><thead><tr><th>Name<th>Progress<th class="n">Down<th class="n">Up<th class="n">Peers<th class="n">ETA
<th>State<th></thead><tbody id="list"></tbody></table>
<p id="empty" hidden>No torrents yet.</p>
<section id="detail" hidden>
<h2><span id="dname"></span><button id="dclose">Close</button></h2>
<h3>Files</h3><div class="scroll"><table><thead><tr><th>Want<th>Name<th class="n">Size<th class="n">Done</thead>
<tbody id="files"></tbody></table></div>
<h3>Peers</h3><div class="scroll"><table><thead><tr><th>Address<th>Client<th class="n">Has<th class="n">Down
<th class="n">Up<th>Flags</thead><tbody id="peers"></tbody></table></div>
</section>
<dialog id="rm"><p>Remove <b id="rmname"></b>?</p>
<p><label><input type="checkbox" id="rmdel"> also delete its downloaded data</label></p>
<p><button id="rmno">Cancel</button> <button id="rmok">Remove</button></p></dialog>
<script>
'use strict';
const $ = id => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
};
// Only touch the DOM when a value changed (no flicker, selections survive).
const set = (e, v) => { v = String(v); if (e.textContent !== v) e.textContent = v; };
let sid = '', timer = 0, cur = null, rmId = 0;
const rows = new Map(); // info hash -> the row's cells

// One RPC call: Transmission's session-id handshake (409 carries the id), basic auth sent by the browser. The
// URL is built from the origin: fetch() refuses a URL with credentials, which a relative one inherits from a page
// opened with them in its address (user:password@host).
const RPC = location.origin + '/transmission/rpc';
async function rpc(method, args) {
  for (let i = 0; i < 2; i++) {
    const r = await fetch(RPC, {method: 'POST', body: JSON.stringify({method, arguments: args || {}}),
      headers: {'X-Transmission-Session-Id': sid, 'Content-Type': 'application/json'}});
    if (r.status === 409) { sid = r.headers.get('X-Transmission-Session-Id') || ''; continue; }
    if (!r.ok) throw new Error('HTTP ' + r.status);
    const j = await r.json();
    if (j.result !== 'success') throw new Error(j.result);
    return j.arguments;
  }
  throw new Error('no session id');
}

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];
function size(b) {
  let i = 0;
  while (b >= 1000 && i < 4) { b /= 1000; i++; }
  return (i ? b.toFixed(b < 10 ? 2 : b < 100 ? 1 : 0) : b) + ' ' + UNITS[i];
}
const rate = b => b > 0 ? size(b) + '/s' : '';
const pct = p => Math.floor(p * 1000) / 10 + '%'; // floor: 100% only when really complete
function eta(s) {
  if (s === -2) return '\u221e';
  if (s < 0) return '';
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  return d ? d + 'd ' + h + 'h' : h ? h + 'h ' + m + 'm' : m ? m + 'm ' + s % 60 + 's' : s + 's';
}
const STATES = {0: 'stopped', 1: 'check wait', 2: 'checking', 3: 'queued', 4: 'downloading', 5: 'seed wait', 6: 'seeding'};
function state(t) {
  if (t.error) return 'error';
  if (t.status === 4 && t.metadataPercentComplete < 1) return 'fetching metadata';
  return STATES[t.status] || '?';
}
function msg(text, bad) { set($('msg'), text); $('msg').className = bad ? 'bad' : ''; }

const COLS = [['name'], ['p'], ['down', 'Down'], ['up', 'Up'], ['peers', 'Peers'], ['eta', 'ETA'],
  ['state', 'State'], ['a']];
function makeRow() {
  const c = {tr: el('tr')};
  for (const [k, label] of COLS) {
    const td = c[k] = el('td', k);
    if (label) td.dataset.l = label;
    c.tr.append(td);
  }
  for (const k of ['down', 'up', 'peers', 'eta']) c[k].classList.add('n');
  c.nm = el('span', 'nm'); c.err = el('div', 'err');
  c.name.append(c.nm, c.err);
  c.nm.onclick = () => openDetail(c.id);
  c.bar = el('div', 'bar'); c.fill = el('i'); c.pt = el('span', 'pt');
  c.bar.append(c.fill, c.pt); c.p.append(c.bar);
  c.toggle = el('button', 'toggle');
  c.toggle.onclick = () => act(c.status === 0 ? 'torrent-start' : 'torrent-stop', c.id);
  c.rm = el('button', 'remove', 'Remove');
  c.rm.onclick = () => askRemove(c.id, c.nm.textContent);
  c.a.append(c.toggle, ' ', c.rm);
  return c;
}
function fill(c, t) {
  c.id = t.id; c.status = t.status;
  const st = state(t);
  c.tr.dataset.hash = t.hashString; c.tr.dataset.id = t.id; c.tr.dataset.state = st;
  c.tr.className = 's' + t.status + (cur && cur.id === t.id ? ' sel' : '');
  set(c.nm, t.name); set(c.err, t.errorString || '');
  c.fill.style.width = (t.percentDone * 100).toFixed(1) + '%';
  set(c.pt, pct(t.percentDone));
  set(c.down, rate(t.rateDownload)); set(c.up, rate(t.rateUpload));
  set(c.peers, t.peersConnected); set(c.eta, eta(t.eta)); set(c.state, st);
  set(c.toggle, t.status === 0 ? 'Resume' : 'Pause');
}

const FIELDS = ['id', 'hashString', 'name', 'status', 'error', 'errorString', 'percentDone', 'rateDownload',
  'rateUpload', 'peersConnected', 'eta', 'metadataPercentComplete'];
// One poll; the next is scheduled when it is done, slower while the tab is hidden. Never two in flight: a
// refresh asked for meanwhile (after a click) runs once this one is done.
let busy = false, again = false;
async function refresh() {
  if (busy) { again = true; return; }
  busy = true;
  clearTimeout(timer);
  try {
    const a = await rpc('torrent-get', {fields: FIELDS});
    const list = $('list'), seen = new Set();
    let down = 0, up = 0;
    a.torrents.sort((x, y) => x.id - y.id).forEach((t, i) => {
      seen.add(t.hashString); down += t.rateDownload; up += t.rateUpload;
      let c = rows.get(t.hashString);
      if (!c) rows.set(t.hashString, c = makeRow());
      fill(c, t);
      if (list.children[i] !== c.tr) list.insertBefore(c.tr, list.children[i] || null);
    });
    for (const [h, c] of rows) if (!seen.has(h)) { c.tr.remove(); rows.delete(h); }
    $('empty').hidden = rows.size > 0;
    set($('tot'), '\u2193 ' + (rate(down) || '0 B/s') + '  \u2191 ' + (rate(up) || '0 B/s'));
    set($('conn'), '');
    if (cur) await detail();
  } catch (e) {
    set($('conn'), 'not connected: ' + e.message);
  }
  busy = false;
  if (again) { again = false; return refresh(); }
  timer = setTimeout(refresh, document.hidden ? 10000 : 1500);
}
document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });

async function act(method, id) {
  try { await rpc(method, {ids: [id]}); msg(''); } catch (e) { msg(e.message, 1); }
  refresh();
}

function askRemove(id, name) {
  rmId = id; set($('rmname'), name); $('rmdel').checked = false; $('rm').showModal();
}
$('rmno').onclick = () => $('rm').close();
$('rmok').onclick = async () => {
  $('rm').close();
  const del = $('rmdel').checked;
  try {
    await rpc('torrent-remove', {ids: [rmId], 'delete-local-data': del});
    msg(del ? 'removed, with its data' : 'removed');
    if (cur && cur.id === rmId) closeDetail();
  } catch (e) { msg(e.message, 1); }
  refresh();
};

// The .torrent's bytes as base64 (torrent-add's metainfo); the RPC takes a body of 16 MiB at most.
const base64 = f => new Promise((ok, no) => {
  const r = new FileReader();
  r.onload = () => ok(String(r.result).replace(/^[^,]*,/, ''));
  r.onerror = () => no(r.error);
  r.readAsDataURL(f);
});
$('add').onsubmit = async ev => {
  ev.preventDefault();
  const uri = $('uri').value.trim(), f = $('file').files[0];
  if (!uri && !f) { msg('paste a magnet link or an info hash, or choose a .torrent file', 1); return; }
  if (f && f.size > 12e6) { msg('that file is too big to be a .torrent', 1); return; }
  try {
    const a = await rpc('torrent-add', f ? {metainfo: await base64(f)} : {filename: uri});
    const t = a['torrent-added'] || a['torrent-duplicate'] || {};
    msg((a['torrent-duplicate'] ? 'already there: ' : 'added: ') + t.name);
    $('uri').value = ''; $('file').value = '';
  } catch (e) { msg(e.message, 1); }
  refresh();
};

function openDetail(id) {
  cur = {id, files: []};
  $('files').textContent = ''; $('peers').textContent = ''; set($('dname'), '');
  $('detail').hidden = false;
  refresh().then(() => $('detail').scrollIntoView({block: 'nearest'}));
}
function closeDetail() { cur = null; $('detail').hidden = true; }
$('dclose').onclick = () => { closeDetail(); refresh(); };

async function detail() {
  const id = cur.id;
  const a = await rpc('torrent-get', {ids: [id], fields: ['id', 'name', 'files', 'fileStats', 'peers']});
  if (!cur || cur.id !== id) return;
  const t = a.torrents[0];
  if (!t) { closeDetail(); return; }
  set($('dname'), t.name);
  const body = $('files');
  (t.files || []).forEach((f, i) => {
    let r = cur.files[i];
    if (!r) {
      r = cur.files[i] = {tr: el('tr'), cb: el('input'), nm: el('td'), sz: el('td', 'n'), dn: el('td', 'n')};
      r.cb.type = 'checkbox';
      r.cb.onchange = () => want(id, i, r);
      const td = el('td'); td.append(r.cb);
      r.tr.append(td, r.nm, r.sz, r.dn); body.append(r.tr);
    }
    const s = (t.fileStats || [])[i] || {};
    if (!r.busy) r.cb.checked = !!s.wanted;
    set(r.nm, f.name); set(r.sz, size(f.length)); set(r.dn, pct(f.length ? f.bytesCompleted / f.length : 1));
  });
  const peers = $('peers');
  peers.textContent = '';
  for (const p of t.peers || []) {
    const tr = el('tr');
    tr.append(el('td', '', p.address + ':' + p.port), el('td', '', p.clientName), el('td', 'n', pct(p.progress)),
      el('td', 'n', rate(p.rateToClient)), el('td', 'n', rate(p.rateToPeer)), el('td', '', p.flagStr));
    peers.append(tr);
  }
}
async function want(id, i, r) {
  const on = r.cb.checked;
  r.busy = true;
  try { await rpc('torrent-set', {ids: [id], [on ? 'files-wanted' : 'files-unwanted']: [i]}); msg(''); }
  catch (e) { msg(e.message, 1); r.cb.checked = !on; }
  r.busy = false;
}

refresh();
</script></body></html>
)PAGE";

} // namespace

std::string_view web_page() { return kPage; }

bool is_web_page_path(std::string_view path) { return path == "/" || path == "/index.html"; }

void serve_web_page(http::Response& resp) {
    resp.status = 200;
    resp.content_type = "text/html; charset=utf-8";
    resp.body.assign(kPage);
    resp.headers.emplace_back("Content-Security-Policy", kCsp);
    resp.headers.emplace_back("X-Frame-Options", "DENY");
    resp.headers.emplace_back("X-Content-Type-Options", "nosniff");
    resp.headers.emplace_back("Referrer-Policy", "no-referrer");
    resp.headers.emplace_back("Cache-Control", "no-cache"); // a new binary's page is picked up at once
}

} // namespace p2p
