/**
 * Optimizers keep every parameter, gradient and moment in one flat storage each, so an update
 * is a single fused kernel launch however many parameter tensors a model has. Parameters and
 * their .grad become views into those storages.
 */
import type { Backend, Storage } from '../backend.js';
import { noGrad } from '../engine.js';
import { add, div, minimum, sqrt, square } from '../ops/elementwise.js';
import { sum } from '../ops/reduce.js';
import { scalarView } from '../ops/core.js';
import { keep, scope } from '../scope.js';
import { replayLive } from '../capture/state.js';
import { fmtShape } from '../shape.js';
import { Buffer, Tensor } from '../tensor.js';

export interface OptimizerOptions {
  lr: number;
  /** Clip the global gradient L2 norm to this value before the update (no host readback). */
  maxGradNorm?: number;
}

export abstract class Optimizer {
  readonly params: readonly Tensor[];
  readonly backend: Backend;
  readonly numel: number;
  lr: number;
  maxGradNorm: number | undefined;
  /** Number of completed steps. */
  stepCount = 0;
  /** Global gradient norm before clipping, from the last step (a device tensor; read it when needed). */
  lastGradNorm: Tensor | null = null;
  /** The last clipping factor, kept (not freed after the update) so a captured step's replays can bind it. */
  private lastScale: Tensor | null = null;
  protected readonly flatParams: Tensor;
  protected readonly flatGrads: Tensor;

  constructor(params: Iterable<Tensor>, opts: OptimizerOptions) {
    this.params = [...new Set(params)];
    if (this.params.length === 0) throw new Error('optimizer: no parameters given');
    const be = this.params[0]!.backend;
    this.params.forEach((p, i) => {
      const label = `optimizer: parameter ${i}${p.name ? ` '${p.name}'` : ''} ${fmtShape(p.shape)}`;
      if (p.dtype !== 'f32') throw new Error(`${label} is ${p.dtype}; trainable parameters must be f32`);
      if (!p.requiresGrad) throw new Error(`${label} does not require grad`);
      if (p._node) throw new Error(`${label} is not a leaf tensor`);
      if (p.backend !== be) throw new Error(`${label} lives on another backend`);
    });
    this.backend = be;
    this.lr = opts.lr;
    this.maxGradNorm = opts.maxGradNorm;
    this.numel = this.params.reduce((n, p) => n + p.size, 0);
    const P = be.fill(this.numel, 'f32', 0);
    const G = be.fill(this.numel, 'f32', 0);
    const pb = new Buffer(P);
    const gb = new Buffer(G);
    let off = 0;
    for (const p of this.params) {
      be.accumulate(P, off, p.view('optimizer'), 'copy');
      p._rebind(pb, off);
      p.grad?.dispose();
      p.grad = keep(new Tensor(gb, p.shape, 'f32', undefined, off));
      off += p.size;
    }
    this.flatParams = keep(new Tensor(pb, [this.numel], 'f32'));
    this.flatGrads = keep(new Tensor(gb, [this.numel], 'f32'));
  }

  /** Set every gradient to zero (one fill). */
  zeroGrad(): void {
    const zero = scalarView(this.backend, 0, 'f32');
    this.backend.accumulate(this.flatGrads.buffer('zeroGrad').storage, 0, { ...zero, shape: [this.numel], strides: [0] }, 'copy');
  }

  /** Apply one update from the accumulated gradients. */
  step(): void {
    this.stepCount++;
    noGrad(() => {
      const scale = this.clipScale();
      const p = this.flatParams.buffer('step').storage;
      const g = this.flatGrads.buffer('step').storage;
      const s = scale ? scale.view().storage : null;
      // Under captureStep the update's hyperparameters (step count, lr) are the replayed step's own.
      replayLive(() => this.update(p, g, s), () => {
        this.stepCount++;
        this.update(p, g, s);
      });
    });
  }

  protected abstract update(p: Storage, g: Storage, gradScale: Storage | null): void;

  /** min(1, maxNorm / (norm + 1e-6)) as a 1-element device tensor, or null when not clipping. */
  private clipScale(): Tensor | null {
    if (this.maxGradNorm === undefined) return null;
    const max = this.maxGradNorm;
    const { norm, scale } = scope(() => {
      const norm = sqrt(sum(square(this.flatGrads)));
      return { norm, scale: minimum(div(max, add(norm, 1e-6)), 1) };
    });
    this.lastGradNorm?.dispose();
    this.lastGradNorm = keep(norm);
    this.lastScale?.dispose();
    return (this.lastScale = keep(scale));
  }

  /** Release the optimizer's own state (parameters and gradients stay usable). */
  dispose(): void {
    this.lastGradNorm?.dispose();
    this.lastScale?.dispose();
    this.disposeState();
  }
  protected abstract disposeState(): void;
}
