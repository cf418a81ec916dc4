/**
 * The CI gate: compares a slice's per-method accuracy and relative throughput with a committed
 * baseline. A method fails when
 *   accuracy < baseline accuracy - accuracyTolerance               (absolute, accuracy in 0..1), or
 *   relThroughput < throughputRatio x baseline relThroughput,
 * where relThroughput = train samples/s / reference kernels/s measured in the same run (a plain-JS
 * kernel that measures the machine, see refkernel.ts). Throughput is not compared when the backends differ.
 */
import { mean } from '../stats.js';
import type { ReferenceTiming } from './refkernel.js';
import type { ResultEntry } from '../report/summary.js';

export interface MethodMeasure {
  label: string;
  runs: number;
  accuracy: number;
  trainSamplesPerSec: number;
  relThroughput: number;
}

export interface Measurement {
  backend: string;
  reference: ReferenceTiming;
  methods: Record<string, MethodMeasure>;
}

export interface Baseline extends Measurement {
  $comment?: string;
  createdAt: string;
  profile: string;
  tasks: string[];
  seeds: number[];
  tolerance: { accuracyTolerance: number; throughputRatio: number };
}

export interface Tolerance {
  accuracyTolerance: number;
  throughputRatio: number;
}

export type RowStatus = 'ok' | 'fail' | 'new' | 'missing';

export interface GateRow {
  key: string;
  label: string;
  baseAccuracy: number;
  accuracy: number;
  accuracyOk: boolean;
  baseRel: number;
  rel: number;
  /** rel / baseRel. */
  ratio: number;
  /** null when throughput was not compared (backends differ, or no baseline). */
  throughputOk: boolean | null;
  status: RowStatus;
}

export interface GateResult {
  ok: boolean;
  rows: GateRow[];
  failures: string[];
  notes: string[];
}

/** Per row: mean accuracy and train throughput over its runs, and throughput / reference. */
export function measure(entries: ResultEntry[], reference: ReferenceTiming): Measurement {
  const methods: Record<string, MethodMeasure> = {};
  for (const key of [...new Set(entries.map((e) => e.variant))]) {
    const mine = entries.filter((e) => e.variant === key);
    const thr = mean(mine.map((e) => e.result.trainSamplesPerSec));
    methods[key] = { label: mine[0]!.label, runs: mine.length, accuracy: mean(mine.map((e) => e.result.accuracy)), trainSamplesPerSec: thr, relThroughput: thr / reference.perSec };
  }
  const backends = [...new Set(entries.map((e) => e.result.backend))];
  return { backend: backends.join('+') || reference.backend, reference, methods };
}

export function checkGate(current: Measurement, baseline: Baseline, tol: Tolerance): GateResult {
  const rows: GateRow[] = [];
  const failures: string[] = [];
  const notes: string[] = [];
  const sameBackend = current.backend === baseline.backend;
  if (!sameBackend) notes.push(`throughput not compared: this run used backend '${current.backend}', the baseline '${baseline.backend}' (record one here with --update-baseline)`);
  const keys = [...new Set([...Object.keys(baseline.methods), ...Object.keys(current.methods)])];
  for (const key of keys) {
    const b = baseline.methods[key];
    const c = current.methods[key];
    if (!c) {
      rows.push({ key, label: b!.label, baseAccuracy: b!.accuracy, accuracy: NaN, accuracyOk: true, baseRel: b!.relThroughput, rel: NaN, ratio: NaN, throughputOk: null, status: 'missing' });
      notes.push(`${key}: in the baseline but not run here (not checked)`);
      continue;
    }
    if (!b) {
      rows.push({ key, label: c.label, baseAccuracy: NaN, accuracy: c.accuracy, accuracyOk: true, baseRel: NaN, rel: c.relThroughput, ratio: NaN, throughputOk: null, status: 'new' });
      notes.push(`${key}: no baseline yet (not checked; add it with --update-baseline)`);
      continue;
    }
    const accuracyOk = c.accuracy >= b.accuracy - tol.accuracyTolerance - 1e-12;
    const ratio = c.relThroughput / b.relThroughput;
    const throughputOk = sameBackend ? ratio >= tol.throughputRatio : null;
    if (!accuracyOk) {
      failures.push(
        `${key}: accuracy ${(c.accuracy * 100).toFixed(2)}% is below the baseline ${(b.accuracy * 100).toFixed(2)}% by more than ${(tol.accuracyTolerance * 100).toFixed(2)} points`,
      );
    }
    if (throughputOk === false) {
      failures.push(`${key}: relative train throughput fell to ${ratio.toFixed(3)}x the baseline (limit ${tol.throughputRatio}x)`);
    }
    rows.push({ key, label: c.label, baseAccuracy: b.accuracy, accuracy: c.accuracy, accuracyOk, baseRel: b.relThroughput, rel: c.relThroughput, ratio, throughputOk, status: accuracyOk && throughputOk !== false ? 'ok' : 'fail' });
  }
  return { ok: failures.length === 0, rows, failures, notes };
}

export function makeBaseline(current: Measurement, info: { profile: string; tasks: string[]; seeds: number[]; tolerance: Tolerance; createdAt?: string }): Baseline {
  return {
    $comment: 'CI baseline for `node apps/bench/dist/cli.js ci` (write with --update-baseline). relThroughput = train samples/s divided by reference kernels/s timed in the same run.',
    createdAt: info.createdAt ?? new Date().toISOString(),
    profile: info.profile,
    tasks: info.tasks,
    seeds: info.seeds,
    tolerance: info.tolerance,
    ...current,
  };
}

const f = (x: number, d: number) => (Number.isFinite(x) ? x.toFixed(d) : '–');

/** The comparison as a Markdown table (printed by the ci command). */
export function formatGate(g: GateResult, tol: Tolerance): string {
  const lines = [
    `| Method | Baseline acc % | Acc % | Δ acc (pp) | Baseline rel. thr. | Rel. thr. | Ratio | Status |`,
    `|---|---:|---:|---:|---:|---:|---:|---|`,
    ...g.rows.map(
      (r) =>
        `| ${r.label} | ${f(r.baseAccuracy * 100, 2)} | ${f(r.accuracy * 100, 2)} | ${f((r.accuracy - r.baseAccuracy) * 100, 2)} | ` +
        `${f(r.baseRel, 5)} | ${f(r.rel, 5)} | ${f(r.ratio, 3)}${r.throughputOk === null && r.status !== 'missing' && r.status !== 'new' ? ' (n/c)' : ''} | ${r.status.toUpperCase()} |`,
    ),
    '',
    `Tolerances: accuracy may fall at most ${(tol.accuracyTolerance * 100).toFixed(2)} points below the baseline; relative throughput at most to ${tol.throughputRatio}x the baseline's.`,
    ...g.notes.map((n) => `note: ${n}`),
    ...g.failures.map((x) => `FAIL: ${x}`),
    g.ok ? 'gate: PASS' : `gate: FAIL (${g.failures.length} problem${g.failures.length === 1 ? '' : 's'})`,
  ];
  return lines.join('\n');
}
