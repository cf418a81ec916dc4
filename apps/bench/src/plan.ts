/**
 * Suites -> variants (table rows) -> runs (variant x task x seed), each a partial RunConfig that
 * the runner completes with the trainer's defaultRunConfig().
 *
 * Ablation and sweep variants set RunConfig fields (numExperts, topK, r, alpha) or keys of
 * `RunConfig.options` that the trainer reads (see OPTION_KEYS).
 */
import { METHOD_LABELS, type MethodName, type RunConfig, type TaskName } from './contract.js';

export type SuiteName = 'table' | 'ablation' | 'sweep' | 'ci';
export const SUITES: readonly SuiteName[] = ['table', 'ablation', 'sweep', 'ci'];

/**
 * The `RunConfig.options` keys that ablation and sweep variants set; the trainer must honour them:
 *   router: 'linear'          GMoE without the graph (MixLoRA's linear router, GMoE's losses kept)
 *   poissonCoef: 0            GMoE without the Poisson distinction loss
 *   normalCoef: 0             GMoE without the Normal balance loss
 *   beta: b                   graph router density rule beta (paper 0.1)
 *   graph: { graphSeed: n }   seed of the random expert graph only (weights, data and model seed unchanged)
 *   rounds: T                 GraphMoE recurrent rounds (paper 3)
 *   hiddenScale: s            GraphMoE GRU hidden size = int(s * d) (paper 0.1)
 * (the names the trainer's methods.ts reads: METHOD_OPTION_KEYS)
 */
export const OPTION_KEYS = ['router', 'poissonCoef', 'normalCoef', 'beta', 'graph', 'rounds', 'hiddenScale'] as const;

export interface Variant {
  /** File-name safe, unique in a suite. */
  key: string;
  /** Row label in tables and charts. */
  label: string;
  method: MethodName;
  /** Laid over the profile's config (options are merged key by key). */
  overrides: Partial<RunConfig>;
  /** Sweep axis this variant belongs to (sweep only). */
  axis?: string;
}

export interface PlannedRun {
  /** `${variant.key}__${task}__seed${seed}`: the result file's name without .json. */
  id: string;
  variant: Variant;
  task: TaskName;
  seed: number;
  /** What the runner passes to defaultRunConfig(). */
  partial: Partial<RunConfig>;
}

export interface Plan {
  suite: SuiteName;
  profile: string;
  title: string;
  variants: Variant[];
  tasks: TaskName[];
  seeds: number[];
  runs: PlannedRun[];
}

export interface PlanInput {
  suite: SuiteName;
  profile: string;
  methods: MethodName[];
  tasks: TaskName[];
  seeds: number[];
  /** Profile config plus flag overrides, model and data paths. */
  base: Partial<RunConfig>;
  /** Sweep axes to include (default all). */
  axes?: string[];
}

export function methodVariant(m: MethodName): Variant {
  return { key: m, label: METHOD_LABELS[m], method: m, overrides: {} };
}

export function ablationVariants(): Variant[] {
  return [
    { key: 'gmoe', label: 'GMoE', method: 'gmoe', overrides: {} },
    { key: 'gmoe-no-graph', label: 'GMoE - graph (linear router)', method: 'gmoe', overrides: { options: { router: 'linear' } } },
    { key: 'gmoe-no-poisson', label: 'GMoE - Poisson', method: 'gmoe', overrides: { options: { poissonCoef: 0 } } },
    { key: 'gmoe-no-normal', label: 'GMoE - Normal', method: 'gmoe', overrides: { options: { normalCoef: 0 } } },
  ];
}

