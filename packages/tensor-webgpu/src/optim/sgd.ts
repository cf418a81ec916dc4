import type { Storage } from '../backend.js';
import type { Tensor } from '../tensor.js';
import { Optimizer, type OptimizerOptions } from './optimizer.js';

export interface SGDOptions extends OptimizerOptions {
  momentum?: number;
  weightDecay?: number;
}

/** SGD with optional momentum and (coupled) weight decay, PyTorch semantics. */
export class SGD extends Optimizer {
  momentum: number;
  weightDecay: number;
  private buf: Storage | null;

  constructor(params: Iterable<Tensor>, opts: SGDOptions) {
    super(params, opts);
    this.momentum = opts.momentum ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.buf = this.momentum ? this.backend.fill(this.numel, 'f32', 0) : null;
  }

  protected update(p: Storage, g: Storage, gradScale: Storage | null): void {
    this.backend.sgd(p, g, this.buf, {
      lr: this.lr,
      momentum: this.momentum,
      weightDecay: this.weightDecay,
      firstStep: this.stepCount === 1,
    }, gradScale);
  }

  protected disposeState(): void {
    if (this.buf) this.backend.release(this.buf);
    this.buf = null;
  }
}
