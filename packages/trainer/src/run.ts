/**
 * One experiment end to end: load the model on the chosen backend, attach the method, train on
 * the task's train split, evaluate on its test split (with expert load and router entropy), and
 * return a RunResult.
 */
import { Generator, init, type Backend } from '@moegraph/tensor-webgpu';
import { loadModel, type LlamaModel, type Tokenizer } from '@moegraph/llm';
import '@moegraph/graph-router';
import '@moegraph/recurrent-router';
import { loadExamples } from './data/load.js';
import { encodeTrain } from './data/batch.js';
import { evaluate } from './eval/score.js';
import { attachMethod, checkOptionKeys, type AttachedMethod } from './methods.js';
import { createProgress, silentProgress, type ProgressReporter } from './progress.js';
import { train, type TrainHooks } from './train/loop.js';
import { METHODS, TASKS, type Example, type MethodName, type RunConfig, type RunResult } from './types.js';

/**
 * Defaults shared by every method (the GraphMoE paper's recipe where it gives one, scaled so a
 * run fits a laptop), then per-method adapter defaults from SPEC sections 2-4:
 * gmoe r 2 / alpha 4 (GMoE paper); graphmoe r 16 / alpha 32 / dropout 0.05 (GraphMoE paper);
 * every other method r 8 / alpha 16 / dropout 0.05. Experts 8, top-2 everywhere.
 */
export const BASE_DEFAULTS: Omit<RunConfig, 'model' | 'method'> = {
  seed: 0,
  backend: 'auto',
  epochs: 2,
  batchSize: 16,
  gradAccum: 1,
  lr: 2e-4,
  weightDecay: 0,
  schedule: 'linear',
  warmupSteps: 0,
  cutoff: 512,
  lossOn: 'answer',
  r: 8,
  alpha: 16,
  dropout: 0.05,
  numExperts: 8,
  topK: 2,
  nanPolicy: 'stop',
};

export const METHOD_DEFAULTS: Record<MethodName, Partial<RunConfig>> = {
  lora: {},
  dora: {},
  mixlora: {},
  loramoe: {},
  mola: {},
  mingmoe: {},
  gmoe: { r: 2, alpha: 4 },
  graphmoe: { r: 16, alpha: 32, dropout: 0.05 },
};

/** The model used when none is given: $MOEGRAPH_MODEL, else the shared stories260K GGUF. */
export async function defaultModelPath(): Promise<string> {
  if (process.env.MOEGRAPH_MODEL) return process.env.MOEGRAPH_MODEL;
  const { stories260KPath } = await import('@moegraph/llm/node');
  return stories260KPath();
}

/**
 * A complete RunConfig from a partial one: BASE_DEFAULTS, then the method's METHOD_DEFAULTS, then
 * `partial`. Method 'mixlora' and task 'arc-challenge' when neither task nor data is given.
 * `model` defaults to $MOEGRAPH_MODEL or '' (runExperiment then uses stories260K).
 */
export function defaultRunConfig(partial: Partial<RunConfig> = {}): RunConfig {
  const method = partial.method ?? 'mixlora';
  const defined = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) as Partial<RunConfig>;
  const cfg: RunConfig = {
    ...BASE_DEFAULTS,
    ...METHOD_DEFAULTS[method],
    model: process.env.MOEGRAPH_MODEL ?? '',
    method,
    ...defined,
  };
  if (!cfg.task && !cfg.data) cfg.task = 'arc-challenge';
  return cfg;
}

