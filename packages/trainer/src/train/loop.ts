/**
 * The training loop: seeded epochs of shuffled batches, gradient accumulation, AdamW over the
 * adapter's and the loss modules' parameters, a learning-rate schedule, NaN/Inf handling and
 * atomic checkpoints that a killed run resumes from bit-exactly.
 *
 * One seed drives everything: the adapter's initialisation, dropout masks and expert graphs come
 * from attachMethod (cfg.seed); the data order comes from `dataGenerator(cfg.seed)`.
 */
import { AdamW, Generator, hash32, readAll, scope, tensor, add, mul, type Tensor } from '@moegraph/tensor-webgpu';
import type { LlamaModel } from '@moegraph/llm';
import { causalLMLoss } from '@moegraph/losses';
import { makeBatches, type Batch, type TrainItem } from '../data/batch.js';
import type { AttachedMethod } from '../methods.js';
import { silentProgress, type ProgressReporter } from '../progress.js';
import type { RunConfig } from '../types.js';
import { latestCheckpoint, readCheckpoint, restoreAdapterTensors, writeCheckpoint, type CheckpointState } from '../checkpoint/index.js';
import { adapterGenerators } from './generators.js';
import { learningRate } from './schedule.js';

/** The data-order stream of a seed (independent of the adapter's initialisation stream). */
export function dataGenerator(seed: number): Generator {
  return new Generator(hash32((seed ^ 0x44415441) >>> 0));
}

export interface StepInfo {
  /** Completed optimizer steps (1-based for the step just done). */
  step: number;
  totalSteps: number;
  epoch: number;
  /** Mean loss of the step's micro-batches (LM loss + aux), NaN when skipped. */
  loss: number;
  /** LM (cross-entropy) part of the loss. */
  lmLoss: number;
  lr: number;
  skipped: boolean;
  /** A checkpoint was written after this step (its folder). */
  checkpoint: string | null;
}

export interface TrainHooks {
  /** After every optimizer step (and its checkpoint, when one is due). Throwing aborts training. */
  onStep?(info: StepInfo): void | Promise<void>;
  /**
   * Rewrite a micro-batch's total loss before backward (fault injection in tests, e.g.
   * `(l, step) => step === 3 ? mul(l, NaN) : l`). `step` is the 0-based optimizer step.
   */
  transformLoss?(loss: Tensor, step: number): Tensor;
  /** Progress reporter (default: none). */
  progress?: ProgressReporter;
}

export interface TrainOptions {
  cfg: RunConfig;
  model: LlamaModel;
  method: AttachedMethod;
  items: readonly TrainItem[];
  padId: number;
  /** Continue from the latest checkpoint in cfg.checkpointDir (a fresh start when there is none). */
  resume?: boolean;
  hooks?: TrainHooks;
}

export interface TrainResult {
  steps: number;
  totalSteps: number;
  /** LM (cross-entropy) loss per applied step, mean over its micro-batches (aux losses excluded, so methods compare). */
  lossCurve: { step: number; loss: number }[];
  /** Steps whose update was skipped for a non-finite loss (nanPolicy 'skip'). */
  skippedSteps: number[];
  /** Wall-clock seconds of training (summed over resumed segments). */
  trainSeconds: number;
  /** Examples processed (each epoch counts each example), over all segments. */
  samplesSeen: number;
  tokensSeen: number;
  trainSamplesPerSec: number;
  /** The checkpoint training resumed from, if any. */
  resumedFrom: string | null;
}

/** Number of optimizer steps for `n` items. */
export function plannedSteps(cfg: Pick<RunConfig, 'epochs' | 'batchSize' | 'gradAccum'>, n: number): { chunksPerEpoch: number; total: number; batchesPerEpoch: number } {
  const batchesPerEpoch = Math.ceil(n / cfg.batchSize);
  const chunksPerEpoch = Math.ceil(batchesPerEpoch / cfg.gradAccum);
  return { batchesPerEpoch, chunksPerEpoch, total: cfg.epochs * chunksPerEpoch };
}

/** Copy host values into a parameter tensor in place (keeping its binding to the optimizer's storage). */
function writeParam(t: Tensor, values: ArrayLike<number>): void {
  if (values.length !== t.size) throw new Error(`checkpoint: parameter '${t.name ?? '?'}' has ${t.size} values, the checkpoint ${values.length}`);
  const be = t.backend;
  const tmp = tensor(Float32Array.from(values), t.shape, { backend: be });
  be.accumulate(t.buffer('load').storage, t.offset, tmp.view(), 'copy');
  tmp.dispose();
}

function nonFinite(x: number): boolean {
  return !Number.isFinite(x);
}

