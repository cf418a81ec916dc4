/**
 * LoRA and DoRA around a frozen linear layer (SPEC section 1).
 * Weights use the runtime's [in, out] layout: A [in, r], B [r, out]; saved adapters convert to
 * PEFT's [r, in] / [out, r].
 */
import { add, dropout, loraLinear, matmul, matmulAddLowRank, mul, div, sqrt, sub, sum, square, type Generator, type Tensor } from '@moegraph/tensor-webgpu';
import type { Linear, LinearLike } from '@moegraph/llm';
import { kaimingUniform, zerosParam } from './init.js';

export interface LoRAOptions {
  r: number;
  alpha: number;
  dropout?: number;
  generator: Generator;
}

export class LoRALinear implements LinearLike {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly A: Tensor;
  readonly B: Tensor;
  readonly scaling: number;
  readonly dropoutP: number;
  training = true;
  /** Apply the adapter with the backend's fused kernel; false runs the unfused reference composition. */
  fused = true;

  constructor(
    readonly name: string,
    readonly base: Linear,
    readonly opts: LoRAOptions,
  ) {
    if (!(opts.r > 0 && Number.isInteger(opts.r))) throw new Error(`LoRA '${name}': rank r must be a positive integer, got ${opts.r}`);
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
    this.scaling = opts.alpha / opts.r;
    this.dropoutP = opts.dropout ?? 0;
    const be = base.weight.backend;
    this.A = kaimingUniform([this.inFeatures, opts.r], this.inFeatures, opts.generator, be, `${name}.lora_A`);
    this.B = zerosParam([opts.r, this.outFeatures], be, `${name}.lora_B`);
  }

  /** The adapter path's input: dropout(x) while training. */
  protected dropped(x: Tensor): Tensor {
    return this.dropping() ? dropout(x, this.dropoutP, { generator: this.opts.generator }) : x;
  }

  /** Whether the adapter path sees a dropped-out x (else it reads x itself, and the fused op can own u = x A). */
  protected dropping(): boolean {
    return this.training && this.dropoutP > 0;
  }

  /**
   * x W + s B(A(dropout(x))) without the bias. Without dropout, loraLinear also fuses the input
   * gradient g Wᵀ + (s g Bᵀ) Aᵀ into one pass; with it, u = A(dropout(x)) comes from a matmul here.
   */
  protected fusedNoBias(x: Tensor): Tensor {
    const [w, s] = [this.base.weight, this.scaling];
    return this.dropping() ? matmulAddLowRank(x, w, matmul(this.dropped(x), this.A), this.B, s) : loraLinear(x, w, this.A, this.B, s);
  }

  protected withBias(y: Tensor): Tensor {
    return this.base.bias ? add(y, this.base.bias) : y;
  }

  /** s * B(A(xd)) for an already dropped-out input: the adapter's additive update. */
  delta(xd: Tensor): Tensor {
    return mul(matmul(matmul(xd, this.A), this.B), this.scaling);
  }

  /** x W + s B(A(dropout(x))) (+ bias): the base product and the low-rank term written in one pass. */
  forward(x: Tensor): Tensor {
    if (!this.fused) return this.referenceForward(x);
    return this.withBias(this.fusedNoBias(x));
  }

  /** The unfused composition the fused forward must match (same dropout draws). */
  referenceForward(x: Tensor): Tensor {
    return add(this.base.forward(x), this.delta(this.dropped(x)));
  }

  parameters(): Tensor[] {
    return [this.A, this.B];
  }
}

/**
 * DoRA (Liu et al. 2024): W' = m * (W + s BA) / ||W + s BA||, the norm per output feature. As in
 * PEFT, the norm is detached (the paper's section 4.3 memory-saving choice); `detachNorm: false`
 * keeps its gradient. At initialisation m = ||W|| so the output equals the base layer's.
 */
export class DoRALinear extends LoRALinear {
  readonly magnitude: Tensor;
  detachNorm: boolean;

  constructor(name: string, base: Linear, opts: LoRAOptions & { detachNorm?: boolean }) {
    super(name, base, opts);
    this.detachNorm = opts.detachNorm ?? true;
    const w = base.weight.dtype === 'f32' ? base.weight : base.weight.cast('f32');
    const m = sqrt(sum(square(w), 0));
    this.magnitude = m.detach().requireGrad();
    this.magnitude.name = `${name}.lora_magnitude_vector`;
    m.dispose();
  }

  /** ||W + s BA|| per output column: [out]. */
  weightNorm(): Tensor {
    const w = this.base.weight.dtype === 'f32' ? this.base.weight : this.base.weight.cast('f32');
    const merged = add(w, mul(matmul(this.A, this.B), this.scaling));
    const n = sqrt(sum(square(merged), 0));
    return this.detachNorm ? n.detach() : n;
  }

  /**
   * PEFT's formula: base(x) + (scale - 1) * (xd W) + scale * delta(xd), scale = m / ||W + s BA||,
   * xd = dropout(x). Without dropout this is scale * (x W + delta) + bias, whose x W + delta is
   * the fused LoRA linear (one product instead of two, and the fused input gradient). With dropout
   * x W and xd W are different products, so that form (the reference) runs as written.
   */
  override forward(x: Tensor): Tensor {
    const scale = div(this.magnitude, this.weightNorm());
    if (this.fused && !this.dropping()) return this.withBias(mul(this.fusedNoBias(x), scale));
    const xd = this.dropped(x);
    const baseNoBias = matmul(xd, this.base.weight);
    return add(add(this.base.forward(x), mul(baseNoBias, sub(scale, 1))), mul(this.delta(xd), scale));
  }

  override parameters(): Tensor[] {
    return [this.A, this.B, this.magnitude];
  }
}
