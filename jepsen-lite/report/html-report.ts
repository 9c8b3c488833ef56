/**
 * The HTML report: one self-contained file (no network, no external script or style) with the
 * run's summary and checks, a timeline of every operation per client with the fault windows
 * shaded, latency and throughput over time, and for each violation the smallest failing
 * sub-history. The data is embedded as JSON and drawn as inline SVG by a small script; when the
 * script finishes it writes a marker into the page (`#render-status`, `body[data-rendered=ok]`),
 * which the report test looks for in headless Chromium.
 */
import { writeFileSync } from 'node:fs';
import type { HistoryRecord } from '../history.js';
import type { RunResults } from '../run.js';

/** What the page is drawn from. */
export interface ReportInput {
  readonly results: RunResults;
  readonly records: readonly HistoryRecord[];
}

/** Compact operation rows for the page: [id, client, f, key, status, call, ret, node, text]. */
type Row = [number, string, string, string, string, number, number | null, string, string];

function describe(r: Extract<HistoryRecord, { type: 'op' }>): string {
  switch (r.f) {
    case 'get':
      return r.status === 'ok' ? `get ${r.key} -> ${r.value === null ? 'absent' : JSON.stringify(r.value)}` : `get ${r.key}`;
    case 'put':
      return `put ${r.key} = ${JSON.stringify(r.value)}`;
    case 'cas':
      return `cas ${r.key} ${r.expected === null ? 'absent' : JSON.stringify(r.expected)} -> ${JSON.stringify(r.newValue)}${r.status === 'ok' ? (r.casOk === true ? ' swapped' : ' not swapped') : ''}`;
    case 'append':
      return `append ${r.element} to ${r.key}`;
    case 'read':
      return r.balances ? `read ${JSON.stringify(r.balances)}` : 'read';
    case 'transfer':
      return r.transfer ? `transfer ${r.transfer.amount} ${r.transfer.from} -> ${r.transfer.to}${r.transfer.succeeded === false ? ' (compare failed)' : ''}` : 'transfer';
    case 'setup':
      return 'setup';
  }
}

/** Writes the report to `path`. */
export function writeReport(path: string, input: ReportInput): void {
  writeFileSync(path, renderReport(input));
}

