/**
 * `perf`: our backends beside PyTorch, OpenBLAS and tfjs-wasm, measured in the same run (issue 6).
 * This file holds the pure parts (arguments, figures, the targets, the tables); perf-run.ts runs
 * the children (src/perf-worker.mjs for ours and tfjs-wasm, peers/*.py for PyTorch and OpenBLAS).
 */
import { parseArgs } from 'node:util';

export const PERF_USAGE = `Usage: node apps/bench/dist/cli.js perf [options]

Runs our backends and, when installed, the peers on the same machine in one run, and prints each
figure with its ratio to PyTorch (1 thread) and which issue-6 targets are met.

Workloads (--workloads; default all)
  matmul     f32 matmul 1024x1024x1024, 1024x256x1024, 1024x1024x256: GFLOP/s
  dispatch   ms per dispatch in a batched pass (500 chained adds of 256 floats, then one read)
  block      MoE FFN block training step (1024 tokens, d 256, frozen SwiGLU FFN 1024, 8 LoRA experts
             r 4 on gate/up/down, top-2, AdamW) with the linear, GCN and GRU routers: ms/step
  stories    stories260K training tokens/s with MixLoRA and with GMoE (batch 4 x 64)
  llama      random llama-512x8 (dim 512, 8 layers, vocab 4096, FFN 1408) + MixLoRA tokens/s (4 x 128)

Rows: ours cpu at 1 thread (MOEGRAPH_THREADS=1) and at its default threads, ours webgpu;
peers PyTorch CPU at 1 and 2 threads (Debian python3-torch; OMP_WAIT_POLICY=PASSIVE for 2),
OpenBLAS through numpy at 1 and 2 threads, @tensorflow/tfjs-backend-wasm (matmul); with --cuda
also PyTorch CUDA (f32, no TF32) beside ours webgpu on a GPU machine. A peer that is not installed
is reported as "not installed".

Options
  --quick               fewer steps and repeats, and no webgpu llama-512x8 (a full run in about
                        5 minutes on an idle 2-core machine; default about 15)
  --backends a,b        our backends: cpu, webgpu (default cpu,webgpu)
  --workloads a,b       ${'matmul,dispatch,block,stories,llama'} (default all)
  --no-peers            ours only
  --cuda                add a PyTorch CUDA row (torch >= 2.0 with a CUDA GPU; else "not installed")
  --python FILE         Python with torch for the peers (default /usr/bin/python3; env MOEGRAPH_PYTHON)
  --json FILE           also write the results as JSON (atomically)
  --steps N             block steps timed (default 5; quick 2), after 2 warm-up steps
  --lm-steps N          LM training steps timed (default 3; quick 1), after 1 warm-up step
  --repeats N           matmul / dispatch repeats (default 5; quick 3)
  --tokens N            block tokens (default 1024)
  --model FILE          stories260K GGUF (default ../shared/models/stories260K/stories260K.gguf;
                        env MOEGRAPH_MODEL; MOEGRAPH_SHARED moves ../shared)
  -h, --help            this text

Ratios: figure / PyTorch (1 thread)'s figure in the same unit: for ms/step above 1x is slower, for
GFLOP/s and tokens/s below 1x is slower. The machine is noisy: read ratios, not absolutes.
`;

export const BACKENDS = ['cpu', 'webgpu'] as const;
export type BackendName = (typeof BACKENDS)[number];
export const WORKLOADS = ['matmul', 'dispatch', 'block', 'stories', 'llama'] as const;
export type Workload = (typeof WORKLOADS)[number];
export const MATMUL_SHAPES = ['1024x1024x1024', '1024x256x1024', '1024x1024x256'] as const;
export const ROUTERS = ['linear', 'gcn', 'gru'] as const;
export const TRAIN_RUNS = ['stories260K/mixlora', 'stories260K/gmoe', 'llama-512x8/mixlora'] as const;
export const DEFAULT_PYTHON = '/usr/bin/python3';

export class PerfUsageError extends Error {}

export interface PerfOptions {
  quick: boolean;
  backends: BackendName[];
  workloads: Workload[];
  peers: boolean;
  /** Add PyTorch CUDA (peers run with --device cuda). */
  cuda: boolean;
  python: string;
  json?: string;
  steps: number;
  lmSteps: number;
  repeats: number;
  tokens: number;
  model?: string;
  help: boolean;
}

function names<T extends string>(v: string | undefined, all: readonly T[], flag: string): T[] | undefined {
  if (v === undefined) return undefined;
  const xs = v.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = xs.filter((x) => !(all as readonly string[]).includes(x));
  if (bad.length || !xs.length) throw new PerfUsageError(`${flag}: unknown name '${bad.join(',') || v}' (expected ${all.join(', ')})`);
  return [...new Set(xs)] as T[];
}

function count(v: string | undefined, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  const x = Number(v);
  if (!Number.isInteger(x) || x < 1) throw new PerfUsageError(`${flag}: expected an integer >= 1, got '${v}'`);
  return x;
}

