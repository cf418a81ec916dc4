/**
 * The trainer's contract as the benchmark app uses it. Types come from `@moegraph/trainer`
 * (type-only: erased at run time); the method and task lists are repeated here so that report
 * rendering, planning and CLI parsing load without the trainer being built. `satisfies` keeps
 * them in step with the contract's unions at typecheck time.
 */
import type { MethodName, RunConfig, RunResult, TaskName, ExpertLoad } from '@moegraph/trainer';

export type { MethodName, RunConfig, RunResult, TaskName, ExpertLoad };

export const TASKS = ['arc-challenge', 'boolq', 'openbookqa', 'siqa'] as const satisfies readonly TaskName[];
export const METHODS = ['lora', 'dora', 'mixlora', 'loramoe', 'mola', 'mingmoe', 'gmoe', 'graphmoe'] as const satisfies readonly MethodName[];

/** Column headers in the papers' Table 1. */
export const TASK_LABELS: Record<TaskName, string> = {
  'arc-challenge': 'ARC-C',
  boolq: 'BoolQ',
  openbookqa: 'OBQA',
  siqa: 'SIQA',
};

export const METHOD_LABELS: Record<MethodName, string> = {
  lora: 'LoRA',
  dora: 'DoRA',
  mixlora: 'MixLoRA',
  loramoe: 'LoRAMoE',
  mola: 'MoLA',
  mingmoe: 'MING-MoE',
  gmoe: 'GMoE',
  graphmoe: 'GraphMoE',
};

export function isTask(s: string): s is TaskName {
  return (TASKS as readonly string[]).includes(s);
}
export function isMethod(s: string): s is MethodName {
  return (METHODS as readonly string[]).includes(s);
}

/** The functions the runner needs from `@moegraph/trainer` (injected, so tests can fake them). */
export interface TrainerApi {
  runExperiment(cfg: RunConfig): Promise<RunResult>;
  defaultRunConfig(partial: Partial<RunConfig>): RunConfig | Promise<RunConfig>;
}

/** Loads the trainer lazily: only commands that train need it built. */
export async function loadTrainer(): Promise<TrainerApi> {
  let mod: Partial<TrainerApi>;
  try {
    mod = (await import('@moegraph/trainer')) as Partial<TrainerApi>;
  } catch (e) {
    throw new Error(
      `cannot load @moegraph/trainer (${String((e as Error)?.message ?? e).split('\n')[0]}); build it first: npm run build -w @moegraph/trainer`,
    );
  }
  if (typeof mod.runExperiment !== 'function' || typeof mod.defaultRunConfig !== 'function') {
    throw new Error('@moegraph/trainer does not export runExperiment and defaultRunConfig yet (rebuild it: npm run build -w @moegraph/trainer)');
  }
  return { runExperiment: mod.runExperiment, defaultRunConfig: mod.defaultRunConfig };
}
