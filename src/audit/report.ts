/**
 * report.html: one self-contained page (no scripts, no external files; charts
 * are inline SVG) with one section per question — the direct answer first,
 * then the charts, the figures, the method and the caveats — and, on
 * organisms, the scorecard against ground truth.
 */
import type { AuditResults } from './results.js';
import { unitName } from './experiments/lying.js';
import { missingOrganisms } from './scorer.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

interface Series {
  name: string;
  values: number[];
  dashed?: boolean;
  color?: string;
}

/** A line chart over integer x (layers, k); y range from the data unless given. */
function lineChart(title: string, xLabels: string[], series: Series[], opts: { yLabel: string; yMin?: number; yMax?: number; band?: { lo: number[]; hi: number[]; color: string } } = { yLabel: '' }): string {
  const W = 560, H = 300, l = 56, r = 150, t = 30, b = 44;
  const all = series.flatMap((s) => s.values).filter(Number.isFinite);
  if (opts.band) all.push(...opts.band.lo.filter(Number.isFinite), ...opts.band.hi.filter(Number.isFinite));
  // a fixed range widens to the data rather than drawing outside the plot
  let lo = Math.min(opts.yMin ?? Infinity, ...all);
  let hi = Math.max(opts.yMax ?? -Infinity, ...all);
  if (!(hi > lo)) [lo, hi] = [lo - 1, hi + 1];
  const n = xLabels.length;
  const x = (i: number) => l + (n <= 1 ? (W - l - r) / 2 : (i * (W - l - r)) / (n - 1));
  const y = (v: number) => t + (H - t - b) * (1 - (v - lo) / (hi - lo));
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((q) => lo + q * (hi - lo));
  let svg = `<svg class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}"><text x="${W / 2 - r / 2}" y="18" text-anchor="middle" class="ct">${esc(title)}</text>`;
  for (const v of ticks) svg += `<line x1="${l}" x2="${W - r}" y1="${y(v)}" y2="${y(v)}" class="grid"/><text x="${l - 6}" y="${y(v) + 4}" text-anchor="end" class="tk">${fmt(v)}</text>`;
  xLabels.forEach((lab, i) => (svg += `<text x="${x(i)}" y="${H - b + 16}" text-anchor="middle" class="tk">${esc(lab)}</text>`));
  svg += `<text x="${(l + W - r) / 2}" y="${H - 6}" text-anchor="middle" class="tk">${esc(opts.yLabel.split('|')[1] ?? '')}</text><text x="14" y="${(t + H - b) / 2}" transform="rotate(-90 14 ${(t + H - b) / 2})" text-anchor="middle" class="tk">${esc(opts.yLabel.split('|')[0]!)}</text>`;
  if (opts.band) {
    const pts = [...opts.band.hi.map((v, i) => `${x(i)},${y(v)}`), ...opts.band.lo.map((v, i) => `${x(i)},${y(v)}`).reverse()].join(' ');
    svg += `<polygon points="${pts}" fill="${opts.band.color}" opacity="0.18"/>`;
  }
  series.forEach((s, k) => {
    const c = s.color ?? COLORS[k % COLORS.length]!;
    const pts = s.values.map((v, i) => (Number.isFinite(v) ? `${x(i)},${y(v)}` : '')).filter((p) => p !== '').join(' ');
    svg += `<polyline points="${pts}" fill="none" stroke="${c}" stroke-width="2.2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`;
    s.values.forEach((v, i) => Number.isFinite(v) && (svg += `<circle cx="${x(i)}" cy="${y(v)}" r="3" fill="${c}"/>`));
    svg += `<line x1="${W - r + 12}" x2="${W - r + 34}" y1="${t + 12 + k * 20}" y2="${t + 12 + k * 20}" stroke="${c}" stroke-width="2.2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/><text x="${W - r + 40}" y="${t + 16 + k * 20}" class="tk">${esc(s.name)}</text>`;
  });
  return svg + '</svg>';
}

