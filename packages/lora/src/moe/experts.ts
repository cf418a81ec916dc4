/**
 * A bank of N LoRA experts for one linear map: A [N, in, r] and B [N, r, out]. Sparse use runs
 * each (token, expert) pair through its own expert with gatherMatmul; dense use runs every expert
 * on every token with two plain matmuls over the experts laid side by side.
 */
import { gatherMatmul, matmul, mul, reshape, type Generator, type Tensor, type Backend } from '@moegraph/tensor-webgpu';
import type { SavedTensor } from '../adapter.js';
import { kaimingUniform, zerosParam } from '../init.js';

export class ExpertBank {
  readonly A: Tensor;
  readonly B: Tensor;
  readonly scaling: number;

  constructor(
    readonly name: string,
    readonly numExperts: number,
    readonly inFeatures: number,
    readonly outFeatures: number,
    readonly r: number,
    alpha: number,
    backend: Backend,
    g: Generator,
  ) {
    this.scaling = alpha / r;
    // Each expert's A is drawn as PEFT draws a single LoRA A (fan-in = in).
    this.A = kaimingUniform([numExperts, inFeatures, r], inFeatures, g, backend, `${name}.lora_A`);
    this.B = zerosParam([numExperts, r, outFeatures], backend, `${name}.lora_B`);
  }

  /**
   * s * B_e(A_e(x_i)) for each row i with expert e = experts[i]: x [M, in] -> [M, out]. The scaling
   * is applied to the rank-r intermediate, r values per row instead of `out` (and again in the
   * backward pass); exact when s is a power of two, as with the usual alpha = 2r.
   */
  sparse(x: Tensor, experts: Tensor): Tensor {
    return gatherMatmul(mul(gatherMatmul(x, this.A, experts), this.scaling), this.B, experts);
  }

  /** sum_e w[:, e] * s * B_e(A_e(x)): x [T, in], w [T, N] -> [T, out]. */
  dense(x: Tensor, w: Tensor): Tensor {
    const [T] = x.shape as [number];
    const N = this.numExperts;
    const r = this.r;
    // [in, N*r]: expert e's A in columns e*r .. e*r+r-1.
    const Aall = reshape(this.A.permute([1, 0, 2]), [this.inFeatures, N * r]);
    const h = reshape(matmul(x, Aall), [T, N, r]);
    const hw = reshape(mul(h, w.unsqueeze(-1)), [T, N * r]);
    return mul(matmul(hw, reshape(this.B, [N * r, this.outFeatures])), this.scaling);
  }

  parameters(): Tensor[] {
    return [this.A, this.B];
  }

  savedTensors(prefix: string): SavedTensor[] {
    return [
      { name: `${prefix}.lora_A`, tensor: this.A, transpose: false },
      { name: `${prefix}.lora_B`, tensor: this.B, transpose: false },
    ];
  }
}
