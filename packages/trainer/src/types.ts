/**
 * The trainer's contract: tasks, methods, one run's configuration and its result. The CLI, the
 * benchmark app and the library all speak these types.
 */

export type TaskName = 'arc-challenge' | 'boolq' | 'openbookqa' | 'siqa';
export const TASKS: readonly TaskName[] = ['arc-challenge', 'boolq', 'openbookqa', 'siqa'];

export type MethodName = 'lora' | 'dora' | 'mixlora' | 'loramoe' | 'mola' | 'mingmoe' | 'gmoe' | 'graphmoe';
export const METHODS: readonly MethodName[] = ['lora', 'dora', 'mixlora', 'loramoe', 'mola', 'mingmoe', 'gmoe', 'graphmoe'];

/** One multiple-choice example, with its prompt already built from the task template. */
export interface Example {
  id: string;
  /** Text up to and including the final colon ("...\nAnswer:"). */
  prompt: string;
  /** Candidate answers as written after the colon: ['A', 'B', 'C', 'D'], ['true', 'false'], ... */
  labels: string[];
  /** Index into labels of the correct answer. */
  label: number;
}

export interface RunConfig {
  /** GGUF file or Hugging Face folder/URL. */
  model: string;
  /** A built-in task, or `data` (a JSONL file) with `template`. */
  task?: TaskName;
  data?: string;
  /** Prompt template for custom data: {question}, {choices}, {label:N}... (see data/template.ts). */
  template?: string;
  /** Folder holding the commonsense tasks (default ../shared/data/commonsense, env MOEGRAPH_DATA). */
  dataDir?: string;
  method: MethodName;
  seed: number;
  backend: 'auto' | 'cpu' | 'webgpu';
  epochs: number;
  batchSize: number;
  gradAccum: number;
  lr: number;
  weightDecay: number;
  schedule: 'constant' | 'linear' | 'cosine';
  warmupSteps: number;
  /** Tokens per example (longer ones are cut). */
  cutoff: number;
  maxGradNorm?: number;
  /** 'all': loss on every position (reference); 'answer': only the answer tokens (default). */
  lossOn: 'all' | 'answer';
  r: number;
  alpha: number;
  dropout: number;
  numExperts: number;
  topK: number;
  /** Method-specific options (aux loss coefficients, graph router and recurrent settings). */
  options?: Record<string, unknown>;
  /** Use only the first N (after seeded shuffling) training / test examples. */
  trainLimit?: number;
  evalLimit?: number;
  checkpointDir?: string;
  checkpointEvery?: number;
  /** What a NaN/Inf loss does: stop with an error (default) or skip the step. */
  nanPolicy: 'stop' | 'skip';
}

export interface ExpertLoad {
  /** Module path of the mixture layer. */
  layer: string;
  /** Share of top-K selections per expert (sums to 1). */
  share: number[];
  /** Standard deviation of `share` (GraphMoE's load-balance figure). */
  std: number;
}

export interface RunResult {
  config: RunConfig;
  accuracy: number;
  evalExamples: number;
  trainExamples: number;
  trainableParams: number;
  trainSeconds: number;
  evalSeconds: number;
  trainSamplesPerSec: number;
  evalSamplesPerSec: number;
  steps: number;
  lossCurve: { step: number; loss: number }[];
  expertLoad: ExpertLoad[];
  /** Mean router entropy over tokens and layers (nats); null for methods without routers. */
  routerEntropy: number | null;
  backend: string;
  finishedAt: string;
}
