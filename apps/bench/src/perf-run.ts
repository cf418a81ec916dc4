/**
 * Runs `perf`: one child per implementation and workload, workload by workload so that the rows a
 * ratio compares are measured minutes apart at most. Ours and tfjs-wasm: src/perf-worker.mjs;
 * PyTorch and OpenBLAS: peers/matmul.py, moe_block.py, llama_train.py under --python.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { APP_DIR, resolvePaths } from './paths.js';
import { writeFileAtomic } from './runner.js';
import {
  PERF_USAGE, PerfUsageError, ROW, TRAIN_RUNS, evaluateTargets, formatTables, formatTargets, parsePerfArgs,
  type PerfOptions, type Row, type Workload,
} from './perf.js';

export interface ChildResult {
  status: number | null;
  stdout: string;
  stderr: string;
  error?: Error;
}
export type Spawn = (cmd: string, args: string[], opts: { env: NodeJS.ProcessEnv; timeoutMs: number; showProgress: boolean }) => ChildResult;

const nodeSpawn: Spawn = (cmd, args, o) => {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8', env: o.env, timeout: o.timeoutMs, maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', o.showProgress ? 'inherit' : 'pipe'],
  });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
};

export interface PerfDeps {
  spawn?: Spawn;
  log?: (line: string) => void;
  error?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

const lastLine = (s: string) => s.trim().split('\n').filter(Boolean).pop() ?? '';

/** The child's last stdout line as JSON, or the reason there is none. */
export function childJson(r: ChildResult, what: string): { json?: Record<string, unknown>; error?: string } {
  if (r.error) return { error: `${what}: ${r.error.message}` };
  const line = lastLine(r.stdout);
  if (r.status === 0 && line.startsWith('{')) {
    try {
      return { json: JSON.parse(line) as Record<string, unknown> };
    } catch {
      /* fall through */
    }
  }
  return { error: `${what} exited ${r.status ?? 'by signal (timeout?)'}: ${lastLine(r.stderr) || line || 'no output'}`.slice(0, 300) };
}

type Values = Record<string, number>;
const QUICK_SKIP = 'skipped in --quick (the step takes about a minute on lavapipe; run without --quick)';
const put = (row: Row, values: Values, errors: Record<string, string> = {}) => {
  Object.assign(row.values, values);
  if (Object.keys(errors).length) row.errors = { ...row.errors, ...errors };
};
const prefixed = (p: string, o: unknown): Values =>
  Object.fromEntries(Object.entries((o ?? {}) as Record<string, number>).map(([k, v]) => [`${p} ${k}`, v]));

/** Worker JSON -> figure keys (see FIGURES). */
export function workerValues(j: Record<string, unknown>): { values: Values; errors: Record<string, string> } {
  const r = (j.results ?? {}) as Record<string, unknown>;
  const values: Values = { ...prefixed('matmul', r.matmul), ...prefixed('block', r.block), ...prefixed('train', r.train) };
  if (typeof r.dispatch_ms === 'number') values['dispatch us'] = r.dispatch_ms * 1000;
  const errors = Object.fromEntries(Object.entries((j.errors ?? {}) as Record<string, string>).map(([k, v]) => [k === 'dispatch' ? 'dispatch us' : k, v]));
  return { values, errors };
}

