/**
 * "Plugged" expert LoRAs on a single frozen linear, with a router of its own (SPEC section 2):
 * LoRAMoE routes densely (every expert, softmax weights); MoLA routes each token to its top-K.
 * y = W x + sum_e w_e(x) * s * B_e A_e dropout(x).
 */
import { add, type Generator, type Tensor } from '@moegraph/tensor-webgpu';
import type { Linear, LinearLike } from '@moegraph/llm';
import type { SavedTensor } from '../adapter.js';
import { ExpertBank } from './experts.js';
import { MoELayer, overTokens, repeatRows } from './layer.js';
import type { Router } from './router.js';

export interface PluggedOptions {
  numExperts: number;
  r: number;
  alpha: number;
  dropout: number;
  generator: Generator;
}

export class PluggedMoELinear extends MoELayer implements LinearLike {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly experts: ExpertBank;

  constructor(path: string, readonly base: Linear, router: Router, o: PluggedOptions) {
    super(path, router, o.dropout, o.generator);
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
    this.experts = new ExpertBank(`${path}.experts`, o.numExperts, base.inFeatures, base.outFeatures, o.r, o.alpha, base.weight.backend, o.generator);
  }

  forward(x: Tensor): Tensor {
    return overTokens(x, (xt) => {
      const { indices, weights } = this.route(xt);
      if (!indices) return add(this.base.forward(xt), this.experts.dense(this.dropped(xt), weights));
      const K = weights.shape[1]!;
      const pairs = this.experts.sparse(this.dropped(repeatRows(xt, K)), indices.reshape([-1]));
      return add(this.base.forward(xt), this.combine(pairs, weights));
    });
  }

  parameters(): Tensor[] {
    return [...this.router.parameters(), ...this.experts.parameters()];
  }

  savedTensors(): SavedTensor[] {
    const p = `base_model.model.${this.path}`;
    return [...this.router.savedTensors(`${p}.router`), ...this.experts.savedTensors(`${p}.experts`)];
  }
}
