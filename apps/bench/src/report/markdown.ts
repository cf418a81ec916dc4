/**
 * The Markdown report: the accuracy/stability table in the layout of GMoE's Table 1 (accuracy per
 * task and average, then the std across seeds per task and average; best per column in bold:
 * highest accuracy, lowest std), then parameters, throughput and expert load per row.
 */
import { taskLabel, bestIndices, type Summary } from './summary.js';
import { count, fixed, pct, rate } from './format.js';

export interface ReportMeta {
  title: string;
  suite?: string;
  profile?: string;
  model?: string;
  backend?: string;
  seeds?: number[];
  generatedAt?: string;
  /** Extra lines printed under the title. */
  notes?: string[];
}

/** Paper numbers for context (SPEC §5): GMoE Table 1, Llama3-8B, average over the four tasks. */
export const PAPER_REFERENCE = [
  { method: 'LoRAMoE', acc: 79.56, std: 0.58 },
  { method: 'MING-MoE', acc: 79.05, std: 0.89 },
  { method: 'MoLA', acc: 78.24, std: 0.79 },
  { method: 'MixLoRA', acc: 79.88, std: 0.7 },
  { method: 'GMoE', acc: 80.52, std: 0.45 },
];

const bold = (s: string, on: boolean) => (on && s !== '–' ? `**${s}**` : s);
const row = (cells: string[]) => `| ${cells.join(' | ')} |`;

/** The accuracy and stability table alone. */
export function accuracyTable(s: Summary): string {
  const tasks = s.tasks.map(taskLabel);
  const head = row(['Method', ...tasks.map((t) => `${t} acc`), 'Avg. acc', ...tasks.map((t) => `${t} std`), 'Avg. std']);
  const sep = row(['---', ...Array(2 * (tasks.length + 1)).fill('---:')]);
  const accCols = [...s.tasks.map((t) => s.variants.map((v) => v.cells[t]?.mean ?? NaN)), s.variants.map((v) => v.avgAcc)];
  const stdCols = [...s.tasks.map((t) => s.variants.map((v) => v.cells[t]?.std ?? NaN)), s.variants.map((v) => v.avgStd)];
  const bestAcc = accCols.map((c) => bestIndices(c, 'max'));
  const bestStd = stdCols.map((c) => bestIndices(c, 'min'));
  const lines = s.variants.map((v, i) =>
    row([
      v.label,
      ...accCols.map((c, j) => bold(pct(c[i]!), bestAcc[j]!.has(i))),
      ...stdCols.map((c, j) => bold(pct(c[i]!), bestStd[j]!.has(i))),
    ]),
  );
  return [head, sep, ...lines].join('\n');
}

/** Trainable parameters, throughput, expert load and router entropy per row. */
export function efficiencyTable(s: Summary): string {
  const head = row(['Method', 'Trainable params', 'Train samples/s', 'Eval samples/s', 'Expert-load std', 'Router entropy (nats)', 'Runs', 'Backend']);
  const sep = row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---']);
  const lines = s.variants.map((v) =>
    row([v.label, count(v.trainableParams), rate(v.trainSamplesPerSec), rate(v.evalSamplesPerSec), fixed(v.loadStd, 4), fixed(v.routerEntropy, 3), String(v.runs), v.backend || '–']),
  );
  return [head, sep, ...lines].join('\n');
}

/** Cells whose seed count differs from the most common one, as a note (else ''). */
export function seedNote(s: Summary): string {
  const ns = s.variants.flatMap((v) => s.tasks.map((t) => v.cells[t]?.n ?? 0));
  const common = mode(ns.filter((n) => n > 0));
  const odd = s.variants.flatMap((v) => s.tasks.flatMap((t) => (v.cells[t] && v.cells[t]!.n !== common ? [`${v.label} ${taskLabel(t)}: n=${v.cells[t]!.n}`] : [])));
  const missing = s.variants.flatMap((v) => s.tasks.flatMap((t) => (v.cells[t] ? [] : [`${v.label} ${taskLabel(t)}`])));
  const parts: string[] = [];
  if (odd.length) parts.push(`cells with a different number of seeds: ${odd.join('; ')}`);
  if (missing.length) parts.push(`no results yet: ${missing.join('; ')} (their averages are left out)`);
  return parts.join('. ');
}

function mode(xs: number[]): number {
  const c = new Map<number, number>();
  for (const x of xs) c.set(x, (c.get(x) ?? 0) + 1);
  let best = 0, bestN = -1;
  for (const [x, n] of c) if (n > bestN) [best, bestN] = [x, n];
  return best;
}

export function renderMarkdown(s: Summary, meta: ReportMeta): string {
  const ns = s.variants.flatMap((v) => s.tasks.map((t) => v.cells[t]?.n ?? 0)).filter((n) => n > 0);
  const seeds = ns.length ? Math.max(...ns) : 0;
  const out: string[] = [`# ${meta.title}`, ''];
  const facts = [
    meta.suite && `suite \`${meta.suite}\``,
    meta.profile && `profile \`${meta.profile}\``,
    meta.model && `model \`${meta.model}\``,
    meta.backend && `backend ${meta.backend}`,
    meta.generatedAt && `generated ${meta.generatedAt}`,
  ].filter(Boolean);
  if (facts.length) out.push(facts.join(', '), '');
  for (const n of meta.notes ?? []) out.push(n, '');
  out.push(
    '## Accuracy and stability',
    '',
    `Accuracy (%, mean over ${seeds} seed${seeds === 1 ? '' : 's'}) per task and averaged over tasks; stability = standard deviation of accuracy across seeds ` +
      '(sample std, n-1; percentage points) per task, and its mean over tasks (Avg. std). Best per column in bold (highest accuracy, lowest std).',
    '',
    accuracyTable(s),
    '',
  );
  const note = seedNote(s);
  if (note) out.push(`Note: ${note}.`, '');
  out.push(
    '## Parameters, throughput and expert load',
    '',
    'Trainable parameters per run; throughput in samples/s (train and eval), mean over runs; expert-load std = std of the per-expert selection shares, mean over layers and runs (GraphMoE\'s balance figure; lower is more even).',
    '',
    efficiencyTable(s),
    '',
  );
  if (meta.suite === 'table') {
    out.push(
      '## Paper reference (GMoE Table 1, Llama3-8B, average over the four tasks)',
      '',
      row(['Method', 'Avg. acc', 'Avg. std']),
      row(['---', '---:', '---:']),
      ...PAPER_REFERENCE.map((r) => row([r.method, r.acc.toFixed(2), r.std.toFixed(2)])),
      '',
      'These come from an 8B model on the full splits; a small model or a subsampled profile is not expected to reach them, only to show the same comparisons.',
      '',
    );
  }
  return out.join('\n');
}
