import type { Storage } from '../backend.js';
import type { Tensor } from '../tensor.js';
import { Optimizer, type OptimizerOptions } from './optimizer.js';

export interface AdamWOptions extends OptimizerOptions {
  betas?: [number, number];
  eps?: number;
  /** Decoupled weight decay (default 0.01, as in PyTorch). */
  weightDecay?: number;
}

/** AdamW (Loshchilov & Hutter), PyTorch semantics, one fused kernel launch per step. */
export class AdamW extends Optimizer {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  private m: Storage;
  private v: Storage;

  constructor(params: Iterable<Tensor>, opts: AdamWOptions) {
    super(params, opts);
    [this.beta1, this.beta2] = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    this.m = this.backend.fill(this.numel, 'f32', 0);
    this.v = this.backend.fill(this.numel, 'f32', 0);
  }

  protected update(p: Storage, g: Storage, gradScale: Storage | null): void {
    const t = this.stepCount;
    this.backend.adamw(p, g, this.m, this.v, {
      lr: this.lr,
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      weightDecay: this.weightDecay,
      bc1: 1 - this.beta1 ** t,
      bc2: 1 - this.beta2 ** t,
    }, gradScale);
  }

  /** The moment storages, for checkpoints. */
  get state(): { m: Storage; v: Storage; step: number } {
    return { m: this.m, v: this.v, step: this.stepCount };
  }

  protected disposeState(): void {
    this.backend.release(this.m);
    this.backend.release(this.v);
  }
}
