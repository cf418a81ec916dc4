/**
 * moegraph-bench: the papers' accuracy/stability table, the GMoE ablation, hyper-parameter sweeps,
 * the CI gate, the MoE block micro-benchmark and the speed comparison with peers.
 *   node apps/bench/dist/cli.js <table|ablation|sweep|ci|block|perf> [options]   (--help for all)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isMethod, isTask, loadTrainer, METHODS, TASKS, type MethodName, type RunConfig, type TaskName, type TrainerApi } from './contract.js';
import { buildPlan, SUITES, SWEEP_AXES, type Plan, type SuiteName } from './plan.js';
import { APP_DIR, REPO_ROOT, checkPaths, resolvePaths } from './paths.js';
import { DEFAULT_PROFILES_FILE, loadProfiles, type Profile } from './profiles.js';
import { formatDuration, loadResults, runPlan, writeFileAtomic, type StoredResult } from './runner.js';
import { writeReports } from './report/write.js';
import { toEntry } from './report/summary.js';
import { checkGate, formatGate, makeBaseline, measure, type Baseline, type Tolerance } from './ci/gate.js';
import { runPerf } from './perf-run.js';
import { timeReferenceKernel, type ReferenceOptions, type ReferenceTiming } from './ci/refkernel.js';

export const COMMANDS = [...SUITES, 'block', 'perf'] as const;
export type Command = (typeof COMMANDS)[number];

export const USAGE = `Usage: node apps/bench/dist/cli.js <command> [options]

Commands
  table      methods x tasks x seeds: the accuracy/stability table (GMoE paper Table 1 layout),
             trainable parameters, throughput, expert load; Markdown + HTML report
  ablation   GMoE, GMoE - graph (linear router), - Poisson loss, - Normal loss
  sweep      GMoE experts {4,8,12,16,32}, top-K {1..5}, rank {1..32}, edge density {0.1..0.8},
             five random graphs; GraphMoE rounds T {1..5}, GRU hidden scale (pick with --axes)
  ci         the CI slice, compared with a committed baseline (exit 1 on a regression)
  block      the MoE block training-step benchmark (src/block.mjs; remaining args passed on)
  perf       our cpu/webgpu backends beside PyTorch, OpenBLAS and tfjs-wasm in one run: matmul,
             dispatch overhead, MoE block step, stories260K and llama-512x8 training tokens/s,
             ratios to PyTorch and the issue's targets (perf --help for its options)

Options
  --profile NAME        quick | ci | full (profiles.json; default: quick, ci for the ci command)
  --methods a,b         methods for table/ci (${METHODS.join(', ')}; 'all')
  --tasks a,b           tasks (${TASKS.join(', ')}; 'all')
  --seeds N | a,b,c     N seeds 0..N-1, or a list of seeds
  --axes a,b            sweep axes (${Object.keys(SWEEP_AXES).join(', ')}; default all)
  --out DIR             results folder (default bench-results/<command>-<profile> in the repo)
  --model FILE          model (default ../shared/models/stories260K/stories260K.gguf; env MOEGRAPH_MODEL)
  --data-dir DIR        commonsense data (default ../shared/data/commonsense; env MOEGRAPH_DATA;
                        MOEGRAPH_SHARED moves ../shared)
  --backend B           auto | cpu | webgpu (default: the profile's, else auto)
  --train-limit N       first N training examples (after seeded shuffling); 0 = all
  --eval-limit N        first N test examples; 0 = all
  --epochs N            training epochs
  --force               rerun runs whose results exist (default: finished runs are skipped)
  --fail-fast           stop at the first failed run
  --dry-run             print the plan and exit
  --report-only         re-render report.md / report.html from OUT/runs without running
  --profiles FILE       another profiles file
  ci only:
  --baseline FILE       baseline JSON (default: the profile's, baseline/ci.json)
  --update-baseline     write this run's measurements as the new baseline (exit 0)
  --accuracy-tolerance X  allowed absolute accuracy drop, 0..1 (default: the profile's)
  --throughput-ratio X    minimum relative-throughput ratio to the baseline (default: the profile's)
  -h, --help            this text

Outputs in OUT: runs/<variant>__<task>__seed<N>.json (one RunResult per run, written atomically;
running the same command again resumes), report.md, report.html, summary.json, plan.json.
`;

export class CliError extends Error {}

export interface CliOptions {
  command: Command;
  profile: string;
  methods?: MethodName[];
  tasks?: TaskName[];
  seeds?: number[];
  axes?: string[];
  out?: string;
  model?: string;
  dataDir?: string;
  backend?: 'auto' | 'cpu' | 'webgpu';
  trainLimit?: number;
  evalLimit?: number;
  epochs?: number;
  force: boolean;
  failFast: boolean;
  dryRun: boolean;
  reportOnly: boolean;
  profilesFile?: string;
  baseline?: string;
  updateBaseline: boolean;
  accuracyTolerance?: number;
  throughputRatio?: number;
  help: boolean;
  /** Arguments after the command for `block` and `perf`. */
  rest: string[];
}

