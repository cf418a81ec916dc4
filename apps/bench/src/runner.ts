/**
 * Runs a plan: one JSON per run in OUT/runs/<id>.json, written atomically (temp file + rename),
 * skipping runs whose result file is already there with the same configuration (resume after an
 * interruption by running the same command again). Prints progress with an ETA.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { RunConfig, RunResult, TaskName } from './contract.js';
import type { Plan, PlannedRun } from './plan.js';

/** What is written per run: the trainer's RunResult plus where it sits in the plan. */
export interface StoredResult extends RunResult {
  bench: {
    id: string;
    suite: string;
    profile: string;
    variant: string;
    label: string;
    axis?: string;
    task: TaskName;
    seed: number;
    /** Hash of the run's configuration (see configHash); a changed configuration reruns. */
    hash: string;
    /** Wall time of the whole run, model loading included. */
    wallSeconds: number;
  };
}

export interface RunnerDeps {
  run(cfg: RunConfig): Promise<RunResult>;
  makeConfig(partial: Partial<RunConfig>): RunConfig | Promise<RunConfig>;
  log?(line: string): void;
  /** Milliseconds clock (injected by tests). */
  now?(): number;
}

export interface RunnerOptions {
  /** Rerun even when a result exists. */
  force?: boolean;
  /** Stop at the first failed run (default: record it, go on, report at the end). */
  failFast?: boolean;
  /** Give each run OUT/checkpoints/<id> as checkpointDir when its config asks for checkpoints. */
  checkpoints?: boolean;
}

export interface RunnerSummary {
  ran: string[];
  skipped: string[];
  failed: { id: string; error: string }[];
  results: StoredResult[];
}