export async function runPerf(argv: string[], deps: PerfDeps = {}): Promise<number> {
  const log = deps.log ?? ((l: string) => console.log(l));
  const error = deps.error ?? ((l: string) => console.error(l));
  const env = deps.env ?? process.env;
  const spawn = deps.spawn ?? nodeSpawn;
  let o: PerfOptions;
  try {
    o = parsePerfArgs(argv, env);
  } catch (e) {
    if (!(e instanceof PerfUsageError)) throw e;
    error(`moegraph-bench perf: ${e.message}\n(run perf --help for usage)`);
    return 2;
  }
  if (o.help) {
    log(PERF_USAGE);
    return 0;
  }
  const model = resolvePaths({ model: o.model }, env).model;
  const childEnv: NodeJS.ProcessEnv = { ...env, XDG_RUNTIME_DIR: env.XDG_RUNTIME_DIR ?? os.tmpdir() };
  const timeoutMs = (o.quick ? 600 : 1800) * 1000;
  const warnings: string[] = [];
  const load = os.loadavg()[0]!;
  if (load > os.cpus().length * 0.5) warnings.push(`load average ${load.toFixed(1)} on ${os.cpus().length} cores when perf started: other work shares the machine, absolute figures are low and noisy`);
  const t0 = performance.now();

  // ---- rows
  const rows: Row[] = [];
  const row = (name: string, kind: Row['kind'], status: Row['status'] = 'ok', note?: string): Row => {
    const r: Row = { name, kind, status, values: {}, ...(note ? { note } : {}) };
    rows.push(r);
    return r;
  };
  const ours: { row: Row; impl: string; env: NodeJS.ProcessEnv }[] = [];
  if (o.backends.includes('cpu')) {
    ours.push({ row: row(ROW.cpu1, 'ours'), impl: 'cpu', env: { ...childEnv, MOEGRAPH_THREADS: '1' } });
    const { MOEGRAPH_THREADS: _, ...defaultThreads } = childEnv;
    ours.push({ row: row(ROW.cpu, 'ours'), impl: 'cpu', env: defaultThreads });
  }
  if (o.backends.includes('webgpu')) ours.push({ row: row(ROW.webgpu, 'ours'), impl: 'webgpu', env: childEnv });
  const tfjs = o.peers && o.workloads.includes('matmul') ? row(ROW.tfjs, 'peer') : undefined;

  // PyTorch / OpenBLAS: probe the interpreter once.
  // PyTorch peers: [row, threads, device]; OpenBLAS rows pair with the cpu ones.
  const torchRuns: { row: Row; n: number; device: 'cpu' | 'cuda' }[] = o.peers
    ? [{ row: row(ROW.torch1, 'peer'), n: 1, device: 'cpu' }, { row: row(ROW.torch2, 'peer'), n: 2, device: 'cpu' }]
    : [];
  if (o.cuda) torchRuns.push({ row: row(ROW.torchCuda, 'peer'), n: 1, device: 'cuda' });
  const blasRows = o.peers && o.workloads.includes('matmul') ? [row(ROW.blas1, 'peer'), row(ROW.blas2, 'peer')] : [];
  let python = o.peers;
  if (o.peers) {
    const probe = spawn(o.python, ['-c', 'import torch; print(torch.__version__); print(torch.cuda.is_available() and torch.cuda.get_device_name())'], { env: childEnv, timeoutMs: 60_000, showProgress: false });
    if (probe.error || probe.status !== 0) {
      const why = probe.error ? `no Python at ${o.python} (${(probe.error as NodeJS.ErrnoException).code ?? probe.error.message}); pass --python or set MOEGRAPH_PYTHON`
        : `torch does not import in ${o.python}: ${lastLine(probe.stderr)}; apt-get install python3-torch`;
      for (const r of [...torchRuns.map((t) => t.row), ...blasRows]) Object.assign(r, { status: 'not installed', note: why });
      python = false;
    } else {
      const [version = '', gpu = 'False'] = probe.stdout.trim().split('\n');
      for (const t of torchRuns) t.row.note = `torch ${version}`;
      const cuda = torchRuns.find((t) => t.device === 'cuda');
      if (cuda && gpu === 'False') Object.assign(cuda.row, { status: 'not installed', note: `torch ${version} sees no CUDA GPU` });
      else if (cuda) cuda.row.note = `torch ${version}, ${gpu}`;
    }
  }

  const progress = (what: string) => error(`perf: ${what} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  const workerArgs = (impl: string, w: Workload) => [
    path.join(APP_DIR, 'src/perf-worker.mjs'), '--impl', impl, '--workloads', w, '--repeats', String(o.repeats), '--steps', String(o.steps),
    '--tokens', String(o.tokens), '--lm-steps', String(o.lmSteps), '--model', model,
  ];
  const runWorker = (r: Row, impl: string, w: Workload, e: NodeJS.ProcessEnv) => {
    progress(`${r.name}: ${w}`);
    const { json, error: err } = childJson(spawn(process.execPath, workerArgs(impl, w), { env: e, timeoutMs, showProgress: true }), `${r.name} ${w}`);
    if (!json) return put(r, {}, { [w]: err! });
    if (json.notInstalled) return Object.assign(r, { status: 'not installed', note: String(json.notInstalled) });
    if (json.note) r.note = String(json.note);
    const { values, errors } = workerValues(json);
    put(r, values, errors);
  };
  const runPython = (script: string, args: string[], n: number, what: string, device: 'cpu' | 'cuda') => {
    progress(`pytorch (${device === 'cuda' ? 'cuda' : `${n} thread${n > 1 ? 's' : ''}`}): ${what}`);
    const e = { ...childEnv, OMP_NUM_THREADS: String(n), OPENBLAS_NUM_THREADS: String(n), ...(n > 1 ? { OMP_WAIT_POLICY: 'PASSIVE' } : {}) };
    const dev = device === 'cuda' ? ['--device', 'cuda'] : [];
    return childJson(spawn(o.python, [path.join(APP_DIR, 'peers', script), '--threads', String(n), ...dev, ...args], { env: e, timeoutMs, showProgress: false }), `${script} ${what}`);
  };

  for (const w of o.workloads) {
    for (const x of ours) {
      if (o.quick && x.impl === 'webgpu' && w === 'llama') put(x.row, {}, { 'train llama-512x8/mixlora': QUICK_SKIP });
      else runWorker(x.row, x.impl, w, x.env);
    }
    if (tfjs && w === 'matmul' && tfjs.status === 'ok') runWorker(tfjs, 'tfjs-wasm', w, childEnv);
    if (!python || w === 'dispatch') continue;
    torchRuns.forEach(({ row: tr, n, device }, i) => {
      if (tr.status !== 'ok') return;
      if (w === 'matmul') {
        const { json, error: err } = runPython('matmul.py', ['--repeats', String(o.repeats)], n, 'matmul', device);
        if (device === 'cuda') return json ? put(tr, prefixed('matmul', json.torch)) : put(tr, {}, { matmul: err! });
        if (!json) return [tr, blasRows[i]!].forEach((r) => put(r, {}, { matmul: err! }));
        put(tr, prefixed('matmul', json.torch));
        const blas = (json.blas as string[] | undefined) ?? [];
        if (json.numpy) put(blasRows[i]!, prefixed('matmul', json.numpy));
        else Object.assign(blasRows[i]!, { status: 'not installed', note: 'numpy does not import' });
        blasRows[i]!.note = blas.length ? blas.map((b) => path.basename(b)).join(', ') : 'no BLAS library mapped';
        const g = (json.numpy ?? json.torch) as Record<string, number>;
        if (n === 1) warnings.push(...blasWarnings(blas, g['1024x1024x1024']));
      } else if (w === 'block') {
        const { json, error: err } = runPython('moe_block.py', ['--steps', String(o.steps), '--tokens', String(o.tokens)], n, 'block', device);
        if (!json) return put(tr, {}, { block: err! });
        put(tr, Object.fromEntries(['linear', 'gcn', 'gru'].map((k) => [`block ${k}`, json[k] as number])));
      } else {
        for (const t of TRAIN_RUNS.filter((x) => x.startsWith(w === 'stories' ? 'stories' : 'llama'))) {
          const [m, method] = t.split('/') as [string, string];
          const { json, error: err } = runPython('llama_train.py', ['--model', m, '--method', method, '--steps', String(o.lmSteps)], n, t, device);
          if (!json) put(tr, {}, { [`train ${t}`]: err! });
          else put(tr, { [`train ${t}`]: json.tokens_per_s as number });
        }
      }
    });
  }

  // ---- report
  const targets = evaluateTargets(rows);
  log('');
  log(`## moegraph perf${o.quick ? ' --quick' : ''}: node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, ${new Date().toISOString()}`);
  log('');
  log(`Ratios are to ${ROW.torch1} measured in this run (figure / PyTorch's figure). ${o.quick ? 'Quick: ' : ''}block ${o.steps} steps, LM ${o.lmSteps} step(s), ${o.repeats} matmul repeats; ${((performance.now() - t0) / 1000).toFixed(0)} s.`);
  for (const r of rows) log(`- ${r.name}: ${r.status}${r.note ? ` (${r.note})` : ''}`);
  log('');
  log(formatTables(rows, o.workloads));
  log('### Targets (issue 6)');
  log('');
  log(formatTargets(targets));
  for (const r of rows) {
    for (const [k, v] of Object.entries(r.errors ?? {})) warnings.push(`${v.startsWith('skipped') ? '' : 'failed: '}${r.name} ${k}: ${v}`);
  }
  if (warnings.length) {
    log('');
    for (const w of warnings) log(`warning: ${w}`);
  }
  if (o.json) {
    const file = path.resolve(o.json);
    const doc = {
      date: new Date().toISOString(), node: process.version, cpu: `${os.cpus()[0]?.model ?? ''} x${os.cpus().length}`,
      options: o, reference: ROW.torch1, rows, targets, warnings,
    };
    writeFileAtomic(file, `${JSON.stringify(doc, null, 2)}\n`);
    log(`\nwrote ${file}`);
  }
  return 0;
}

/** Warnings when the BLAS behind the peers is the generic reference one (PyTorch figures then misleading). */
export function blasWarnings(libs: readonly string[], gflops1024: number | undefined): string[] {
  const out: string[] = [];
  if (libs.length && !libs.some((l) => /openblas|mkl|blis/i.test(l))) out.push(`the BLAS loaded is ${libs.map((l) => path.basename(l)).join(', ')}: not OpenBLAS`);
  if (gflops1024 !== undefined && gflops1024 < 10) {
    out.push(`BLAS matmul 1024^3 at 1 thread is ${gflops1024.toFixed(1)} GFLOP/s (< 10): the generic reference BLAS; the PyTorch figures are not representative (apt-get install libopenblas0-pthread)`);
  }
  return out;
}