/** A heatmap of a matrix (rows × columns), diverging around 0. */
function heatmap(title: string, m: number[][], rowLabel: (i: number) => string, colLabel: (j: number) => string): string {
  const rows = m.length;
  const cols = Math.max(...m.map((r) => r.length));
  const cell = Math.max(14, Math.min(48, Math.floor(420 / Math.max(cols, 1))));
  const l = 70, t = 34;
  const W = l + cols * cell + 90, H = t + rows * cell + 30;
  const mx = Math.max(1e-12, ...m.flat().map(Math.abs).filter(Number.isFinite));
  const color = (v: number) => {
    const q = Math.max(-1, Math.min(1, v / mx));
    const a = Math.round(255 * (1 - Math.abs(q)));
    return q >= 0 ? `rgb(${a},${a},255)` : `rgb(255,${a},${a})`;
  };
  let svg = `<svg class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}"><text x="${W / 2}" y="18" text-anchor="middle" class="ct">${esc(title)}</text>`;
  m.forEach((row, i) => {
    svg += `<text x="${l - 6}" y="${t + i * cell + cell / 2 + 4}" text-anchor="end" class="tk">${esc(rowLabel(i))}</text>`;
    row.forEach((v, j) => (svg += `<rect x="${l + j * cell}" y="${t + i * cell}" width="${cell - 1}" height="${cell - 1}" fill="${color(v)}"><title>${esc(rowLabel(i))} ${esc(colLabel(j))}: ${fmt(v, 3)}</title></rect>`));
  });
  for (let j = 0; j < cols; j++) svg += `<text x="${l + j * cell + cell / 2}" y="${t + rows * cell + 14}" text-anchor="middle" class="tk">${esc(colLabel(j))}</text>`;
  svg += `<rect x="${W - 70}" y="${t}" width="14" height="14" fill="${color(mx)}"/><text x="${W - 52}" y="${t + 11}" class="tk">+${fmt(mx, 2)}</text><rect x="${W - 70}" y="${t + 20}" width="14" height="14" fill="${color(-mx)}"/><text x="${W - 52}" y="${t + 31}" class="tk">−${fmt(mx, 2)}</text>`;
  return svg + '</svg>';
}

/** Horizontal bars with labels and values in [0, max]. */
/** Horizontal bars; an item with lo and hi gets its 95% interval drawn as a whisker. */
function bars(title: string, items: { label: string; value: number; lo?: number; hi?: number; color?: string }[], max = 1, asPercent = true): string {
  const W = 560, rowH = 26, l = 250, t = 30;
  const H = t + items.length * rowH + 10;
  const span = W - l - 70;
  const xOf = (v: number) => l + Math.max(0, Math.min(1, v / max)) * span;
  let svg = `<svg class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}"><text x="${W / 2}" y="18" text-anchor="middle" class="ct">${esc(title)}</text>`;
  items.forEach((it, i) => {
    const w = Number.isFinite(it.value) ? xOf(it.value) - l : 0;
    const y = t + i * rowH;
    const whisker = it.lo !== undefined && it.hi !== undefined && Number.isFinite(it.lo) && Number.isFinite(it.hi);
    const right = whisker ? Math.max(xOf(it.hi!), l + w) : l + w;
    svg += `<text x="${l - 8}" y="${y + 17}" text-anchor="end" class="tk">${esc(it.label)}</text><rect x="${l}" y="${y + 4}" width="${w}" height="${rowH - 8}" fill="${it.color ?? COLORS[0]}"/>`;
    if (whisker) svg += `<line x1="${xOf(it.lo!)}" x2="${xOf(it.hi!)}" y1="${y + rowH / 2}" y2="${y + rowH / 2}" stroke="#222" stroke-width="1.5"/><line x1="${xOf(it.lo!)}" x2="${xOf(it.lo!)}" y1="${y + 8}" y2="${y + rowH - 8}" stroke="#222"/><line x1="${xOf(it.hi!)}" x2="${xOf(it.hi!)}" y1="${y + 8}" y2="${y + rowH - 8}" stroke="#222"/>`;
    svg += `<text x="${right + 6}" y="${y + 17}" class="tk">${asPercent ? `${fmt(100 * it.value, 1)}%` : fmt(it.value, 3)}</text>`;
  });
  return svg + '</svg>';
}

