/**
 * Recurrent routing (GraphMoE, paper 003 Algorithm 1; SPEC section 4): the block's mixture FFN
 * runs T rounds; between rounds the low-rank GRU virtual node reads the round's output and
 * shifts the next round's input, so the router re-routes every token on x_{t+1} = x_t + W_g h_t.
 *
 *   x_1 = x, h_0 = 0
 *   for t = 1..T:
 *     y_t = MoE(x_t)
 *     if t < T: h_t = GRU(h_{t-1}, y_t [, x_t]);  x_{t+1} = x_t + W_g h_t
 *   return y_T
 *
 * The wrapped FFN is whatever attachMoE left in `block.ffn`: MixLoRAFFN (MixLoRA, MING-MoE) or the
 * SwiGLU whose gate/up/down are PluggedMoELinear (LoRAMoE, MoLA). Every mixture layer records
 * one route per round, so a forward records T routes per mixture layer.
 */
import { add, type Tensor } from '@moegraph/tensor-webgpu';
import { SwiGLU, type Module } from '@moegraph/llm';
import { MoELayer, type Router } from '@moegraph/lora';
import type { LowRankGRU } from './gru.js';

/** The mixture layers inside an FFN module: the FFN itself (fused) or its plugged linears. */
export function mixtureLayers(ffn: Module): MoELayer[] {
  if (ffn instanceof MoELayer) return [ffn];
  if (ffn instanceof SwiGLU) return [ffn.gate, ffn.up, ffn.down].filter((l) => l instanceof MoELayer) as unknown as MoELayer[];
  return [];
}

export interface RecurrentFFNOptions {
  /** Rounds T >= 1 (default 3). T = 1 is exactly the wrapped FFN. */
  rounds?: number;
  /**
   * Routers for rounds 2..T when the router is not shared across rounds: for each mixture layer
   * (in mixtureLayers() order) an array of T - 1 routers. Omitted: every round uses the layer's
   * own router (the default, shared).
   */
  roundRouters?: Router[][];
}

export class RecurrentFFN implements Module {
  readonly rounds: number;
  readonly mixtures: MoELayer[];
  readonly roundRouters: Router[][] | null;

  constructor(
    readonly path: string,
    readonly inner: Module,
    readonly gru: LowRankGRU,
    o: RecurrentFFNOptions = {},
  ) {
    const T = o.rounds ?? 3;
    if (!(Number.isInteger(T) && T >= 1)) throw new Error(`graphmoe ${path}: rounds ${T} must be an integer >= 1`);
    this.rounds = T;
    this.mixtures = mixtureLayers(inner);
    this.roundRouters = o.roundRouters ?? null;
    if (this.roundRouters) {
      if (this.roundRouters.length !== this.mixtures.length || this.roundRouters.some((rs) => rs.length !== T - 1)) {
        throw new Error(`graphmoe ${path}: unshared routers must be ${T - 1} per round for each of ${this.mixtures.length} mixture layers`);
      }
    }
  }

  /** The router every mixture layer uses in round t (0-based): its own in round 0. */
  private setRound(t: number, own: Router[]): void {
    if (!this.roundRouters) return;
    this.mixtures.forEach((m, j) => {
      m.router = t === 0 ? own[j]! : this.roundRouters![j]![t - 1]!;
    });
  }

  forward(x: Tensor): Tensor {
    const T = this.rounds;
    // T = 1: exactly the base mixture FFN (no GRU ops at all).
    if (T === 1) return this.inner.forward(x);
    const own = this.mixtures.map((m) => m.router);
    try {
      let xt = x;
      let h: Tensor | null = null;
      let y!: Tensor;
      for (let t = 0; t < T; t++) {
        this.setRound(t, own);
        y = this.inner.forward(xt);
        if (t < T - 1) {
          h = this.gru.step(h ?? this.gru.initialState(x), y, xt);
          xt = add(xt, this.gru.project(h));
        }
      }
      return y;
    } finally {
      this.setRound(0, own);
    }
  }

  /** GRU parameters, then the routers of rounds 2..T when not shared (the base mixture's own parameters are not included). */
  parameters(): Tensor[] {
    return [...this.gru.parameters(), ...(this.roundRouters ?? []).flat().flatMap((r) => r.parameters())];
  }
}