export function parsePerfArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): PerfOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        quick: { type: 'boolean' }, cuda: { type: 'boolean' }, backends: { type: 'string' }, workloads: { type: 'string' }, 'no-peers': { type: 'boolean' },
        python: { type: 'string' }, json: { type: 'string' }, steps: { type: 'string' }, 'lm-steps': { type: 'string' },
        repeats: { type: 'string' }, tokens: { type: 'string' }, model: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new PerfUsageError((e as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  const s = (k: string) => values[k] as string | undefined;
  const quick = Boolean(values.quick);
  return {
    quick,
    backends: names(s('backends'), BACKENDS, '--backends') ?? [...BACKENDS],
    workloads: names(s('workloads'), WORKLOADS, '--workloads') ?? [...WORKLOADS],
    peers: !values['no-peers'],
    cuda: Boolean(values.cuda) && !values['no-peers'],
    python: s('python') ?? env.MOEGRAPH_PYTHON ?? DEFAULT_PYTHON,
    json: s('json'),
    steps: count(s('steps'), '--steps', quick ? 2 : 5),
    lmSteps: count(s('lm-steps'), '--lm-steps', quick ? 1 : 3),
    repeats: count(s('repeats'), '--repeats', quick ? 3 : 5),
    tokens: count(s('tokens'), '--tokens', 1024),
    model: s('model'),
    help: Boolean(values.help),
  };
}

// ------------------------------------------------------------------ rows and figures

/** One implementation measured: ours (a backend at a thread count) or a peer. */
export interface Row {
  name: string;
  kind: 'ours' | 'peer';
  status: 'ok' | 'not installed' | 'failed' | 'skipped';
  /** Why it is not ok, or what it is (e.g. the BLAS library). */
  note?: string;
  /** Figure key -> value (see FIGURES). */
  values: Record<string, number>;
  /** Figure key -> why that figure is missing. */
  errors?: Record<string, string>;
}

export interface Figure {
  key: string;
  workload: Workload;
  label: string;
  higherIsBetter: boolean;
}

export const FIGURES: readonly Figure[] = [
  ...MATMUL_SHAPES.map((s) => ({ key: `matmul ${s}`, workload: 'matmul' as const, label: s, higherIsBetter: true })),
  { key: 'dispatch us', workload: 'dispatch', label: 'us/dispatch', higherIsBetter: false },
  ...ROUTERS.map((r) => ({ key: `block ${r}`, workload: 'block' as const, label: r === 'gru' ? 'GRU (3 rounds)' : r === 'gcn' ? 'GCN' : 'linear', higherIsBetter: false })),
  ...TRAIN_RUNS.map((t) => ({ key: `train ${t}`, workload: (t.startsWith('stories') ? 'stories' : 'llama') as Workload, label: t, higherIsBetter: true })),
];

export const WORKLOAD_TITLES: Record<Workload, string> = {
  matmul: 'f32 matmul, GFLOP/s (higher is better)',
  dispatch: 'dispatch overhead in a batched pass, us per dispatch (lower is better)',
  block: 'MoE FFN block training step, ms/step (lower is better)',
  stories: 'stories260K training, tokens/s (higher is better)',
  llama: 'llama-512x8 (random) training, tokens/s (higher is better)',
};

export const REFERENCE_ROW = 'pytorch (1 thread)';
export const ROW = {
  cpu1: 'cpu (1 thread)',
  cpu: 'cpu (default threads)',
  webgpu: 'webgpu',
  torch1: REFERENCE_ROW,
  torch2: 'pytorch (2 threads)',
  torchCuda: 'pytorch (cuda)',
  blas1: 'openblas (1 thread)',
  blas2: 'openblas (2 threads)',
  tfjs: 'tfjs-wasm',
} as const;

const ratioOf = (a: number | undefined, b: number | undefined): number | null =>
  a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? null : a / b;

export function fmtNum(v: number | undefined | null): string {
  if (v === undefined || v === null || !Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
}
export const fmtRatio = (r: number | null): string => (r === null ? '-' : `${r.toFixed(2)}x`);

/** One Markdown table per workload that any row has figures (or a reason) for: value (ratio to PyTorch 1 thread). */
export function formatTables(rows: readonly Row[], workloads: readonly Workload[] = WORKLOADS): string {
  const ref = rows.find((r) => r.name === REFERENCE_ROW && r.status === 'ok');
  const out: string[] = [];
  for (const w of workloads) {
    const figs = FIGURES.filter((f) => f.workload === w);
    const shown = rows.filter((r) => r.status !== 'skipped' && (r.status !== 'ok' || figs.some((f) => f.key in r.values || r.errors?.[f.key])));
    if (!shown.some((r) => figs.some((f) => f.key in r.values))) continue;
    out.push(`### ${WORKLOAD_TITLES[w]}`, '');
    out.push(`| row | ${figs.map((f) => `${f.label} | x pytorch`).join(' | ')} |`);
    out.push(`|---|${figs.map(() => '---:|---:').join('|')}|`);
    for (const r of shown) {
      if (r.status !== 'ok') {
        out.push(`| ${r.name} | ${r.status}${r.note ? `: ${r.note}` : ''} |${' |'.repeat(2 * figs.length - 1)}`);
        continue;
      }
      const cells = figs.map((f) => {
        const v = r.values[f.key];
        const missing = r.errors?.[f.key]?.startsWith('skipped') ? 'skipped' : r.errors?.[f.key] ? 'failed' : 'n/a';
        return `${v === undefined ? missing : fmtNum(v)} | ${fmtRatio(ratioOf(v, ref?.values[f.key]))}`;
      });
      out.push(`| ${r.name} | ${cells.join(' | ')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

// ------------------------------------------------------------------ targets

export interface TargetResult {
  target: string;
  row: string;
  /** Measured ratio, or null when a figure is missing. */
  ratio: number | null;
  op: '<=' | '>=';
  limit: number;
  status: 'PASS' | 'FAIL' | 'n/a';
  detail: string;
}

interface TargetSpec {
  target: string;
  rows: readonly string[];
  /** The figure, and the reference: a row (same key) or another key of the same row. */
  key: string;
  refRow?: string;
  refKey?: string;
  op: '<=' | '>=';
  limit: number;
  /** Stated aim, when stricter than the limit. */
  aim?: number;
}

export const TARGETS: readonly TargetSpec[] = [
  { target: 'cpu matmul 1024^3 >= 0.25x OpenBLAS 1 thread', rows: [ROW.cpu1, ROW.cpu], key: 'matmul 1024x1024x1024', refRow: ROW.blas1, op: '>=', limit: 0.25 },
  { target: 'cpu block step (linear) <= 3x PyTorch 1 thread (aim 1.5x)', rows: [ROW.cpu1, ROW.cpu], key: 'block linear', refRow: ROW.torch1, op: '<=', limit: 3, aim: 1.5 },
  { target: 'GCN step <= 2x linear step (ours)', rows: [ROW.cpu1, ROW.cpu], key: 'block gcn', refKey: 'block linear', op: '<=', limit: 2 },
  ...ROUTERS.map((r) => ({ target: `webgpu block step (${r}) <= 12x PyTorch 1 thread`, rows: [ROW.webgpu], key: `block ${r}`, refRow: ROW.torch1, op: '<=' as const, limit: 12 })),
  { target: 'webgpu per-dispatch overhead <= 30 us', rows: [ROW.webgpu], key: 'dispatch us', op: '<=', limit: 30 },
];

/** Evaluates every target against the rows present (rows that were not run are left out). */
export function evaluateTargets(rows: readonly Row[], specs: readonly TargetSpec[] = TARGETS): TargetResult[] {
  const byName = new Map(rows.map((r) => [r.name, r]));
  const out: TargetResult[] = [];
  for (const t of specs) {
    for (const name of t.rows) {
      const row = byName.get(name);
      if (!row || row.status === 'skipped' || !(t.key in row.values || row.errors?.[t.key] || row.status !== 'ok')) continue;
      const refRow = t.refRow ? byName.get(t.refRow) : row;
      const v = row.values[t.key];
      const ref = t.refRow ? refRow?.values[t.key] : t.refKey ? row.values[t.refKey] : 1;
      const ratio = ratioOf(v, ref);
      const base = { target: t.target, row: name, op: t.op, limit: t.limit };
      if (ratio === null) {
        const why = v === undefined ? `${name}: ${row.status === 'ok' ? 'no figure' : row.status}` : `${t.refRow}: ${refRow ? (refRow.status === 'ok' ? 'no figure' : refRow.status) : 'not run'}`;
        out.push({ ...base, ratio, status: 'n/a', detail: why });
        continue;
      }
      const ok = t.op === '<=' ? ratio <= t.limit : ratio >= t.limit;
      const shown = t.refRow || t.refKey ? `${fmtNum(v)} vs ${fmtNum(ref)}` : `${fmtNum(v)}`;
      const aim = t.aim === undefined ? '' : `; aim ${t.aim}x ${(t.op === '<=' ? ratio <= t.aim : ratio >= t.aim) ? 'met' : 'not met'}`;
      out.push({ ...base, ratio, status: ok ? 'PASS' : 'FAIL', detail: shown + aim });
    }
  }
  return out;
}

export function formatTargets(results: readonly TargetResult[]): string {
  const lines = ['| target | row | measured | limit | status | detail |', '|---|---|---:|---:|---|---|'];
  for (const r of results) {
    const measured = r.ratio === null ? 'n/a' : r.target.includes(' us') ? `${fmtNum(r.ratio)} us` : fmtRatio(r.ratio);
    const limit = r.target.includes(' us') ? `${r.op} ${r.limit} us` : `${r.op} ${r.limit}x`;
    lines.push(`| ${r.target} | ${r.row} | ${measured} | ${limit} | ${r.status} | ${r.detail} |`);
  }
  return lines.join('\n');
}
