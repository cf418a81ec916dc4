/** Aggregates run results into the numbers the Markdown and HTML reports show. */
import { METHOD_LABELS, TASK_LABELS, type RunResult, type TaskName } from '../contract.js';
import { mean, sampleStd } from '../stats.js';

/** One run's result and the table row it belongs to. */
export interface ResultEntry {
  variant: string;
  label: string;
  task: TaskName;
  seed: number;
  result: RunResult;
}

/** Row / task from a stored result's `bench` field, or from its config (row = method). */
export function toEntry(r: RunResult & { bench?: { variant: string; label: string; task: TaskName; seed: number } }): ResultEntry {
  if (r.bench) return { variant: r.bench.variant, label: r.bench.label, task: r.bench.task, seed: r.bench.seed, result: r };
  const task = r.config.task;
  if (!task) throw new Error('result has neither bench metadata nor config.task');
  return { variant: r.config.method, label: METHOD_LABELS[r.config.method] ?? r.config.method, task, seed: r.config.seed, result: r };
}

export interface Cell {
  n: number;
  seeds: number[];
  /** Accuracy values 0..1 per seed. */
  accs: number[];
  mean: number;
  /** Sample standard deviation across seeds (NaN for n < 2). */
  std: number;
}

export interface VariantSummary {
  key: string;
  label: string;
  method: string;
  cells: Partial<Record<TaskName, Cell>>;
  /** Mean of the per-task means; NaN unless every task has a result. */
  avgAcc: number;
  /** Mean of the per-task standard deviations (the papers' "Avg." stability column). */
  avgStd: number;
  trainableParams: number;
  trainSamplesPerSec: number;
  evalSamplesPerSec: number;
  /** Mean over runs and layers of the std of per-expert selection shares; NaN without routers. */
  loadStd: number;
  /** Mean selection share per expert (over layers and runs), for the load chart; [] without routers. */
  loadShare: number[];
  routerEntropy: number;
  runs: number;
  backend: string;
}

export interface Summary {
  tasks: TaskName[];
  variants: VariantSummary[];
}

export function taskLabel(t: TaskName): string {
  return TASK_LABELS[t] ?? t;
}

/**
 * Per variant (in first-seen order, or `order` when given) and task: mean and sample std of
 * accuracy across seeds; throughput and parameter counts averaged over all the variant's runs.
 */
export function summarize(entries: ResultEntry[], opts: { tasks?: TaskName[]; order?: string[] } = {}): Summary {
  const tasks = opts.tasks ?? ([...new Set(entries.map((e) => e.task))] as TaskName[]);
  const keys = [...new Set([...(opts.order ?? []), ...entries.map((e) => e.variant)])].filter((k) => entries.some((e) => e.variant === k));
  const variants: VariantSummary[] = keys.map((key) => {
    const mine = entries.filter((e) => e.variant === key);
    const cells: Partial<Record<TaskName, Cell>> = {};
    for (const t of tasks) {
      const xs = mine.filter((e) => e.task === t).sort((a, b) => a.seed - b.seed);
      if (xs.length === 0) continue;
      const accs = xs.map((e) => e.result.accuracy);
      cells[t] = { n: xs.length, seeds: xs.map((e) => e.seed), accs, mean: mean(accs), std: sampleStd(accs) };
    }
    const complete = tasks.every((t) => cells[t]);
    const results = mine.map((e) => e.result);
    const loads = results.flatMap((r) => r.expertLoad ?? []);
    const width = Math.max(0, ...loads.map((l) => l.share.length));
    const loadShare = width
      ? Array.from({ length: width }, (_, i) => mean(loads.filter((l) => l.share.length === width).map((l) => l.share[i] ?? 0)))
      : [];
    const entropies = results.map((r) => r.routerEntropy).filter((x): x is number => typeof x === 'number');
    return {
      key,
      label: mine[0]!.label,
      method: mine[0]!.result.config.method,
      cells,
      avgAcc: complete ? mean(tasks.map((t) => cells[t]!.mean)) : NaN,
      avgStd: complete ? mean(tasks.map((t) => cells[t]!.std)) : NaN,
      trainableParams: mean(results.map((r) => r.trainableParams)),
      trainSamplesPerSec: mean(results.map((r) => r.trainSamplesPerSec)),
      evalSamplesPerSec: mean(results.map((r) => r.evalSamplesPerSec)),
      loadStd: loads.length ? mean(loads.map((l) => l.std)) : NaN,
      loadShare,
      routerEntropy: entropies.length ? mean(entropies) : NaN,
      runs: results.length,
      backend: [...new Set(results.map((r) => r.backend))].join('+'),
    };
  });
  return { tasks, variants };
}

/** Indices of the best finite values (ties all count): max for accuracy, min for std. */
export function bestIndices(values: number[], better: 'max' | 'min'): Set<number> {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length < 2) return new Set(); // nothing to compare with
  const target = better === 'max' ? Math.max(...finite) : Math.min(...finite);
  // Compare at the printed precision, so equal-looking cells are bold together.
  const eq = (a: number) => Math.abs(a - target) < 5e-7;
  return new Set(values.flatMap((v, i) => (Number.isFinite(v) && eq(v) ? [i] : [])));
}

/** Mean training loss per step over a variant's runs of one task (steps present in every run). */
export function meanLossCurve(entries: ResultEntry[], variant: string, task: TaskName): { step: number; loss: number }[] {
  const curves = entries.filter((e) => e.variant === variant && e.task === task).map((e) => e.result.lossCurve ?? []);
  if (curves.length === 0) return [];
  const maps = curves.map((c) => new Map(c.filter((p) => Number.isFinite(p.loss)).map((p) => [p.step, p.loss])));
  const steps = [...maps[0]!.keys()].filter((s) => maps.every((m) => m.has(s))).sort((a, b) => a - b);
  return steps.map((step) => ({ step, loss: mean(maps.map((m) => m.get(step)!)) }));
}