/** The page as a string. */
export function renderReport(input: ReportInput): string {
  const rows: Row[] = [];
  for (const r of input.records) {
    if (r.type !== 'op' || r.f === 'append') continue;
    const text = `${describe(r)}${r.error ? ` [${r.error.slice(0, 120)}]` : ''}`;
    rows.push([r.id, r.final === true ? 'final' : r.client, r.f, r.key ?? '', r.status, r.call, r.ret, r.node ?? '', text]);
  }
  const data = {
    results: input.results,
    rows,
    nemesis: input.records.filter((r) => r.type === 'nemesis'),
  };
  // JSON inside <script>: escape "<" so no "</script>" or "<!--" can end it early.
  const json = JSON.stringify(data).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  const title = `jepsen-lite ${input.results.ok ? 'PASS' : 'FAIL'}: ${input.results.options.workload} / ${input.results.options.nemeses.join(',') || 'none'}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${style}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p id="render-status" class="warn">The report's script did not run: the charts below are missing.</p>
<div id="app"></div>
<script type="application/json" id="data">${json}</script>
<script>${script}</script>
</body>
</html>
`;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const style = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; } td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
.pass { color: #1b7f2a; font-weight: bold; } .fail { color: #c1121f; font-weight: bold; } .warn { color: #b35c00; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; font-size: 12px; }
svg { background: #fff; border: 1px solid #eee; } .legend span { display: inline-block; margin-right: 14px; }
.sw { display: inline-block; width: 12px; height: 10px; margin-right: 4px; vertical-align: middle; }
`;

/** The page's script: plain ES2020, no template literals (this file embeds it in one). */
const script = `
(function () {
  'use strict';
  var status = document.getElementById('render-status');
  window.addEventListener('error', function (e) {
    document.body.setAttribute('data-render-error', String(e.message));
    status.textContent = 'Report script error: ' + e.message;
    status.className = 'fail';
  });
  var data = JSON.parse(document.getElementById('data').textContent);
  var res = data.results;
  var app = document.getElementById('app');
  var SVGNS = 'http://www.w3.org/2000/svg';
  var colors = { ok: '#2a9d3a', fail: '#d62828', indeterminate: '#f4a261' };

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in (attrs || {})) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in (attrs || {})) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function add(parent, child) { parent.appendChild(child); return child; }
  function section(title) { add(app, el('h2', {}, title)); return app; }
  function secs(ms) { return (ms / 1000).toFixed(1) + ' s'; }

  // Summary.
  var o = res.options;
  var p = add(app, el('p'));
  p.textContent = o.workload + ' workload, nemesis ' + (o.nemeses.join(',') || 'none') + ', ' + o.nodes + ' nodes, ' +
    o.timeSec + ' s, ' + o.concurrency + ' clients, seed ' + o.seed + '; network: ' + res.net.mechanism +
    ' (partitions: ' + res.net.methods.partition + '; latency: ' + res.net.methods.latency + '; loss: ' + res.net.methods.loss + ')';
  res.net.notes.forEach(function (n) { add(app, el('p', { class: 'warn' }, 'Note: ' + n)); });
  add(app, el('p', { class: res.ok ? 'pass' : 'fail' }, res.ok ? 'PASS: every check passed' : 'FAIL: at least one check failed'));

  section('Checks');
  var t = add(app, el('table'));
  var hr = add(t, el('tr')); ['check', 'result', 'summary'].forEach(function (h) { add(hr, el('th', {}, h)); });
  res.checks.forEach(function (c) {
    var tr = add(t, el('tr'));
    add(tr, el('td', {}, c.name));
    add(tr, el('td', { class: c.ok ? 'pass' : 'fail' }, c.ok ? 'PASS' : 'FAIL'));
    var td = add(tr, el('td', {}, c.summary));
    if (!c.ok && c.problems.length) add(td, el('pre', {}, c.problems.join('\\n')));
  });

  section('Operations');
  var ct = add(app, el('table'));
  var ch = add(ct, el('tr')); ['operation', 'ok', 'fail', 'indeterminate'].forEach(function (h) { add(ch, el('th', {}, h)); });
  Object.keys(res.counts).forEach(function (f) {
    var c = res.counts[f]; var tr = add(ct, el('tr'));
    [f, c.ok, c.fail, c.indeterminate].forEach(function (v) { add(tr, el('td', {}, String(v))); });
  });

  // Fault windows from the nemesis records.
  var rows = data.rows;
  var maxT = 1;
  rows.forEach(function (r) { maxT = Math.max(maxT, r[6] === null ? r[5] : r[6]); });
  var windows = [];
  var open = {};
  data.nemesis.forEach(function (n) {
    maxT = Math.max(maxT, n.at);
    if (n.action === 'start') open[n.id] = n;
    if (n.action === 'stop' && open[n.startId]) { windows.push({ s: open[n.startId].at, e: n.at, label: n.family + '/' + n.kind, detail: open[n.startId].detail }); delete open[n.startId]; }
  });
  Object.keys(open).forEach(function (k) { windows.push({ s: open[k].at, e: maxT, label: open[k].family + '/' + open[k].kind, detail: open[k].detail }); });

  var W = 1100, left = 70, right = 20;
  function x(tms) { return left + (tms / maxT) * (W - left - right); }
  function axis(g, y0, h) {
    var step = maxT > 120000 ? 30000 : maxT > 40000 ? 10000 : 5000;
    for (var s = 0; s <= maxT; s += step) {
      add(g, svg('line', { x1: x(s), x2: x(s), y1: y0, y2: y0 + h, stroke: '#eee' }));
      add(g, svg('text', { x: x(s), y: y0 + h + 12, 'font-size': 10, 'text-anchor': 'middle' }, (s / 1000) + ' s'));
    }
  }
  function shade(g, y0, h, labels) {
    windows.forEach(function (w) {
      var r = add(g, svg('rect', { x: x(w.s), y: y0, width: Math.max(1, x(w.e) - x(w.s)), height: h, fill: '#fde2e4', opacity: 0.7 }));
      add(r, svg('title', {}, w.label + ': ' + w.detail));
      if (labels) add(g, svg('text', { x: x(w.s) + 2, y: y0 + 10, 'font-size': 10, fill: '#9d0208' }, w.label));
    });
  }

  section('Timeline (one row per client; shaded: fault windows)');
  var legend = add(app, el('div', { class: 'legend' }));
  ['ok', 'fail', 'indeterminate'].forEach(function (s) { var sp = add(legend, el('span')); add(sp, el('span', { class: 'sw', style: 'background:' + colors[s] })); add(sp, document.createTextNode(s)); });
  var clients = [];
  rows.forEach(function (r) { if (clients.indexOf(r[1]) < 0) clients.push(r[1]); });
  clients.sort(function (a, b) { return (a === 'final') - (b === 'final') || a.localeCompare(b, 'en', { numeric: true }); });
  var rowH = 14, top = 16;
  var H = top + clients.length * rowH + 20;
  var tl = add(app, svg('svg', { width: W, height: H, viewBox: '0 0 ' + W + ' ' + H }));
  shade(tl, 0, H - 20, true);
  axis(tl, 0, H - 20);
  clients.forEach(function (c, i) { add(tl, svg('text', { x: 4, y: top + i * rowH + 10, 'font-size': 10 }, c)); });
  rows.forEach(function (r) {
    var i = clients.indexOf(r[1]);
    var end = r[6] === null ? Math.min(maxT, r[5] + 5000) : r[6];
    var rect = add(tl, svg('rect', { x: x(r[5]), y: top + i * rowH + 2, width: Math.max(1, x(end) - x(r[5])), height: rowH - 5,
      fill: colors[r[4]] || '#888', opacity: r[6] === null ? 0.45 : 0.9 }));
    add(rect, svg('title', {}, '#' + r[0] + ' ' + r[1] + ' ' + r[8] + ' ' + r[4] + ' @' + r[5].toFixed(1) + '-' + (r[6] === null ? '?' : r[6].toFixed(1)) + ' ms on ' + r[7]));
  });

  section('Latency (log scale) and throughput');
  var LH = 220;
  var lat = add(app, svg('svg', { width: W, height: LH + 20, viewBox: '0 0 ' + W + ' ' + (LH + 20) }));
  shade(lat, 0, LH, false);
  axis(lat, 0, LH);
  var maxLat = 10;
  rows.forEach(function (r) { if (r[6] !== null) maxLat = Math.max(maxLat, r[6] - r[5]); });
  var lmax = Math.log10(maxLat * 1.2);
  function ly(ms) { return LH - (Math.log10(Math.max(1, ms)) / lmax) * (LH - 10); }
  [1, 10, 100, 1000, 10000].forEach(function (v) {
    if (v > maxLat * 1.2) return;
    add(lat, svg('line', { x1: left, x2: W - right, y1: ly(v), y2: ly(v), stroke: '#eee' }));
    add(lat, svg('text', { x: 4, y: ly(v) + 3, 'font-size': 10 }, v + ' ms'));
  });
  rows.forEach(function (r) {
    if (r[6] === null || r[1] === 'final') return;
    add(lat, svg('circle', { cx: x(r[5]), cy: ly(r[6] - r[5]), r: 1.6, fill: colors[r[4]] || '#888', opacity: 0.6 }));
  });

  var bins = Math.max(1, Math.ceil(maxT / 1000));
  var okPerSec = new Array(bins).fill(0), badPerSec = new Array(bins).fill(0);
  rows.forEach(function (r) {
    if (r[1] === 'final') return;
    var b = Math.min(bins - 1, Math.floor((r[6] === null ? r[5] : r[6]) / 1000));
    if (r[4] === 'ok') okPerSec[b]++; else badPerSec[b]++;
  });
  var TH = 160;
  var thr = add(app, svg('svg', { width: W, height: TH + 20, viewBox: '0 0 ' + W + ' ' + (TH + 20) }));
  shade(thr, 0, TH, false);
  axis(thr, 0, TH);
  var maxRate = Math.max.apply(null, okPerSec.concat(badPerSec).concat([1]));
  function ty(v) { return TH - (v / maxRate) * (TH - 10); }
  function line(series, color) {
    var pts = series.map(function (v, i) { return x(i * 1000 + 500).toFixed(1) + ',' + ty(v).toFixed(1); }).join(' ');
    add(thr, svg('polyline', { points: pts, fill: 'none', stroke: color, 'stroke-width': 1.5 }));
  }
  line(okPerSec, colors.ok);
  line(badPerSec, colors.fail);
  add(thr, svg('text', { x: 4, y: 12, 'font-size': 10 }, maxRate + ' ops/s'));
  add(app, el('p', {}, 'Green: successful operations per second; red: failed or indeterminate.'));

  // Violations: the smallest failing sub-history of each non-linearizable key.
  var lin = res.checks.filter(function (c) { return c.name === 'linearizability'; })[0];
  var failures = lin && lin.data && lin.data.failures ? lin.data.failures : [];
  if (failures.length) {
    section('Smallest failing sub-histories');
    failures.forEach(function (f) {
      add(app, el('h3', {}, 'key ' + JSON.stringify(f.key) + ': ' + f.verdict + ' (' + f.minimal.length + ' of ' + f.opsOnKey + ' operations)'));
      add(app, el('p', {}, f.explanation));
      var ops = f.minimal;
      var lo = Infinity, hi = 0, cl = [];
      ops.forEach(function (op) { lo = Math.min(lo, op.call); hi = Math.max(hi, op.ret === null ? op.call : op.ret); if (cl.indexOf(op.client) < 0) cl.push(op.client); });
      hi = Math.max(hi, lo + 1);
      var span = hi - lo;
      var mh = 20 + cl.length * 22;
      var m = add(app, svg('svg', { width: W, height: mh, viewBox: '0 0 ' + W + ' ' + mh }));
      function mx(tms) { return 120 + ((tms - lo) / (span * 1.15)) * (W - 140); }
      cl.forEach(function (c, i) { add(m, svg('text', { x: 4, y: 16 + i * 22 + 10, 'font-size': 11 }, c)); });
      ops.forEach(function (op) {
        var i = cl.indexOf(op.client);
        var end = op.ret === null ? lo + span * 1.15 : op.ret;
        var r = add(m, svg('rect', { x: mx(op.call), y: 16 + i * 22, width: Math.max(2, mx(end) - mx(op.call)), height: 14, fill: colors[op.status], opacity: op.ret === null ? 0.45 : 0.85 }));
        add(r, svg('title', {}, '#' + op.id + ' ' + op.kind));
        var label = op.kind + (op.kind === 'get' ? ' -> ' + JSON.stringify(op.value) : op.kind === 'put' ? ' ' + JSON.stringify(op.value) : ' ' + JSON.stringify(op.expected) + ' -> ' + JSON.stringify(op.newValue) + (op.casOk === false ? ' (no)' : ''));
        add(m, svg('text', { x: mx(op.call) + 2, y: 16 + i * 22 + 11, 'font-size': 10 }, label));
      });
      add(app, el('pre', {}, f.lines.join('\\n')));
      if (f.context && f.context.length) {
        add(app, el('p', {}, 'Where the values it reads came from (context, not part of the failing sub-history):'));
        add(app, el('pre', {}, f.context.join('\\n')));
      }
    });
  }

  section('Faults');
  var ft = add(app, el('table'));
  var fh = add(ft, el('tr')); ['at', 'family', 'kind', 'action', 'nodes', 'detail'].forEach(function (h) { add(fh, el('th', {}, h)); });
  data.nemesis.forEach(function (n) {
    var tr = add(ft, el('tr'));
    [secs(n.at), n.family, n.kind, n.action, n.nodes.join(' '), n.detail].forEach(function (v) { add(tr, el('td', {}, String(v))); });
  });
  var heals = res.heals || [];
  if (heals.length) {
    section('After each heal');
    var ht = add(app, el('table'));
    var hh = add(ht, el('tr')); ['healed at', 'fault', 'first ok write after', 'longest write gap', 'leader before', 'leader after'].forEach(function (h) { add(hh, el('th', {}, h)); });
    heals.forEach(function (h) {
      var tr = add(ht, el('tr'));
      function leader(l) { return l ? l.id + ' (term ' + l.term + ')' : '-'; }
      [secs(h.healAt), h.family + '/' + h.kind, h.recoveryMs === null ? '-' : secs(h.recoveryMs), h.longestWriteGapMs === null ? '-' : secs(h.longestWriteGapMs),
        leader(h.leaderBefore), leader(h.leaderAfter) + (h.leaderDeposed ? ' DEPOSED' : '')].forEach(function (v) { add(tr, el('td', {}, v)); });
    });
  }

  status.textContent = 'Rendered ' + rows.length + ' operations and ' + windows.length + ' fault windows.';
  status.className = '';
  document.body.setAttribute('data-rendered', 'ok');
})();
`;