/** Stable JSON: object keys sorted, so equal configurations hash equally. */
export function stableStringify(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
    .join(',')}}`;
}

/** Hash of what determines a run's outcome: machine-local paths are reduced to their base names. */
export function configHash(cfg: RunConfig): string {
  const { dataDir: _d, checkpointDir: _c, ...rest } = cfg;
  const key = { ...rest, model: path.basename(cfg.model ?? '') };
  return createHash('sha256').update(stableStringify(key)).digest('hex').slice(0, 16);
}

/** Write a file so readers see the old content or the whole new one, never a part. */
export function writeFileAtomic(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

export function runsDir(outDir: string): string {
  return path.join(outDir, 'runs');
}

export function resultPath(outDir: string, id: string): string {
  return path.join(runsDir(outDir), `${id}.json`);
}

/** The stored result for `id` when it exists and parses; null otherwise. */
export function readResult(outDir: string, id: string): StoredResult | null {
  const f = resultPath(outDir, id);
  if (!existsSync(f)) return null;
  try {
    const r = JSON.parse(readFileSync(f, 'utf8')) as StoredResult;
    return r && typeof r.accuracy === 'number' && r.bench ? r : null;
  } catch {
    return null;
  }
}

/** Every stored result in OUT/runs (temporary files of interrupted writes are ignored). */
export function loadResults(outDir: string): StoredResult[] {
  const dir = runsDir(outDir);
  if (!existsSync(dir)) return [];
  const out: StoredResult[] = [];
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.json')) continue;
    const r = readResult(outDir, f.slice(0, -5));
    if (r) out.push(r);
  }
  return out;
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

/**
 * Seconds left: each remaining run is estimated by the mean wall time of the finished runs of the
 * same task in this session (tasks differ most in size), else of all finished runs.
 */
export function estimateRemaining(done: { task: string; seconds: number }[], remaining: { task: string }[]): number {
  if (remaining.length === 0) return 0;
  if (done.length === 0) return NaN;
  const all = done.reduce((a, d) => a + d.seconds, 0) / done.length;
  const byTask = new Map<string, number[]>();
  for (const d of done) byTask.set(d.task, [...(byTask.get(d.task) ?? []), d.seconds]);
  let total = 0;
  for (const r of remaining) {
    const xs = byTask.get(r.task);
    total += xs ? xs.reduce((a, b) => a + b, 0) / xs.length : all;
  }
  return total;
}

export async function runPlan(plan: Plan, outDir: string, deps: RunnerDeps, opts: RunnerOptions = {}): Promise<RunnerSummary> {
  const log = deps.log ?? ((l: string) => console.log(l));
  const now = deps.now ?? (() => performance.now());
  const summary: RunnerSummary = { ran: [], skipped: [], failed: [], results: [] };
  mkdirSync(runsDir(outDir), { recursive: true });

  // Complete every config first: the hash decides which runs are already done.
  const todo: { run: PlannedRun; cfg: RunConfig; hash: string }[] = [];
  for (const run of plan.runs) {
    const partial = { ...run.partial };
    if (opts.checkpoints && partial.checkpointEvery && !partial.checkpointDir) partial.checkpointDir = path.join(outDir, 'checkpoints', run.id);
    const cfg = await deps.makeConfig(partial);
    const hash = configHash(cfg);
    const existing = opts.force ? null : readResult(outDir, run.id);
    if (existing && existing.bench.hash === hash) {
      summary.skipped.push(run.id);
      summary.results.push(existing);
      continue;
    }
    if (existing) log(`note: ${run.id}: configuration changed since the stored result; running it again`);
    todo.push({ run, cfg, hash });
  }
  const total = plan.runs.length;
  if (summary.skipped.length) log(`resume: ${summary.skipped.length} of ${total} runs already finished in ${runsDir(outDir)}; ${todo.length} to run`);

  const done: { task: string; seconds: number }[] = [];
  for (let i = 0; i < todo.length; i++) {
    const { run, cfg, hash } = todo[i]!;
    const n = summary.skipped.length + i + 1;
    const t0 = now();
    log(`[${n}/${total}] ${run.variant.label} ${run.task} seed ${run.seed}: running`);
    let result: RunResult;
    try {
      result = await deps.run(cfg);
    } catch (e) {
      const msg = String((e as Error)?.stack ?? e);
      summary.failed.push({ id: run.id, error: msg });
      log(`[${n}/${total}] ${run.id}: FAILED: ${msg.split('\n')[0]}`);
      if (opts.failFast) break;
      continue;
    }
    const seconds = (now() - t0) / 1000;
    const stored: StoredResult = {
      ...result,
      bench: {
        id: run.id, suite: plan.suite, profile: plan.profile, variant: run.variant.key, label: run.variant.label,
        ...(run.variant.axis ? { axis: run.variant.axis } : {}), task: run.task, seed: run.seed, hash, wallSeconds: seconds,
      },
    };
    writeFileAtomic(resultPath(outDir, run.id), `${JSON.stringify(stored, null, 1)}\n`);
    // A failure recorded by an earlier session is stale once the run succeeds.
    rmSync(path.join(runsDir(outDir), `${run.id}.error.txt`), { force: true });
    summary.ran.push(run.id);
    summary.results.push(stored);
    done.push({ task: run.task, seconds });
    const left = estimateRemaining(done, todo.slice(i + 1).map((t) => ({ task: t.run.task })));
    const finishAt = Number.isFinite(left) ? new Date(Date.now() + left * 1000).toTimeString().slice(0, 5) : '?';
    log(
      `[${n}/${total}] ${run.variant.label} ${run.task} seed ${run.seed}: acc ${(result.accuracy * 100).toFixed(2)}% ` +
        `(${result.evalExamples} eval), ${result.trainSamplesPerSec.toFixed(1)} train samples/s, ${formatDuration(seconds)}; ` +
        `ETA ${formatDuration(left)}${i + 1 < todo.length ? ` (about ${finishAt})` : ''}`,
    );
  }
  for (const f of summary.failed) writeFileAtomic(path.join(runsDir(outDir), `${f.id}.error.txt`), `${f.error}\n`);
  // Keep the plan's order in the results.
  const order = new Map(plan.runs.map((r, i) => [r.id, i]));
  summary.results.sort((a, b) => (order.get(a.bench.id) ?? 0) - (order.get(b.bench.id) ?? 0));
  return summary;
}