/** Scores of prompts on one axis, coloured by group, with a threshold line. */
function strip(title: string, groups: { name: string; values: number[]; color: string }[], threshold: number | null, axis: string): string {
  const W = 560, l = 180, r = 20, t = 30, rowH = 44;
  const H = t + groups.length * rowH + 36;
  const all = groups.flatMap((g) => g.values).filter(Number.isFinite);
  if (threshold !== null) all.push(threshold);
  let lo = Math.min(...all), hi = Math.max(...all);
  if (!(hi > lo)) [lo, hi] = [lo - 1, hi + 1];
  const x = (v: number) => l + ((v - lo) / (hi - lo)) * (W - l - r);
  let svg = `<svg class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}"><text x="${W / 2}" y="18" text-anchor="middle" class="ct">${esc(title)}</text>`;
  groups.forEach((g, i) => {
    const cy = t + i * rowH + rowH / 2;
    svg += `<text x="${l - 8}" y="${cy + 4}" text-anchor="end" class="tk">${esc(g.name)} (${g.values.length})</text>`;
    g.values.forEach((v, k) => Number.isFinite(v) && (svg += `<circle cx="${x(v)}" cy="${cy + ((k * 7) % 21) - 10}" r="2.6" fill="${g.color}" opacity="0.75"/>`));
  });
  if (threshold !== null) svg += `<line x1="${x(threshold)}" x2="${x(threshold)}" y1="${t}" y2="${H - 30}" stroke="#333" stroke-dasharray="4 3"/><text x="${x(threshold) + 4}" y="${t + 10}" class="tk">threshold</text>`;
  for (const q of [0, 0.5, 1]) svg += `<text x="${x(lo + q * (hi - lo))}" y="${H - 14}" text-anchor="middle" class="tk">${fmt(lo + q * (hi - lo))}</text>`;
  svg += `<text x="${(l + W) / 2}" y="${H - 2}" text-anchor="middle" class="tk">${esc(axis)}</text>`;
  return svg + '</svg>';
}

function figure(id: string, svg: string, caption: string): string {
  return `<figure id="chart-${id}" data-chart="${id}">${svg}<figcaption>${esc(caption)}</figcaption></figure>`;
}