/** Check a RunConfig's values; throws an Error naming the first bad field. */
export function validateRunConfig(cfg: RunConfig): void {
  const bad = (field: string, want: string, got: unknown): never => {
    throw new Error(`config: ${field} must be ${want}, got ${JSON.stringify(got)}`);
  };
  if (!METHODS.includes(cfg.method)) bad('method', `one of ${METHODS.join(', ')}`, cfg.method);
  if (cfg.task !== undefined && !TASKS.includes(cfg.task)) bad('task', `one of ${TASKS.join(', ')}`, cfg.task);
  if (!cfg.task && !cfg.data) bad('task', 'given (or data with template)', cfg.task);
  if (!['auto', 'cpu', 'webgpu'].includes(cfg.backend)) bad('backend', 'auto, cpu or webgpu', cfg.backend);
  if (!['constant', 'linear', 'cosine'].includes(cfg.schedule)) bad('schedule', 'constant, linear or cosine', cfg.schedule);
  if (!['all', 'answer'].includes(cfg.lossOn)) bad('lossOn', "'all' or 'answer'", cfg.lossOn);
  if (!['stop', 'skip'].includes(cfg.nanPolicy)) bad('nanPolicy', "'stop' or 'skip'", cfg.nanPolicy);
  const posInt = ['epochs', 'batchSize', 'gradAccum', 'cutoff', 'r', 'numExperts', 'topK'] as const;
  for (const k of posInt) if (!(Number.isInteger(cfg[k]) && cfg[k] >= 1)) bad(k, 'a positive integer', cfg[k]);
  if (!(Number.isInteger(cfg.seed) && cfg.seed >= 0 && cfg.seed <= 0xffffffff)) bad('seed', 'an integer in [0, 2^32)', cfg.seed);
  if (!(Number.isInteger(cfg.warmupSteps) && cfg.warmupSteps >= 0)) bad('warmupSteps', 'an integer >= 0', cfg.warmupSteps);
  for (const k of ['lr', 'alpha'] as const) if (!(typeof cfg[k] === 'number' && Number.isFinite(cfg[k]) && cfg[k] > 0)) bad(k, 'a positive number', cfg[k]);
  if (!(Number.isFinite(cfg.weightDecay) && cfg.weightDecay >= 0)) bad('weightDecay', 'a number >= 0', cfg.weightDecay);
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) bad('dropout', 'in [0, 1)', cfg.dropout);
  if (cfg.topK > cfg.numExperts) bad('topK', `at most numExperts (${cfg.numExperts})`, cfg.topK);
  if (cfg.maxGradNorm !== undefined && !(cfg.maxGradNorm > 0)) bad('maxGradNorm', 'a positive number', cfg.maxGradNorm);
  for (const k of ['trainLimit', 'evalLimit', 'checkpointEvery'] as const) {
    const v = cfg[k];
    if (v !== undefined && !(Number.isInteger(v) && v >= 0)) bad(k, 'an integer >= 0', v);
  }
  checkOptionKeys(cfg.options);
}

export interface RunHooks extends TrainHooks {
  /** Continue from the latest checkpoint in cfg.checkpointDir (fresh start when there is none). */
  resume?: boolean;
  /** Skip evaluation (accuracy 0, evalExamples 0). */
  skipEval?: boolean;
  /** Show progress on stderr (a bar on a TTY, log lines otherwise). Default false. */
  showProgress?: boolean;
  /** Called once the model is loaded and the method attached (e.g. to inspect the adapter). */
  onAttached?(method: AttachedMethod, model: LlamaModel): void | Promise<void>;
  /** After training, before evaluation. */
  onTrained?(method: AttachedMethod, model: LlamaModel): void | Promise<void>;
}

/** Seeded subset: shuffle with `seed`'s stream, keep the first `limit` (all when undefined or 0). */
export function limitExamples<T>(xs: readonly T[], limit: number | undefined, seed: number): T[] {
  if (!limit || limit >= xs.length) return [...xs];
  const order = new Generator(seed).shuffle(xs.map((_, i) => i));
  return order.slice(0, limit).sort((a, b) => a - b).map((i) => xs[i]!);
}

/** Subset seeds: training subsets follow cfg.seed; the test subset is the same for every seed and method. */
const TRAIN_SUBSET_SALT = 0x53554254;
const EVAL_SUBSET_SEED = 0x45564c30;

export interface Loaded {
  backend: Backend;
  model: LlamaModel;
  tokenizer: Tokenizer;
}

