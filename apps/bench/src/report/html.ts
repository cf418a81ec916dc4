/**
 * The HTML report: one self-contained file (inline CSS and SVG, no scripts, nothing fetched):
 * the accuracy/stability table and the efficiency table, accuracy with error bars per row and
 * task, the expert-load distribution per row, and the training loss curves per task.
 */
import { barChart, esc, lineChart } from './svg.js';
import { bestIndices, meanLossCurve, taskLabel, type ResultEntry, type Summary } from './summary.js';
import { count, fixed, pct, rate } from './format.js';
import { PAPER_REFERENCE, seedNote, type ReportMeta } from './markdown.js';

const CSS = `
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 12px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
td.best{font-weight:bold}
.meta,.note{color:#555;font-size:13px}
svg.chart{display:block;margin:12px 0;max-width:100%;height:auto}
svg .tick,svg .category,svg .legend text{fill:#333}
svg .chart-title{font-weight:600;font-size:13px}
`;

function accuracyTableHtml(s: Summary): string {
  const tasks = s.tasks.map(taskLabel);
  const accCols = [...s.tasks.map((t) => s.variants.map((v) => v.cells[t]?.mean ?? NaN)), s.variants.map((v) => v.avgAcc)];
  const stdCols = [...s.tasks.map((t) => s.variants.map((v) => v.cells[t]?.std ?? NaN)), s.variants.map((v) => v.avgStd)];
  const bestAcc = accCols.map((c) => bestIndices(c, 'max'));
  const bestStd = stdCols.map((c) => bestIndices(c, 'min'));
  const td = (x: number, best: boolean, title: string) => `<td${best ? ' class="best"' : ''} title="${esc(title)}">${best ? `<b>${pct(x)}</b>` : pct(x)}</td>`;
  const head =
    `<tr><th rowspan="2">Method</th><th colspan="${tasks.length + 1}">Accuracy (%) ↑</th><th colspan="${tasks.length + 1}">Stability (std, pp) ↓</th></tr>` +
    `<tr>${[...tasks, 'Avg.', ...tasks, 'Avg.'].map((t) => `<th>${esc(t)}</th>`).join('')}</tr>`;
  const rows = s.variants.map((v, i) => {
    const cells = [
      ...accCols.map((c, j) => td(c[i]!, bestAcc[j]!.has(i), j < s.tasks.length ? `n=${v.cells[s.tasks[j]!]?.n ?? 0}` : 'mean over tasks')),
      ...stdCols.map((c, j) => td(c[i]!, bestStd[j]!.has(i), j < s.tasks.length ? `n=${v.cells[s.tasks[j]!]?.n ?? 0}` : 'mean over tasks')),
    ];
    return `<tr data-variant="${esc(v.key)}"><td>${esc(v.label)}</td>${cells.join('')}</tr>`;
  });
  return `<table id="accuracy-table" class="results"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
}

function efficiencyTableHtml(s: Summary): string {
  const head = ['Method', 'Trainable params', 'Train samples/s', 'Eval samples/s', 'Expert-load std', 'Router entropy (nats)', 'Runs', 'Backend'];
  const rows = s.variants.map(
    (v) =>
      `<tr data-variant="${esc(v.key)}"><td>${esc(v.label)}</td><td>${count(v.trainableParams)}</td><td>${rate(v.trainSamplesPerSec)}</td><td>${rate(v.evalSamplesPerSec)}</td>` +
      `<td>${fixed(v.loadStd, 4)}</td><td>${fixed(v.routerEntropy, 3)}</td><td>${v.runs}</td><td>${esc(v.backend || '–')}</td></tr>`,
  );
  return `<table id="efficiency-table" class="results"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

export function accuracyChart(s: Summary): string {
  const complete = s.variants.some((v) => Number.isFinite(v.avgAcc));
  const cats = [...s.tasks.map(taskLabel), ...(complete ? ['Avg.'] : [])];
  return barChart({
    id: 'accuracy',
    title: 'Accuracy per task (mean ± std across seeds)',
    categories: cats,
    yLabel: 'accuracy (%)',
    series: s.variants.map((v) => ({
      label: v.label,
      values: [...s.tasks.map((t) => (v.cells[t]?.mean ?? NaN) * 100), ...(complete ? [v.avgAcc * 100] : [])],
      errors: [...s.tasks.map((t) => (v.cells[t]?.std ?? NaN) * 100), ...(complete ? [v.avgStd * 100] : [])],
    })),
  });
}

/** One chart per expert count (sweeps change N): mean selection share per expert, per row. */
export function expertLoadCharts(s: Summary): string[] {
  const byN = new Map<number, typeof s.variants>();
  for (const v of s.variants) if (v.loadShare.length) byN.set(v.loadShare.length, [...(byN.get(v.loadShare.length) ?? []), v]);
  return [...byN.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([n, vs]) =>
      barChart({
        id: byN.size > 1 ? `expert-load-${n}` : 'expert-load',
        title: `Expert load: share of top-K selections per expert (${n} experts; mean over layers, runs)`,
        categories: Array.from({ length: n }, (_, i) => `E${i}`),
        yLabel: 'selection share',
        refLine: { y: 1 / n, label: `uniform 1/${n}` },
        series: vs.map((v) => ({ label: `${v.label} (std ${fixed(v.loadStd, 4)})`, values: v.loadShare })),
      }),
    );
}

export function lossCharts(s: Summary, entries: ResultEntry[]): string[] {
  return s.tasks.map((t) =>
    lineChart({
      id: `loss-${t}`,
      title: `Training loss, ${taskLabel(t)} (mean over seeds)`,
      xLabel: 'step',
      yLabel: 'loss',
      series: s.variants.map((v) => ({ label: v.label, points: meanLossCurve(entries, v.key, t).map((p) => ({ x: p.step, y: p.loss })) })),
    }),
  );
}

export function renderHtml(s: Summary, entries: ResultEntry[], meta: ReportMeta): string {
  const facts = [
    meta.suite && `suite <code>${esc(meta.suite)}</code>`,
    meta.profile && `profile <code>${esc(meta.profile)}</code>`,
    meta.model && `model <code>${esc(meta.model)}</code>`,
    meta.backend && `backend ${esc(meta.backend)}`,
    meta.generatedAt && `generated ${esc(meta.generatedAt)}`,
  ].filter(Boolean);
  const note = seedNote(s);
  const load = expertLoadCharts(s);
  const body = [
    `<h1>${esc(meta.title)}</h1>`,
    facts.length ? `<p class="meta">${facts.join(', ')}</p>` : '',
    ...(meta.notes ?? []).map((n) => `<p class="note">${esc(n)}</p>`),
    '<h2>Accuracy and stability</h2>',
    '<p class="note">Accuracy: mean over seeds. Stability: sample standard deviation (n-1) of accuracy across seeds, in percentage points; Avg. = mean over tasks. Bold: best per column.</p>',
    accuracyTableHtml(s),
    note ? `<p class="note">Note: ${esc(note)}.</p>` : '',
    '<h2>Parameters, throughput and expert load</h2>',
    efficiencyTableHtml(s),
    '<h2>Accuracy with error bars</h2>',
    `<figure>${accuracyChart(s)}</figure>`,
    '<h2>Expert-load distribution</h2>',
    load.length ? load.map((c) => `<figure>${c}</figure>`).join('') : '<p class="note">No router statistics (no mixture methods in these results).</p>',
    '<h2>Training loss</h2>',
    lossCharts(s, entries).map((c) => `<figure>${c}</figure>`).join(''),
    meta.suite === 'table'
      ? '<h2>Paper reference</h2><p class="note">GMoE Table 1, Llama3-8B, average over the four tasks (an 8B model on the full splits).</p>' +
        `<table id="paper-reference"><thead><tr><th>Method</th><th>Avg. acc</th><th>Avg. std</th></tr></thead><tbody>${PAPER_REFERENCE.map(
          (r) => `<tr><td>${esc(r.method)}</td><td>${r.acc.toFixed(2)}</td><td>${r.std.toFixed(2)}</td></tr>`,
        ).join('')}</tbody></table>`
      : '',
  ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(meta.title)}</title>
<style>${CSS}</style>
</head>
<body>
${body.filter(Boolean).join('\n')}
</body>
</html>
`;
}
