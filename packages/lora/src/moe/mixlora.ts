/**
 * MixLoRA ("fused" experts, SPEC section 2): expert k is the frozen SwiGLU FFN with its own LoRA
 * on gate, up and down. The frozen gate/up products are computed once per token; each
 * (token, chosen expert) pair then adds only its expert's LoRA deltas, runs the frozen down
 * projection, and the pairs are combined with the renormalised top-K weights.
 */
import { add, mul, silu, type Generator, type Tensor } from '@moegraph/tensor-webgpu';
import type { Module, SwiGLU } from '@moegraph/llm';
import type { SavedTensor } from '../adapter.js';
import { ExpertBank } from './experts.js';
import { addToPairs, MoELayer, overTokens, repeatRows } from './layer.js';
import type { Router } from './router.js';

export interface MixLoRAOptions {
  numExperts: number;
  r: number;
  alpha: number;
  dropout: number;
  /** Which of the FFN's linears carry expert LoRAs (default all three). */
  targets: readonly ('gate' | 'up' | 'down')[];
  generator: Generator;
}

export class MixLoRAFFN extends MoELayer implements Module {
  readonly experts: Partial<Record<'gate' | 'up' | 'down', ExpertBank>> = {};

  constructor(path: string, readonly base: SwiGLU, router: Router, o: MixLoRAOptions) {
    super(path, router, o.dropout, o.generator);
    const be = (base.gate as { weight?: Tensor }).weight?.backend;
    if (!be) throw new Error(`MixLoRA ${path}: the FFN's linears must be plain frozen Linear layers`);
    const dims = { gate: [base.gate.inFeatures, base.gate.outFeatures], up: [base.up.inFeatures, base.up.outFeatures], down: [base.down.inFeatures, base.down.outFeatures] } as const;
    for (const t of o.targets) {
      const [i, out] = dims[t];
      this.experts[t] = new ExpertBank(`${path}.experts.${t}`, o.numExperts, i, out, o.r, o.alpha, be, o.generator);
    }
  }

  forward(x: Tensor): Tensor {
    return overTokens(x, (xt) => {
      const { indices, weights } = this.route(xt);
      const K = weights.shape[1]!;
      const e = indices ? indices.reshape([-1]) : null;
      if (!e) throw new Error(`MixLoRA ${this.path}: needs a sparse (top-K < N) router`);
      const { gate, up, down } = this.experts;
      const xp = repeatRows(xt, K);
      const xd = gate || up ? this.dropped(xp) : xp;
      // Frozen products once per token, shared by its K pairs.
      const g0 = this.base.gate.forward(xt);
      const u0 = this.base.up.forward(xt);
      const g = gate ? addToPairs(g0, gate.sparse(xd, e), K) : repeatRows(g0, K);
      const u = up ? addToPairs(u0, up.sparse(xd, e), K) : repeatRows(u0, K);
      const h = mul(silu(g), u);
      let y = this.base.down.forward(h);
      if (down) y = add(y, down.sparse(this.dropped(h), e));
      return this.combine(y, weights);
    });
  }

  parameters(): Tensor[] {
    return [...this.router.parameters(), ...Object.values(this.experts).flatMap((b) => b!.parameters())];
  }

  savedTensors(): SavedTensor[] {
    const p = `base_model.model.${this.path}`;
    return [
      ...this.router.savedTensors(`${p}.router`),
      ...Object.entries(this.experts).flatMap(([t, b]) => b!.savedTensors(`${p}.experts.${t}`)),
    ];
  }
}