/** Create the backend (cfg.backend) and load cfg.model (default: stories260K). */
export async function loadForRun(cfg: Pick<RunConfig, 'backend' | 'model'>): Promise<Loaded> {
  const backend = await init({ backend: cfg.backend });
  const path = cfg.model || (await defaultModelPath());
  const { model, tokenizer } = await loadModel(path, { backend });
  return { backend, model, tokenizer };
}

/** Evaluate the attached method on examples, collecting expert load and router entropy. */
export async function evaluateWithRoutes(
  model: LlamaModel, tokenizer: Tokenizer, method: AttachedMethod, examples: readonly Example[], batchSize: number, cutoff?: number,
): Promise<{ accuracy: number; seconds: number; samplesPerSec: number; expertLoad: RunResult['expertLoad']; routerEntropy: number | null }> {
  method.adapter.training = false;
  method.adapter.clearRoutes();
  const r = await evaluate(model, tokenizer, examples, { batchSize, adapter: method.adapter, cutoff });
  method.adapter.clearRoutes();
  const hasRoutes = (r.expertLoad?.length ?? 0) > 0;
  return {
    accuracy: r.accuracy, seconds: r.seconds, samplesPerSec: r.samplesPerSec,
    expertLoad: r.expertLoad ?? [], routerEntropy: hasRoutes ? (r.routerEntropy ?? null) : null,
  };
}

/** Run one experiment: load, attach, train, evaluate. The model is freed at the end. */
export async function runExperiment(cfgIn: RunConfig, hooks: RunHooks = {}): Promise<RunResult> {
  const cfg: RunConfig = { ...cfgIn, model: cfgIn.model || (await defaultModelPath()) };
  validateRunConfig(cfg);
  const progress: ProgressReporter = hooks.progress ?? (hooks.showProgress ? createProgress({ label: `${cfg.method}` }) : silentProgress);
  const trainAll = await loadExamples(cfg, 'train');
  const testAll = hooks.skipEval ? [] : await loadExamples(cfg, 'test');
  const trainEx = limitExamples(trainAll, cfg.trainLimit, (cfg.seed ^ TRAIN_SUBSET_SALT) >>> 0);
  const testEx = limitExamples(testAll, cfg.evalLimit, EVAL_SUBSET_SEED);
  if (trainEx.length === 0) throw new Error(`no training examples (${cfg.task ?? cfg.data})`);

  const { backend, model, tokenizer } = await loadForRun(cfg);
  let method: AttachedMethod | null = null;
  try {
    method = attachMethod(model, cfg);
    await hooks.onAttached?.(method, model);
    const cutoff = Math.min(cfg.cutoff, model.config.maxSeqLen || cfg.cutoff);
    const items = encodeTrain(tokenizer, trainEx, { cutoff });
    const padId = tokenizer.eos ?? 0;
    const tr = await train({ cfg, model, method, items, padId, resume: hooks.resume, hooks: { ...hooks, progress } });
    progress.done();
    await hooks.onTrained?.(method, model);
    const evalBatch = typeof cfg.options?.evalBatchSize === 'number' ? cfg.options.evalBatchSize : cfg.batchSize;
    const ev = testEx.length
      ? await evaluateWithRoutes(model, tokenizer, method, testEx, evalBatch, cutoff)
      : { accuracy: 0, seconds: 0, samplesPerSec: 0, expertLoad: [], routerEntropy: null };
    return {
      config: cfg,
      accuracy: ev.accuracy,
      evalExamples: testEx.length,
      trainExamples: trainEx.length,
      trainableParams: method.adapter.numParameters() + method.extraParams.reduce((n, p) => n + p.size, 0),
      trainSeconds: tr.trainSeconds,
      evalSeconds: ev.seconds,
      trainSamplesPerSec: tr.trainSamplesPerSec,
      evalSamplesPerSec: ev.samplesPerSec,
      steps: tr.steps,
      lossCurve: tr.lossCurve,
      expertLoad: ev.expertLoad,
      routerEntropy: ev.routerEntropy,
      backend: backend.name,
      finishedAt: new Date().toISOString(),
    };
  } finally {
    progress.done();
    method?.dispose();
    model.dispose();
  }
}