export async function train(opts: TrainOptions): Promise<TrainResult> {
  const { cfg, model, method, items, padId } = opts;
  const hooks = opts.hooks ?? {};
  const progress = hooks.progress ?? silentProgress;
  const adapter = method.adapter;
  const be = model.backend;
  if (items.length === 0) throw new Error('train: no training examples');
  for (const [k, v] of [['epochs', cfg.epochs], ['batchSize', cfg.batchSize], ['gradAccum', cfg.gradAccum]] as const) {
    if (!(Number.isInteger(v) && v >= 1)) throw new Error(`train: ${k} must be a positive integer, got ${v}`);
  }
  const params = [...adapter.parameters(), ...method.extraParams];
  const opt = new AdamW(params, { lr: cfg.lr, weightDecay: cfg.weightDecay, maxGradNorm: cfg.maxGradNorm, ...adamExtras(cfg) });
  const gens = adapterGenerators(adapter);
  const dataGen = dataGenerator(cfg.seed);
  const { chunksPerEpoch, total } = plannedSteps(cfg, items.length);

  let step = 0;
  let startEpoch = 0;
  let startChunk = 0;
  let lossCurve: { step: number; loss: number }[] = [];
  let skippedSteps: number[] = [];
  let samplesSeen = 0;
  let tokensSeen = 0;
  let priorSeconds = 0;
  let resumedFrom: string | null = null;

  try {
    if (opts.resume) {
      if (!cfg.checkpointDir) throw new Error('resume: no checkpoint folder given (checkpointDir)');
      const path = await latestCheckpoint(cfg.checkpointDir);
      if (path) {
        const ck = await readCheckpoint(path);
        const s = ck.state;
        if (s.config.method !== cfg.method || s.config.seed !== cfg.seed) {
          throw new Error(`${path}: checkpoint is for method '${s.config.method}' seed ${s.config.seed}, this run is '${cfg.method}' seed ${cfg.seed}`);
        }
        await restoreAdapterTensors(adapter, ck.adapterDir);
        if (s.extraParams.length !== method.extraParams.length) throw new Error(`${path}: checkpoint holds ${s.extraParams.length} loss parameters, the method ${method.extraParams.length}`);
        s.extraParams.forEach((v, i) => writeParam(method.extraParams[i]!, v));
        opt.importState(ck.optimizer);
        if (s.generators.length !== gens.length) throw new Error(`${path}: checkpoint holds ${s.generators.length} generator states, the adapter has ${gens.length}`);
        s.generators.forEach((g, i) => gens[i]!.setState(g));
        method.loadState(s.lossState);
        dataGen.setState(s.dataGeneratorState);
        step = s.step;
        startEpoch = s.epoch;
        startChunk = s.nextChunk;
        lossCurve = [...s.lossCurve];
        skippedSteps = [...s.skippedSteps];
        samplesSeen = s.samplesSeen;
        tokensSeen = s.tokensSeen;
        priorSeconds = s.trainSeconds;
        resumedFrom = path;
        progress.log(`resumed from ${path} at step ${step}/${total}`);
      }
    }

    const t0 = performance.now();
    const seconds = () => priorSeconds + (performance.now() - t0) / 1000;
    let segSamples = 0;
    let segTokens = 0;
    adapter.training = true;

    for (let epoch = startEpoch; epoch < cfg.epochs; epoch++) {
      const epochGenState = dataGen.getState();
      const batches = makeBatches(items, { batchSize: cfg.batchSize, generator: dataGen, padId });
      for (let chunk = epoch === startEpoch ? startChunk : 0; chunk < chunksPerEpoch; chunk++) {
        const group = batches.slice(chunk * cfg.gradAccum, (chunk + 1) * cfg.gradAccum);
        if (group.length === 0) continue;
        const lr = learningRate(cfg, step, total);
        opt.lr = lr;
        opt.zeroGrad();
        let sum = 0;
        let lmSum = 0;
        let bad = false;
        for (const batch of group) {
          const { loss, lm } = microStep(batch, group.length, step);
          const [lv, lmv] = (await readAll([loss, lm])).map((a) => a[0]!);
          loss.dispose();
          lm.dispose();
          sum += lv!;
          lmSum += lmv!;
          if (nonFinite(lv!)) bad = true;
          const real = batch.attentionMask.reduce((a, b) => a + b, 0);
          segSamples += batch.B;
          segTokens += real;
          if (bad) break;
        }
        adapter.clearRoutes();
        const meanLoss = sum / group.length;
        if (bad) {
          if (cfg.nanPolicy !== 'skip') {
            throw new Error(`training stopped: non-finite loss (${sum}) at step ${step + 1} (epoch ${epoch + 1}); ` +
              (cfg.checkpointDir ? `the last good checkpoint in ${cfg.checkpointDir} is intact` : 'no checkpoint folder was set') +
              ` (nanPolicy 'stop'; use 'skip' to skip such steps, or lower the learning rate)`);
          }
          opt.zeroGrad();
          skippedSteps.push(step + 1);
          progress.log(`step ${step + 1}: non-finite loss, update skipped (nanPolicy 'skip')`);
        } else {
          opt.step();
          lossCurve.push({ step: step + 1, loss: lmSum / group.length });
        }
        step++;
        const last = chunk === chunksPerEpoch - 1;
        let ckPath: string | null = null;
        if (cfg.checkpointDir && cfg.checkpointEvery && cfg.checkpointEvery > 0 && (step % cfg.checkpointEvery === 0 || step === total)) {
          ckPath = await saveCheckpoint({
            epoch: last ? epoch + 1 : epoch,
            nextChunk: last ? 0 : chunk + 1,
            dataGeneratorState: last ? dataGen.getState() : epochGenState,
            trainSeconds: seconds(),
          });
        }
        const el = (performance.now() - t0) / 1000;
        progress.update({
          step, totalSteps: total, epoch, loss: bad ? NaN : lmSum / group.length, lr, elapsed: el,
          tokensPerSec: el > 0 ? segTokens / el : 0, samplesPerSec: el > 0 ? segSamples / el : 0,
        });
        await hooks.onStep?.({ step, totalSteps: total, epoch, loss: bad ? NaN : meanLoss, lmLoss: bad ? NaN : lmSum / group.length, lr, skipped: bad, checkpoint: ckPath });
      }
    }
    adapter.training = false;
    const trainSeconds = seconds();
    samplesSeen += segSamples;
    tokensSeen += segTokens;
    return {
      steps: step, totalSteps: total, lossCurve, skippedSteps, trainSeconds, samplesSeen, tokensSeen,
      trainSamplesPerSec: trainSeconds > 0 ? samplesSeen / trainSeconds : 0, resumedFrom,
    };

    async function saveCheckpoint(pos: { epoch: number; nextChunk: number; dataGeneratorState: number; trainSeconds: number }): Promise<string> {
      const values = method.extraParams.length ? await readAll(method.extraParams) : [];
      const state: CheckpointState = {
        format: 1,
        step,
        epoch: pos.epoch,
        nextChunk: pos.nextChunk,
        dataGeneratorState: pos.dataGeneratorState,
        generators: gens.map((g) => g.getState()),
        lossState: await method.state(),
        extraParams: values.map((v) => Array.from(v)),
        optimizer: { step: opt.stepCount, numel: opt.numel },
        lossCurve,
        skippedSteps,
        samplesSeen: samplesSeen + segSamples,
        tokensSeen: tokensSeen + segTokens,
        trainSeconds: pos.trainSeconds,
        config: cfg,
        savedAt: new Date().toISOString(),
      };
      const optState = await opt.exportState();
      // Never replace a good checkpoint with non-finite weights.
      const tensors = await adapter.exportTensors();
      const badT = tensors.find((t) => t.data.some((x) => !Number.isFinite(x)));
      if (badT) {
        throw new Error(`training stopped: parameter '${badT.name}' became non-finite at step ${step}; ` +
          `the last good checkpoint in ${cfg.checkpointDir} is intact (lower the learning rate or set maxGradNorm)`);
      }
      return writeCheckpoint(cfg.checkpointDir!, adapter, optState, state);
    }
  } finally {
    adapter.clearRoutes();
    adapter.training = false;
    opt.dispose();
  }

  /** Forward + backward of one micro-batch; returns the detached total and LM losses (unscaled). */
  function microStep(batch: Batch, accum: number, stepIndex: number): { loss: Tensor; lm: Tensor } {
    return scope(() => {
      adapter.clearRoutes();
      const shape = [batch.B, batch.T];
      const ids = tensor(batch.ids, shape, { dtype: 'i32', backend: be });
      const attention = tensor(batch.attentionMask, shape, { dtype: 'i32', backend: be });
      const answer = cfg.lossOn === 'all' ? undefined : tensor(batch.answerMask, shape, { dtype: 'i32', backend: be });
      const logits = model.forward(ids);
      const lm = causalLMLoss(logits, ids, { attentionMask: attention, answerMask: answer });
      const tokenMask = tensor(Float32Array.from(batch.attentionMask), [batch.B * batch.T], { backend: be });
      const aux = method.auxLoss(adapter.routes(), tokenMask);
      let loss = aux ? add(lm, aux) : lm;
      if (hooks.transformLoss) loss = hooks.transformLoss(loss, stepIndex);
      const scaled = accum > 1 ? mul(loss, 1 / accum) : loss;
      scaled.backward();
      return { loss: loss.detach(), lm: lm.detach() };
    });
  }
}

/** AdamW betas / eps from cfg.options (trainer keys). */
function adamExtras(cfg: RunConfig): { betas?: [number, number]; eps?: number } {
  const o = cfg.options ?? {};
  const out: { betas?: [number, number]; eps?: number } = {};
  if (o.betas !== undefined) {
    const b = o.betas;
    if (!Array.isArray(b) || b.length !== 2 || b.some((x) => typeof x !== 'number')) throw new Error(`options.betas: expected [beta1, beta2], got ${JSON.stringify(b)}`);
    out.betas = [b[0] as number, b[1] as number];
  }
  if (o.eps !== undefined) {
    if (typeof o.eps !== 'number') throw new Error(`options.eps: expected a number, got ${JSON.stringify(o.eps)}`);
    out.eps = o.eps;
  }
  return out;
}