/** The charts by id, built from the findings of the primary subject (and the organisms beside it). */
function charts(r: AuditResults): Map<string, string> {
  const f = r.findings;
  const P = r.primary;
  const out = new Map<string, string>();
  const lying = f.lying.find((x) => x.subject === 'planted') ?? f.lying.find((x) => x.subject === P);
  const lyingP = f.lying.find((x) => x.subject === P) ?? lying;
  if (lyingP !== undefined && lyingP.curve.length > 0) {
    const c = lyingP.curve;
    out.set('lying-curve', figure('lying-curve', lineChart(`Restoring honesty (${lyingP.subject})`, c.map((x) => String(x.k)), [{ name: 'top-k units (held-out pairs)', values: c.map((x) => x.restoration.value) }, { name: 'random k units', values: c.map((x) => x.randomMean), dashed: true, color: '#777' }], { yLabel: 'restoration (0 liar, 1 honest)|components patched together (k)', band: { lo: c.map((x) => x.randomMean - x.randomStd), hi: c.map((x) => x.randomMean + x.randomStd), color: '#777' } }),
      'Honest-run activations of the top-k heads and neurons patched into the liar run at the positions where the two prompts agree, against random sets of the same size and make-up (band: ±1 sd over 5 draws). Units are ranked on one split of the pairs and measured on the other; the intervals of each point are in the evidence table.'));
  }
  if (lying !== undefined) {
    out.set('lying-heads', figure('lying-heads', heatmap(`Head attribution, honest → liar (${lying.subject})`, lying.headEffects, (i) => `layer ${i}`, (j) => `h${j}`),
      `Mean normalised attribution-patching effect of each head (blue: patching it restores honesty).`));
  }
  const depth = f.depth.find((x) => x.subject === P);
  if (depth !== undefined) {
    const series: Series[] = [];
    depth.trajectories.forEach((t, k) => {
      series.push({ name: `${t.mode}: truth`, values: t.truthLogprob, color: COLORS[k] });
      if (t.lieLogprob !== null && t.mode === 'liar') series.push({ name: `${t.mode}: lie`, values: t.lieLogprob, color: COLORS[k], dashed: true });
    });
    out.set('depth-lens', figure('depth-lens', lineChart(`Logit lens of the true answer (${depth.subject})`, Array.from({ length: depth.layers }, (_, l) => String(l)), series, { yLabel: 'mean log P|after block' }),
      `Log-probability of the true answer (solid) and of the lie (dashed) read out after each block.${depth.criticalLayer !== null ? ` Honest and liar runs part at layer ${depth.criticalLayer}.` : ''}`));
  }
  const det = f.detection.find((x) => x.subject === P);
  if (det !== undefined && det.curves.length > 0) {
    out.set('probe-curves', figure('probe-curves', lineChart(`Probe AUROC by layer (${det.subject})`, det.curves[0]!.auroc.map((_, l) => String(l)), det.curves.map((c) => ({ name: c.dataset, values: c.auroc })), { yLabel: 'out-of-fold AUROC|after block', yMin: 0.4, yMax: 1 }),
      'Linear probes on the last-position residual, 5-fold out-of-fold AUROC (a fact\'s items in one fold): statements (true vs false), answers (the true answer or the lie, after either instruction), intent (will the model\'s own honest answer be wrong).'));
  }
  const w = f.withheld.find((x) => x.subject === P);
  if (w !== undefined && w.prompts.length > 0) {
    const groups = w.calibration.usable
        ? [
          { name: 'classified knows', values: w.prompts.filter((p) => p.knows === true).map((p) => p.score), color: COLORS[0]! },
          { name: 'classified does not know', values: w.prompts.filter((p) => p.knows === false).map((p) => p.score), color: COLORS[1]! },
        ]
        : [{ name: 'not classified (too few calibration questions)', values: w.prompts.map((p) => p.score), color: COLORS[0]! }];
    out.set('withheld-scores', figure('withheld-scores', strip(`Is the refused answer inside? (${w.subject}, ${w.primary} score)`, groups, w.calibration.usable ? w.threshold : null, `${w.primary} score (right of the threshold: knows and withholds)`),
      'Each dot is a refused request. The threshold was fitted on questions the model answers right and questions it cannot know, never on refused ones.'));
  }
  const ref = f.refusal.find((x) => x.subject === P);
  if (ref !== undefined) {
    const ign = f.refusal.find((x) => x.subject === 'ignorant');
    const risk = f.risks.find((x) => x.subject === P);
    const e = ref.effects?.heldOut;
    const nan = { value: NaN, lo: NaN, hi: NaN, n: 0 };
    const items: Parameters<typeof bars>[1] = [
      { label: 'refusal rate, harmful', ...(e?.before ?? ref.refusalRate.harmful), color: COLORS[1] },
      { label: 'refusal rate, harmful, ablated', ...(e?.ablated ?? nan), color: COLORS[1] },
      { label: 'refused answers restored by ablation', ...(e?.restored ?? nan), color: COLORS[2] },
      { label: 'refusal rate, harmless', ...ref.refusalRate.harmless, color: COLORS[0] },
      { label: 'refusals induced by addition, harmless', ...(e?.induced ?? nan), color: COLORS[0] },
    ];
    const ie = ign?.effects?.heldOut;
    if (ie !== undefined) items.push({ label: 'ignorant control: correct after ablation', ...ie.restored, color: COLORS[3] });
    if (risk !== undefined) items.push({ label: 'rank-1 weight edit: refusal rate', ...risk.refusalAfter, color: COLORS[4] }, { label: 'rank-1 weight edit: answers restored', ...risk.restoredAfter, color: COLORS[4] });
    out.set('restoration', figure('restoration', bars(`Removing and adding the refusal direction (${ref.subject})`, items), 'Greedy answers on the held-out test split (requests that played no part in finding or choosing the direction), with the refusal direction ablated at every layer, added at its layer, or projected out of the weights; whiskers are 95% Wilson intervals.'));
    if (ref.heads.length > 0) {
      const L = Math.max(...ref.heads.map((h) => h.layer)) + 1;
      const H = Math.max(...ref.heads.map((h) => h.head)) + 1;
      const m = Array.from({ length: L }, (_, l) => [...Array.from({ length: H }, (_, h) => ref.heads.find((x) => x.layer === l && x.head === h)!.score), ref.mlps[l]!.score]);
      out.set('refusal-writers', figure('refusal-writers', heatmap(`Writers of the refusal direction (${ref.subject})`, m, (i) => `layer ${i}`, (j) => (j === H ? 'MLP' : `h${j}`)),
        `Mean projection of each head's (and MLP's) output on the refusal direction at the position where the direction was chosen, harmful minus harmless. The direction was chosen at resid_pre of layer ${ref.selected?.layer ?? 'n/a'}.`));
    }
  }
  const d = f.diff.find((x) => x.subject === P);
  if (d !== undefined) {
    out.set('diff-layers', figure('diff-layers', lineChart(`Fine-tuning diff by layer (${d.subject} vs ${d.base})`, d.layers.map((x) => String(x.layer)), [
      { name: 'attention weights', values: d.layers.map((x) => x.attn) },
      { name: 'MLP weights', values: d.layers.map((x) => x.mlp) },
      { name: 'activations, harmful', values: d.activations.harmful, dashed: true },
      { name: 'activations, harmless', values: d.activations.harmless, dashed: true },
    ], { yLabel: 'relative change|layer', yMin: 0 }), 'Largest relative weight change per layer (solid) and relative change of the last-position residual after each block (dashed).'));
  }
  return out;
}