/** Sweep axes, each a list of variants; GMoE for the graph-router axes, GraphMoE for rounds and GRU size. */
export const SWEEP_AXES: Record<string, { describe: string; variants: () => Variant[] }> = {
  experts: {
    describe: 'number of experts N in {4, 8, 12, 16, 32} (GMoE)',
    variants: () => [4, 8, 12, 16, 32].map((n) => ({ key: `gmoe-experts${n}`, label: `GMoE N=${n}`, method: 'gmoe', axis: 'experts', overrides: { numExperts: n } })),
  },
  topk: {
    describe: 'top-K in {1..5} (GMoE)',
    variants: () => [1, 2, 3, 4, 5].map((k) => ({ key: `gmoe-top${k}`, label: `GMoE K=${k}`, method: 'gmoe', axis: 'topk', overrides: { topK: k } })),
  },
  rank: {
    describe: 'LoRA rank r in {1, 2, 4, 8, 16, 32}, alpha = 2r (GMoE)',
    variants: () => [1, 2, 4, 8, 16, 32].map((r) => ({ key: `gmoe-r${r}`, label: `GMoE r=${r}`, method: 'gmoe', axis: 'rank', overrides: { r, alpha: 2 * r } })),
  },
  density: {
    describe: 'graph edge density beta in {0.1..0.8} (GMoE)',
    variants: () => [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8].map((b) => ({
      key: `gmoe-density${Math.round(b * 10)}`, label: `GMoE beta=${b}`, method: 'gmoe', axis: 'density', overrides: { options: { beta: b } },
    })),
  },
  graphs: {
    describe: 'five random graphs: seeds of the graph only, 0..4 (GMoE)',
    variants: () => [0, 1, 2, 3, 4].map((g) => ({ key: `gmoe-graph${g}`, label: `GMoE graph #${g}`, method: 'gmoe', axis: 'graphs', overrides: { options: { graph: { graphSeed: g } } } })),
  },
  rounds: {
    describe: 'recurrent rounds T in {1..5} (GraphMoE)',
    variants: () => [1, 2, 3, 4, 5].map((t) => ({ key: `graphmoe-rounds${t}`, label: `GraphMoE T=${t}`, method: 'graphmoe', axis: 'rounds', overrides: { options: { rounds: t } } })),
  },
  gru: {
    describe: 'GRU hidden size scale d_bar/d in {0.05, 0.1, 0.2, 0.3, 0.5} (GraphMoE)',
    variants: () => [0.05, 0.1, 0.2, 0.3, 0.5].map((s) => ({
      key: `graphmoe-gru${String(s).replace('.', 'p')}`, label: `GraphMoE d_bar/d=${s}`, method: 'graphmoe', axis: 'gru', overrides: { options: { hiddenScale: s } },
    })),
  },
};

export function sweepVariants(axes?: string[]): Variant[] {
  const names = axes && axes.length ? axes : Object.keys(SWEEP_AXES);
  const unknown = names.filter((a) => !(a in SWEEP_AXES));
  if (unknown.length) throw new Error(`unknown sweep axis ${unknown.join(', ')} (have ${Object.keys(SWEEP_AXES).join(', ')})`);
  return names.flatMap((a) => SWEEP_AXES[a]!.variants());
}

export function mergeConfig(base: Partial<RunConfig>, over: Partial<RunConfig>): Partial<RunConfig> {
  const out: Partial<RunConfig> = { ...base, ...over };
  if (base.options || over.options) out.options = { ...(base.options ?? {}), ...(over.options ?? {}) };
  return out;
}

const TITLES: Record<SuiteName, string> = {
  table: 'Accuracy and stability (paper Table 1 layout)',
  ablation: 'GMoE ablation: graph router, Poisson and Normal losses',
  sweep: 'Hyper-parameter sweep',
  ci: 'CI slice',
};

export function buildPlan(input: PlanInput): Plan {
  const variants =
    input.suite === 'ablation' ? ablationVariants() : input.suite === 'sweep' ? sweepVariants(input.axes) : input.methods.map(methodVariant);
  const runs: PlannedRun[] = [];
  for (const variant of variants) {
    for (const task of input.tasks) {
      for (const seed of input.seeds) {
        const partial = mergeConfig(mergeConfig(input.base, variant.overrides), { method: variant.method, task, seed });
        runs.push({ id: `${variant.key}__${task}__seed${seed}`, variant, task, seed, partial });
      }
    }
  }
  return { suite: input.suite, profile: input.profile, title: TITLES[input.suite], variants, tasks: [...input.tasks], seeds: [...input.seeds], runs };
}
