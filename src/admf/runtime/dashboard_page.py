"""The dashboard's single page: plain HTML, CSS and JavaScript, no bundle, works offline."""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>admf live</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d232b}
 header{display:flex;gap:24px;align-items:baseline;padding:12px 20px;background:#1d232b;color:#fff}
 header h1{font-size:16px;margin:0} header .v{font-size:20px;font-weight:600}
 main{display:grid;grid-template-columns:2fr 1fr;gap:16px;padding:16px 20px}
 section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:10px 14px}
 h2{font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:#5a6572;margin:0 0 8px}
 table{border-collapse:collapse;width:100%} td,th{padding:3px 6px;text-align:right;border-bottom:1px solid #eef0f3}
 td:first-child,th:first-child{text-align:left} .wide{grid-column:1/3}
 .ok{color:#137333} .bad{color:#c5221f} .muted{color:#8a949e}
 button{font:inherit;padding:6px 12px;border-radius:4px;border:1px solid #c5221f;background:#fff;color:#c5221f;cursor:pointer}
 button.confirm{background:#c5221f;color:#fff} #stopbox span{margin:0 8px}
 svg{width:100%;height:220px}
</style></head><body>
<header><h1 id="name">admf live</h1>
 <div>equity <span class="v" id="equity">-</span></div><div>cash <span id="cash">-</span></div>
 <div>bars <span id="bars">-</span></div><div id="kill" class="ok">trading</div>
 <div id="stopbox" style="margin-left:auto"><button id="stop">Cancel all and stop</button></div></header>
<main>
 <section class="wide"><h2>Equity</h2><svg id="chart" viewBox="0 0 1000 220" preserveAspectRatio="none">
  <polyline id="line" fill="none" stroke="#1a73e8" stroke-width="2" points=""/></svg>
  <div class="muted" id="range"></div></section>
 <section><h2>Positions</h2><table id="positions"><thead><tr><th>symbol</th><th>qty</th></tr></thead><tbody></tbody></table></section>
 <section><h2>Connections</h2><table id="connections"><tbody></tbody></table></section>
 <section><h2>Open orders</h2><table id="orders"><thead><tr><th>order</th><th>side</th><th>qty</th><th>type</th><th>status</th></tr></thead><tbody></tbody></table></section>
 <section><h2>Recent fills</h2><table id="fills"><thead><tr><th>time (NY)</th><th>symbol</th><th>side</th><th>qty</th><th>price</th></tr></thead><tbody></tbody></table></section>
</main>
<script>
const token = new URLSearchParams(location.search).get('token');
const q = token ? ('?token=' + encodeURIComponent(token)) : '';
const usd = new Intl.NumberFormat('en-US', {style: 'currency', currency: 'USD'});
const ny = new Intl.DateTimeFormat('en-US', {timeZone: 'America/New_York', month: 'short', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false});
const pts = [], seen = new Set();
function add(t, e){ if (!seen.has(t)){ seen.add(t); pts.push([t, e]); pts.sort((a, b) => a[0] - b[0]); } }
function esc(s){return String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));}
function rows(id, list, cells){
  document.querySelector('#' + id + ' tbody').innerHTML =
    list.map(r => '<tr>' + cells(r).map(c => '<td>' + esc(c) + '</td>').join('') + '</tr>').join('');
}
function draw(){
  const line = document.getElementById('line');
  if (pts.length < 2){ line.setAttribute('points', ''); return; }
  const xs = pts.map(p => p[0]), ys = pts.map(p => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const sx = x1 > x0 ? 1000 / (x1 - x0) : 0, sy = y1 > y0 ? 200 / (y1 - y0) : 0;
  line.setAttribute('points', pts.map(p => ((p[0]-x0)*sx).toFixed(1) + ',' + (210-(p[1]-y0)*sy).toFixed(1)).join(' '));
  document.getElementById('range').textContent = usd.format(y0) + ' - ' + usd.format(y1) + ' over ' + pts.length + ' updates';
}
function show(s){
  if (!s || s.equity === undefined) return;
  document.getElementById('name').textContent = (s.name || 'admf') + ' live';
  document.getElementById('equity').textContent = usd.format(s.equity);
  document.getElementById('cash').textContent = usd.format(s.cash);
  document.getElementById('bars').textContent = s.bars;
  const k = document.getElementById('kill');
  if (s.stopping){ k.textContent = 'stopping'; k.className = 'bad'; }
  else if (s.kill_switch){ k.textContent = 'KILLED: ' + s.kill_switch; k.className = 'bad'; }
  else { k.textContent = 'trading'; k.className = 'ok'; }
  rows('positions', Object.entries(s.positions || {}), r => [r[0], r[1]]);
  rows('connections', Object.entries(s.connections || {}), r => [r[0], r[1]]);
  rows('orders', s.orders || [], o => [o.client_order_id, o.side, o.qty, o.type, o.status]);
  rows('fills', (s.fills || []).slice().reverse(), f => [ny.format(new Date(f.ts / 1e6)), f.symbol, f.side, f.qty, usd.format(f.price)]);
  if (typeof s.ts === 'number'){ add(s.ts, s.equity); draw(); }
}
fetch('/api/equity' + q).then(r => r.json()).then(h => { h.ts.forEach((t, i) => add(t, h.equity[i])); draw(); });
fetch('/api/state' + q).then(r => r.json()).then(show);
const es = new EventSource('/api/events' + q);
es.onmessage = e => show(JSON.parse(e.data));
const box = document.getElementById('stopbox');
document.getElementById('stop').onclick = () => {
  box.innerHTML = '<span>Cancel every open order and stop the session?</span>' +
    '<button class="confirm" id="confirm">Yes, cancel all and stop</button> <button id="keep">Keep trading</button>';
  document.getElementById('keep').onclick = () => location.reload();
  document.getElementById('confirm').onclick = () => {
    fetch('/api/stop' + q, {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({confirm: true})}).then(r => { box.innerHTML = r.ok ? '<span id="stopped">stopping...</span>' : '<span>refused</span>'; });
  };
};
</script></body></html>
"""