function list<T extends string>(v: string | undefined, all: readonly T[], ok: (s: string) => boolean, what: string): T[] | undefined {
  if (v === undefined) return undefined;
  if (v === 'all') return [...all];
  const xs = v.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = xs.filter((x) => !ok(x));
  if (bad.length || xs.length === 0) throw new CliError(`unknown ${what} '${bad.join(',') || v}' (expected ${all.join(', ')} or all)`);
  return [...new Set(xs)] as T[];
}

function num(v: string | undefined, name: string, opts: { int?: boolean; min?: number } = {}): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isFinite(x) || (opts.int && !Number.isInteger(x)) || (opts.min !== undefined && x < opts.min)) {
    throw new CliError(`--${name}: expected ${opts.int ? 'an integer' : 'a number'}${opts.min !== undefined ? ` >= ${opts.min}` : ''}, got '${v}'`);
  }
  return x;
}

export function parseSeeds(v: string): number[] {
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    if (n < 1) throw new CliError('--seeds: need at least one seed');
    return Array.from({ length: n }, (_, i) => i);
  }
  const xs = v.split(',').map((s) => s.trim());
  if (!xs.every((s) => /^\d+$/.test(s))) throw new CliError(`--seeds: expected N or a list like 0,1,2, got '${v}'`);
  return [...new Set(xs.map(Number))];
}

