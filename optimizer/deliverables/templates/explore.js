// explore.html's script (optimizer/deliverables/explore.py): runs inside Bokeh CustomJS
// callbacks whose args are the page's models; C (the page's config) is defined before it.
const W = C.words;
const fmt = (v, d) => (v === null || v === undefined || Number.isNaN(v)) ? '—' :
  Number(v).toLocaleString('en-US', {minimumFractionDigits: d || 0, maximumFractionDigits: d || 0});
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;',
  '"': '&quot;'}[c]));
const money = (v) => (v === null || v === undefined || Number.isNaN(v)) ? '—' :
  (C.zh ? fmt(v / 1e4, 1) + ' 万元' : fmt(v, 0) + ' yuan');
function scenarioIndex() {
  const S = scenarios.data;
  const n = S.label.length;
  if (n <= 1) return 0;
  const want = C.swept ? C.budgets[Math.round(budget.value)] : null;
  for (let i = 0; i < n; i++) {
    if (want !== null && S.budget[i] !== want) continue;
    let ok = true;
    for (const sel of selectors) {
      if (S['set:' + sel.title][i] !== sel.value) { ok = false; break; }
    }
    if (ok) return i;
  }
  return n - 1;
}
function update(clearSel) {
  const s = scenarioIndex();
  const D = sites.data;
  const t = type_filter.value;
  const q = search.value.trim().toLowerCase();
  const keep = new Array(D.site_id.length);
  for (let i = 0; i < keep.length; i++) {
    keep[i] = D.scenario[i] === s && (t === '' || D.facility_type[i] === t) &&
      (q === '' || D.site_id[i].toLowerCase().includes(q) ||
       D.site_name[i].toLowerCase().includes(q));
  }
  site_filter.booleans = keep;
  if (clearSel) sites.selected.indices = [];
  sites.change.emit();
  // block colours: the chosen type, before or after, in the shown scenario
  const V = coverage.data;
  const ty = C.types.indexOf(cover_type.value);
  const state = new Int8Array(blocks.data.block_id.length);
  const col = when.active === 0 ? V.before : V.after;
  for (let i = 0; i < V.block.length; i++) {
    if (V.scenario[i] === s && V.type[i] === ty) state[V.block[i]] = col[i];
  }
  blocks.data.state = Array.from(state);
  blocks.change.emit();
  marker.indices = [s];
  if (C.swept) budget.title = W.budget + ': ' + money(C.budgets[Math.round(budget.value)]);
  const S = scenarios.data;
  let html = '<table class="totals" data-scenario="' + esc(S.label[s]) + '">';
  const line = (k, v, attr) => { html += '<tr><th>' + esc(k) + '</th><td data-k="' + attr +
    '">' + v + '</td></tr>'; };
  line(W.scenario_shown, esc(S.label[s]), 'label');
  line(W.budget, money(S.budget[s]), 'budget');
  line(W.total_cost, money(S.cost_used[s]), 'cost_used');
  line(W.sites_opened, fmt(S.sites[s]), 'sites');
  line(W.facilities_built, fmt(S.facilities[s]), 'facilities');
  line(W.coverage_mean, fmt(S.coverage_pct[s], 1) + '%', 'coverage_pct');
  for (const k of C.types) {
    line(C.type_names[k], fmt(S['coverage_pct:' + k][s], 1) + '%', 'coverage_pct:' + k);
  }
  totals.text = html + '</table>';
  if (clearSel) block_details.text = '';
}
function pick() {
  // a site picked on the map or a row in the table: select every row of that site
  const D = sites.data;
  const idx = sites.selected.indices;
  const keep = site_filter.booleans;
  const ids = new Set(idx.map((i) => D.site_id[i]));
  const all = [];
  for (let i = 0; i < D.site_id.length; i++) {
    if (keep[i] && ids.has(D.site_id[i])) all.push(i);
  }
  const sorted = [...idx].sort((a, b) => a - b);
  const same = all.length === sorted.length && all.every((v, j) => v === sorted[j]);
  if (!same) { sites.selected.indices = all; return; }
  if (all.length === 0) { details.text = ''; return; }
  let html = '';
  for (const i of all) {
    html += '<table class="site" data-site="' + esc(D.site_id[i]) + '">' +
      '<tr><th>' + W.site + '</th><td>' + esc(D.site_id[i] + ' ' + D.site_name[i]) + '</td></tr>' +
      '<tr><th>' + W.year + '</th><td>' + esc(D.year_text[i]) + '</td></tr>' +
      '<tr><th>' + W.facility_type + '</th><td>' + esc(D.type_name[i]) + '</td></tr>' +
      '<tr><th>' + W.floor_area + '</th><td>' + fmt(D.floor_area_m2[i]) + '</td></tr>' +
      '<tr><th>' + W.capacity + '</th><td>' + fmt(D.capacity[i]) + '</td></tr>' +
      '<tr><th>' + W.cost + '</th><td>' + money(D.cost[i]) + '</td></tr>' +
      '<tr><th>' + W.cost_per_resident + '</th><td>' + fmt(D.cost_per_resident[i], 1) +
      '</td></tr>' +
      '<tr><th>' + W.newly_covered + '</th><td>' + fmt(D.newly_covered[i]) + '</td></tr>' +
      '<tr><th>' + W.essential + '</th><td>' + (D.essential[i] || '—') + '</td></tr>' +
      '<tr><th>' + W.status + '</th><td>' + esc(D.status[i]) + '</td></tr>' +
      '<tr><th>' + W.reason + '</th><td>' + esc(D.reason[i]) + '</td></tr></table><hr>';
  }
  details.text = html;
}
function blockInfo() {
  const idx = blocks.selected.indices;
  if (idx.length === 0) { block_details.text = ''; return; }
  const b = idx[0];
  const s = scenarioIndex();
  const V = coverage.data;
  const states = ['no_target', 'not', 'partly', 'covered', 'unreachable'];
  let html = '<table class="block" data-block="' + esc(blocks.data.block_id[b]) + '"><tr><th>' +
    W.block + '</th><td colspan="4">' + esc(blocks.data.block_id[b] + ' ' + blocks.data.name[b]) +
    '</td></tr><tr><th></th><th>' + W.before + '</th><th>' + W.after + '</th><th>' + W.served_by +
    '</th><th>' + W.walk + '</th></tr>';
  for (let i = 0; i < V.block.length; i++) {
    if (V.block[i] !== b || V.scenario[i] !== s) continue;
    html += '<tr><td>' + esc(C.type_names[C.types[V.type[i]]]) + '</td><td>' +
      W['state_' + states[V.before[i]]] + '</td><td>' + W['state_' + states[V.after[i]]] +
      '</td><td>' + esc(V.served_by[i] || '—') + '</td><td>' +
      (V.walk[i] >= 0 ? fmt(V.walk[i]) : '—') + '</td></tr>';
  }
  block_details.text = html + '</table>';
}
function compare() {
  const S = scenarios.data;
  const a = S.label.indexOf(extra_from.value), b = S.label.indexOf(extra_to.value);
  if (a < 0 || b < 0) { extra.text = ''; return; }
  const D = sites.data;
  const at = (s) => new Set(D.site_id.filter((_, i) => D.scenario[i] === s));
  const A = at(a), B = at(b);
  const added = [...B].filter((x) => !A.has(x)).sort();
  const dropped = [...A].filter((x) => !B.has(x)).sort();
  const V = coverage.data;
  const served = C.types.map(() => [0, 0]);
  for (let i = 0; i < V.block.length; i++) {
    const s = V.scenario[i];
    if (s === a) served[V.type[i]][0] += V.target[i] * V.share[i];
    else if (s === b) served[V.type[i]][1] += V.target[i] * V.share[i];
  }
  let html = '<table class="extra" data-added="' + added.length + '" data-dropped="' +
    dropped.length + '"><tr><th>' + W.extra_cost + '</th><td>' +
    money(S.cost_used[b] - S.cost_used[a]) + '</td></tr><tr><th>' + W.sites_added + ' (' +
    added.length + ')</th><td>' + (esc(added.join(', ')) || W.none) + '</td></tr><tr><th>' +
    W.sites_dropped + ' (' + dropped.length + ')</th><td>' + (esc(dropped.join(', ')) || W.none) +
    '</td></tr>';
  C.types.forEach((k, j) => {
    html += '<tr><th>' + W.newly_served + ': ' + esc(C.type_names[k]) + '</th><td data-type="' +
      k + '">' + fmt(served[j][1] - served[j][0]) + '</td></tr>';
  });
  extra.text = html + '</table>';
}
