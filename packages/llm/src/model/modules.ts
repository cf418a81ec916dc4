/**
 * The Llama decoder as small replaceable modules: adapters (LoRA, DoRA, mixtures of experts)
 * swap a linear or the whole FFN of a block for their own module with the same forward.
 */
import { attention, concat, keep, matmul, add, mul, rmsnorm, rope, silu, type Tensor } from '@moegraph/tensor-webgpu';
import type { LlamaConfig } from './config.js';

/** Anything with a forward: a linear map, an FFN, an adapter wrapping either. */
export interface Module {
  forward(x: Tensor): Tensor;
}

/** A linear layer y = x W (+ b) whose weight is stored [in, out] so the product needs no transpose. */
export interface LinearLike extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
}

export class Linear implements LinearLike {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /**
   * @param weight [in, out] (the transpose of PyTorch's [out, in]); f32 or f16.
   * @param bias [out] or null.
   */
  constructor(
    readonly name: string,
    readonly weight: Tensor,
    readonly bias: Tensor | null = null,
  ) {
    [this.inFeatures, this.outFeatures] = weight.shape as [number, number];
  }
  forward(x: Tensor): Tensor {
    const y = matmul(x, this.weight);
    return this.bias ? add(y, this.bias) : y;
  }
}

/** SwiGLU feed-forward: down( silu(gate x) * up x ). */
export class SwiGLU implements Module {
  constructor(
    public gate: LinearLike,
    public up: LinearLike,
    public down: LinearLike,
  ) {}
  forward(x: Tensor): Tensor {
    return this.down.forward(mul(silu(this.gate.forward(x)), this.up.forward(x)));
  }
}

/** Keys and values of earlier positions, per layer, for incremental decoding. */
export class KVCache {
  k: (Tensor | null)[];
  v: (Tensor | null)[];
  constructor(nLayers: number) {
    this.k = new Array(nLayers).fill(null);
    this.v = new Array(nLayers).fill(null);
  }
  get length(): number {
    return this.k[0]?.shape[2] ?? 0;
  }
  /** Append this step's keys/values [B, Hkv, T, D] and return the full ones. */
  update(layer: number, k: Tensor, v: Tensor): [Tensor, Tensor] {
    const pk = this.k[layer];
    const pv = this.v[layer];
    const nk = pk ? concat([pk, k], 2) : k;
    const nv = pv ? concat([pv, v], 2) : v;
    pk?.dispose();
    pv?.dispose();
    // The cache outlives the step's scope.
    keep([nk, nv]);
    this.k[layer] = nk;
    this.v[layer] = nv;
    return [nk, nv];
  }
  dispose(): void {
    for (const t of [...this.k, ...this.v]) t?.dispose();
    this.k.fill(null);
    this.v.fill(null);
  }
}

export class Attention implements Module {
  constructor(
    readonly cfg: LlamaConfig,
    readonly layer: number,
    public q: LinearLike,
    public k: LinearLike,
    public v: LinearLike,
    public o: LinearLike,
  ) {}

  forward(x: Tensor, cache?: KVCache): Tensor {
    const { nHeads, nKvHeads, headDim, ropeTheta, ropeLayout } = this.cfg;
    const [B, T] = x.shape as [number, number, number];
    const startPos = cache?.length ?? 0;
    const heads = (t: Tensor, h: number) => t.reshape([B, T, h, headDim]);
    const ropeOpts = { startPos, theta: ropeTheta, layout: ropeLayout } as const;
    const q = rope(heads(this.q.forward(x), nHeads), ropeOpts).transpose(1, 2);
    let k = rope(heads(this.k.forward(x), nKvHeads), ropeOpts).transpose(1, 2);
    let v = heads(this.v.forward(x), nKvHeads).transpose(1, 2);
    if (cache) [k, v] = cache.update(this.layer, k.contiguous(), v.contiguous());
    const out = attention(q, k, v, { causal: true });
    return this.o.forward(out.transpose(1, 2).reshape([B, T, nHeads * headDim]));
  }
}

/** Pre-norm decoder block: h = x + Attn(norm(x)); out = h + FFN(norm(h)). */
export class Block {
  constructor(
    readonly cfg: LlamaConfig,
    public attnNorm: Tensor,
    public attn: Attention,
    public ffnNorm: Tensor,
    public ffn: Module,
  ) {}
  forward(x: Tensor, cache?: KVCache): Tensor {
    const h = add(x, this.attn.forward(rmsnorm(x, this.attnNorm, this.cfg.normEps), cache));
    return add(h, this.ffn.forward(rmsnorm(h, this.ffnNorm, this.cfg.normEps)));
  }
}
