import type { Storage } from '../backend.js';
import type { Tensor } from '../tensor.js';
import { Optimizer, type OptimizerOptions } from './optimizer.js';

export interface AdamWState {
  step: number;
  m: Float32Array;
  v: Float32Array;
}

const flatView = (s: Storage) => ({ storage: s, shape: [s.size], strides: [1], offset: 0 });

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

  /** Moments and step count as host arrays, for checkpoints. */
  async exportState(): Promise<AdamWState> {
    const [m, v] = await this.backend.read([flatView(this.m), flatView(this.v)]);
    return { step: this.stepCount, m: Float32Array.from(m!), v: Float32Array.from(v!) };
  }

  /** Restore exportState()'s moments and step count (sizes must match this optimizer's parameters). */
  importState(s: AdamWState): void {
    if (s.m.length !== this.numel || s.v.length !== this.numel) {
      throw new Error(`AdamW.importState: state holds ${s.m.length} moments, the optimizer has ${this.numel} parameters`);
    }
    for (const [dst, src] of [[this.m, s.m], [this.v, s.v]] as const) {
      const tmp = this.backend.upload(src, 'f32');
      this.backend.accumulate(dst, 0, flatView(tmp), 'copy');
      this.backend.release(tmp);
    }
    this.stepCount = s.step;
  }

  protected disposeState(): void {
    this.backend.release(this.m);
    this.backend.release(this.v);
  }
}