export function parseCli(argv: string[]): CliOptions {
  const [first, ...after] = argv;
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    return { command: 'table', profile: 'quick', force: false, failFast: false, dryRun: false, reportOnly: false, updateBaseline: false, help: true, rest: [] };
  }
  if (!(COMMANDS as readonly string[]).includes(first)) throw new CliError(`unknown command '${first}' (expected ${COMMANDS.join(', ')})`);
  const command = first as Command;
  if (command === 'block' || command === 'perf') {
    return { command, profile: '', force: false, failFast: false, dryRun: false, reportOnly: false, updateBaseline: false, help: after.includes('--help') || after.includes('-h'), rest: after };
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: after,
      strict: true,
      allowPositionals: false,
      options: {
        profile: { type: 'string' }, methods: { type: 'string' }, tasks: { type: 'string' }, seeds: { type: 'string' }, axes: { type: 'string' },
        out: { type: 'string' }, model: { type: 'string' }, 'data-dir': { type: 'string' }, backend: { type: 'string' },
        'train-limit': { type: 'string' }, 'eval-limit': { type: 'string' }, epochs: { type: 'string' },
        force: { type: 'boolean' }, 'fail-fast': { type: 'boolean' }, 'dry-run': { type: 'boolean' }, 'report-only': { type: 'boolean' },
        profiles: { type: 'string' }, baseline: { type: 'string' }, 'update-baseline': { type: 'boolean' },
        'accuracy-tolerance': { type: 'string' }, 'throughput-ratio': { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new CliError(String((e as Error).message));
  }
  const s = (k: string) => values[k] as string | undefined;
  const b = (k: string) => Boolean(values[k]);
  const backend = s('backend');
  if (backend !== undefined && !['auto', 'cpu', 'webgpu'].includes(backend)) throw new CliError(`--backend: expected auto, cpu or webgpu, got '${backend}'`);
  if (command !== 'ci' && (s('baseline') || b('update-baseline'))) throw new CliError('--baseline and --update-baseline belong to the ci command');
  if (command !== 'sweep' && s('axes')) throw new CliError('--axes belongs to the sweep command');
  const axes = s('axes')?.split(',').map((x) => x.trim()).filter(Boolean);
  const badAxes = axes?.filter((a) => !(a in SWEEP_AXES)) ?? [];
  if (badAxes.length) throw new CliError(`unknown sweep axis '${badAxes.join(',')}' (expected ${Object.keys(SWEEP_AXES).join(', ')})`);
  return {
    command,
    profile: s('profile') ?? (command === 'ci' ? 'ci' : 'quick'),
    methods: list<MethodName>(s('methods'), METHODS, isMethod, 'method'),
    tasks: list<TaskName>(s('tasks'), TASKS, isTask, 'task'),
    seeds: s('seeds') !== undefined ? parseSeeds(s('seeds')!) : undefined,
    axes,
    out: s('out'),
    model: s('model'),
    dataDir: s('data-dir'),
    backend: backend as CliOptions['backend'],
    trainLimit: num(s('train-limit'), 'train-limit', { int: true, min: 0 }),
    evalLimit: num(s('eval-limit'), 'eval-limit', { int: true, min: 0 }),
    epochs: num(s('epochs'), 'epochs', { min: 0 }),
    force: b('force'),
    failFast: b('fail-fast'),
    dryRun: b('dry-run'),
    reportOnly: b('report-only'),
    profilesFile: s('profiles'),
    baseline: s('baseline'),
    updateBaseline: b('update-baseline'),
    accuracyTolerance: num(s('accuracy-tolerance'), 'accuracy-tolerance', { min: 0 }),
    throughputRatio: num(s('throughput-ratio'), 'throughput-ratio', { min: 0 }),
    help: b('help'),
    rest: [],
  };
}

/** The profile, flags and paths made into a plan (no trainer needed). */
export function planFromOptions(o: CliOptions, profile: Profile, paths: { model: string; dataDir: string }): Plan {
  const base: Partial<RunConfig> = { ...profile.config, model: paths.model, dataDir: paths.dataDir };
  if (o.backend) base.backend = o.backend;
  // 0 means "all": leave the limit out.
  for (const [k, v] of [['trainLimit', o.trainLimit], ['evalLimit', o.evalLimit]] as const) {
    if (v === 0) delete base[k];
    else if (v !== undefined) base[k] = v;
  }
  if (o.epochs !== undefined) base.epochs = o.epochs;
  return buildPlan({
    suite: o.command as SuiteName,
    profile: profile.name,
    methods: o.methods ?? profile.methods,
    tasks: o.tasks ?? profile.tasks,
    seeds: o.seeds ?? Array.from({ length: profile.seeds }, (_, i) => i),
    base,
    axes: o.axes,
  });
}

export interface CliDeps {
  trainer?: TrainerApi;
  referenceKernel?: (opts: ReferenceOptions) => Promise<ReferenceTiming>;
  log?: (line: string) => void;
  error?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** Runs the CLI; resolves to the exit code (0 ok, 1 gate failure or failed runs, 2 usage/setup error). */
export async function runCli(argv: string[], deps: CliDeps = {}): Promise<number> {
  const log = deps.log ?? ((l: string) => console.log(l));
  const error = deps.error ?? ((l: string) => console.error(l));
  let o: CliOptions;
  try {
    o = parseCli(argv);
  } catch (e) {
    if (e instanceof CliError) {
      error(`moegraph-bench: ${e.message}\n(run with --help for usage)`);
      return 2;
    }
    throw e;
  }
  if (o.command === 'perf') return runPerf(o.rest, { log, error, env: deps.env });
  if (o.command === 'block') {
    const r = spawnSync(process.execPath, [path.join(APP_DIR, 'src/block.mjs'), ...o.rest], { stdio: 'inherit' });
    return r.status ?? 1;
  }
  if (o.help) {
    log(USAGE);
    return 0;
  }
  let profiles: Record<string, Profile>;
  try {
    profiles = loadProfiles(o.profilesFile ?? DEFAULT_PROFILES_FILE);
  } catch (e) {
    error(`moegraph-bench: ${(e as Error).message}`);
    return 2;
  }
  const profile = profiles[o.profile];
  if (!profile) {
    error(`moegraph-bench: unknown profile '${o.profile}' (have ${Object.keys(profiles).join(', ')})`);
    return 2;
  }
  const env = deps.env ?? process.env;
  const paths = resolvePaths({ model: o.model, dataDir: o.dataDir }, env);
  const plan = planFromOptions(o, profile, paths);
  const outDir = path.resolve(o.out ?? path.join(REPO_ROOT, 'bench-results', `${o.command}-${profile.name}`));
  const meta = { title: plan.title, suite: plan.suite, profile: profile.name, model: path.basename(paths.model) };
  const order = plan.variants.map((v) => v.key);

  if (o.dryRun) {
    log(`${plan.title}: profile ${profile.name} (${profile.description})`);
    log(`${plan.variants.length} rows x ${plan.tasks.length} tasks x ${plan.seeds.length} seeds = ${plan.runs.length} runs -> ${outDir}`);
    log(`model ${paths.model} (${paths.modelFrom}); data ${paths.dataDir} (${paths.dataFrom})`);
    for (const r of plan.runs) log(`  ${r.id}  ${JSON.stringify({ ...r.partial, model: undefined, dataDir: undefined })}`);
    return 0;
  }

  if (o.reportOnly) {
    const results = loadResults(outDir).filter((r) => plan.runs.some((p) => p.id === r.bench.id));
    if (!results.length) {
      error(`moegraph-bench: no results for this plan in ${outDir}/runs`);
      return 2;
    }
    const w = writeReports(outDir, results, meta, { tasks: plan.tasks, order });
    log(w.markdown);
    log(`wrote ${w.markdownFile}, ${w.htmlFile}`);
    return 0;
  }

  const problems = checkPaths(paths, plan.tasks);
  if (problems.length) {
    for (const p of problems) error(`moegraph-bench: ${p}`);
    return 2;
  }

  let trainer = deps.trainer;
  if (!trainer) {
    try {
      trainer = await loadTrainer();
    } catch (e) {
      error(`moegraph-bench: ${(e as Error).message}`);
      return 2;
    }
  }

  writeFileAtomic(path.join(outDir, 'plan.json'), `${JSON.stringify({ suite: plan.suite, profile: plan.profile, variants: plan.variants, tasks: plan.tasks, seeds: plan.seeds, runs: plan.runs.map((r) => r.id) }, null, 1)}\n`);
  log(`${plan.title}: ${plan.runs.length} runs (${plan.variants.length} rows x ${plan.tasks.length} tasks x ${plan.seeds.length} seeds), profile ${profile.name}, results in ${outDir}`);
  if (profile.budgetSeconds) log(`profile budget: ${formatDuration(profile.budgetSeconds)} on a 2-core machine`);

  const refOpts: ReferenceOptions = {};
  const timeRef = deps.referenceKernel ?? timeReferenceKernel;
  let refBefore: ReferenceTiming | undefined;
  if (o.command === 'ci') refBefore = await timeRef(refOpts);

  const t0 = performance.now();
  const summary = await runPlan(plan, outDir, { run: (c) => trainer!.runExperiment(c), makeConfig: (p) => trainer!.defaultRunConfig(p), log }, {
    force: o.force,
    failFast: o.failFast,
    checkpoints: true,
  });
  log(`ran ${summary.ran.length}, skipped ${summary.skipped.length} (already finished), failed ${summary.failed.length} in ${formatDuration((performance.now() - t0) / 1000)}`);

  let code = summary.failed.length ? 1 : 0;
  if (summary.results.length) {
    const w = writeReports(outDir, summary.results, meta, { tasks: plan.tasks, order });
    log('');
    log(w.markdown);
    log(`wrote ${w.markdownFile}, ${w.htmlFile}, ${w.summaryFile}`);
  }
  for (const f of summary.failed) error(`failed: ${f.id}: ${f.error.split('\n')[0]} (details in ${path.join(outDir, 'runs', `${f.id}.error.txt`)})`);

  if (o.command === 'ci') {
    const refAfter = await timeRef(refOpts);
    // Best of the two timings: the reference's speed when the machine was least disturbed.
    const ref = refBefore && refBefore.perSec > refAfter.perSec ? refBefore : refAfter;
    log(`reference kernel: ${ref.kernel} on ${ref.backend}: ${ref.perSec.toFixed(2)}/s (${ref.gflops.toFixed(2)} GFLOP/s)`);
    code = Math.max(code, ciGate(o, profile, plan, summary.results, ref, log, error));
  }
  return code;
}

function ciGate(o: CliOptions, profile: Profile, plan: Plan, results: StoredResult[], ref: ReferenceTiming, log: (l: string) => void, error: (l: string) => void): number {
  const gate = profile.gate;
  const tol: Tolerance = {
    accuracyTolerance: o.accuracyTolerance ?? gate?.accuracyTolerance ?? 0.05,
    throughputRatio: o.throughputRatio ?? gate?.throughputRatio ?? 0.5,
  };
  const file = path.resolve(APP_DIR, o.baseline ?? gate?.baseline ?? 'baseline/ci.json');
  const current = measure(results.map(toEntry), ref);
  if (o.updateBaseline) {
    const b = makeBaseline(current, { profile: profile.name, tasks: plan.tasks, seeds: plan.seeds, tolerance: tol });
    writeFileAtomic(file, `${JSON.stringify(b, null, 2)}\n`);
    log(`baseline written: ${file}`);
    return 0;
  }
  if (!existsSync(file)) {
    error(`moegraph-bench: no baseline at ${file}; record one with: node apps/bench/dist/cli.js ci --update-baseline`);
    return 1;
  }
  const baseline = JSON.parse(readFileSync(file, 'utf8')) as Baseline;
  const g = checkGate(current, baseline, tol);
  log('');
  log(`CI gate vs ${path.relative(process.cwd(), file) || file} (baseline ${baseline.createdAt}, backend ${baseline.backend})`);
  log(formatGate(g, tol));
  return g.ok ? 0 : 1;
}