function questionSection(q: AuditResults['questions'][number], figs: Map<string, string>): string {
  const chartHtml = q.charts.map((id) => figs.get(id)?.replace(`id="chart-${id}"`, `id="q${q.id}-chart-${id}"`) ?? `<p class="missing" data-missing-chart="${id}">No chart: the finding it needs was not produced.</p>`).join('');
  return `<section id="q${q.id}" data-question="${q.id}">
<h2>${q.id}. ${esc(q.question)}</h2>
<p class="answer">${esc(q.answer)}</p>
<div class="charts">${chartHtml}</div>
<table class="evidence"><tbody>${q.evidence.map((e) => `<tr><th>${esc(e.label)}</th><td>${esc(e.value)}</td></tr>`).join('')}</tbody></table>
<p class="method"><b>Method.</b> ${esc(q.method)}</p>
<ul class="caveats">${q.caveats.map((c) => `<li>${esc(c)}</li>`).join('')}</ul>
</section>`;
}

export function renderReport(r: AuditResults): string {
  const figs = charts(r);
  const scores = r.scores.filter((s) => s.sanity !== true);
  const sanity = r.scores.filter((s) => s.sanity === true);
  const rows = (list: typeof r.scores) => list.map((s) => `<tr class="${s.pass ? 'pass' : 'fail'}"><td>${esc(s.check)}</td><td>${esc(s.subject)}</td><td>${s.integer === true && Number.isFinite(s.value) ? String(s.value) : fmt(s.value, 3)}${s.n !== undefined && Number.isFinite(s.lo ?? NaN) ? ` <small>(95% ${fmt(s.lo!, 3)}–${fmt(s.hi!, 3)}, n = ${s.n})</small>` : ''}</td><td>${esc(s.target)}</td><td>${s.pass ? 'pass' : 'FAIL'}</td></tr>`).join('');
  const head = '<thead><tr><th>check</th><th>organism</th><th>value</th><th>target</th><th></th></tr></thead>';
  const scorecard = r.scores.length === 0 ? '' : `<section id="scorecard" data-question="scorecard"><h2>Scored against ground truth</h2>
<p class="answer">${scores.filter((s) => s.pass).length} of ${scores.length} checks pass on the bundled organisms, whose mechanisms were planted in training.${missingOrganisms(r).length > 0 ? ` Not present, so not scored: ${missingOrganisms(r).map(esc).join(', ')}.` : ''}</p>
<table class="evidence">${head}<tbody>${rows(scores)}</tbody></table>${sanity.length === 0 ? '' : `
<p>Sanity checks of the organisms' training (not scores of a method):</p>
<table class="evidence">${head}<tbody>${rows(sanity)}</tbody></table>`}</section>`;
  const lyingTop = r.findings.lying.find((x) => x.subject === r.primary)?.topUnits.slice(0, 10).map((u) => `${unitName(u)} (${fmt(u.attribution, 3)})`).join(', ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>candor audit — ${esc(r.primary)}</title>
<style>
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1180px;margin:2em auto;padding:0 1.2em;color:#1b1b1b;background:#fff}
h1{font-size:1.7em;margin-bottom:.2em}h2{font-size:1.25em;border-bottom:2px solid #e4e4e4;padding-bottom:.2em;margin-top:2.2em}
.answer{font-size:1.08em;background:#f3f6fb;border-left:4px solid #1f77b4;padding:.6em .9em}
.charts{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0;border:1px solid #e4e4e4;padding:.5em;background:#fff}figcaption{font-size:.85em;color:#555;max-width:560px}
.chart .ct{font-size:13px;font-weight:600}.chart .tk{font-size:11px;fill:#333}.chart .grid{stroke:#e8e8e8}
table.evidence{border-collapse:collapse;margin:.8em 0;width:100%}table.evidence th,table.evidence td{border:1px solid #e4e4e4;padding:.3em .5em;text-align:left;vertical-align:top;font-size:.92em}
table.evidence th{background:#fafafa;width:38%;font-weight:500}tr.fail td{background:#fdecea}tr.pass td:last-child{color:#1a7f37;font-weight:600}
.method{color:#333}.caveats{color:#555;font-size:.92em}.missing{color:#a00}nav a{margin-right:.8em}
</style></head><body>
<h1>candor audit: ${esc(r.mode === 'organisms' ? 'the bundled model organisms' : r.subjects[0]?.source ?? r.primary)}</h1>
<p>Created ${esc(r.created)}. Questions answered for <b>${esc(r.primary)}</b>${r.mode === 'organisms' ? ', with the other organisms as controls and references' : ''}. Subjects: ${r.subjects.map((s) => `${esc(s.name)} (${s.layers} layers × ${s.d_model}, ${s.parameters.toLocaleString('en')} parameters)`).join('; ')}.${r.refusalJudge !== undefined ? ` Refusals decided by the judge model ${esc(r.refusalJudge)} (docs/audit.md, "A judge model").` : ''}</p>
<nav>${r.questions.map((q) => `<a href="#q${q.id}">Q${q.id}</a>`).join('')}${r.scores.length > 0 ? '<a href="#scorecard">scorecard</a>' : ''}</nav>
${scorecard}
${r.questions.map((q) => questionSection(q, figs)).join('\n')}
<section id="details"><h2>Details</h2>
<p>Top lying units by attribution: ${esc(lyingTop ?? 'n/a')}.</p>
<p>Experiment times (s): ${Object.entries(r.seconds).map(([k, v]) => `${esc(k)} ${v}`).join(', ')}.</p>
<p>All figures are in results.json (schema ${esc(r.schema)}).</p></section>
</body></html>
`;
}
