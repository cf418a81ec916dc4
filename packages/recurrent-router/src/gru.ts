/**
 * The low-rank GRU "virtual node" of GraphMoE (paper 003, Eq. 6-7; SPEC section 4).
 *
 *   z  = sigmoid(W_z [h, y])              W_z: (d_bar + d) -> d_bar, no bias
 *   r  = sigmoid(W_r [h, y])              W_r: (d_bar + d) -> d_bar, no bias
 *   h~ = act(W_o [r * h, c] + b_o)        W_o: (d_bar + d) -> d_bar, bias b_o
 *   h' = (1 - z) * h + z * h~
 *   g  = W_g h'                           W_g: d_bar -> d, no bias
 *
 * `act` is tanh by default (a standard GRU candidate) or sigmoid (how the paper typesets Eq. 6);
 * the candidate input `c` is y_t by default (Eq. 6) or x_t (Algorithm 1, line 31).
 *
 * Weights are stored [in, out] like @moegraph/llm's Linear (so x @ W needs no transpose) and saved
 * transposed, i.e. in PyTorch's nn.Linear [out, in] layout.
 */
import { add, concat, gruReset, gruUpdate, matmul, mul, sigmoid, sub, tanh, zeros, tensor, type Backend, type Generator, type Tensor } from '@moegraph/tensor-webgpu';
import type { SavedTensor } from '@moegraph/lora';

export type CandidateActivation = 'tanh' | 'sigmoid';
export type CandidateInput = 'y' | 'x';
export type WgInit = 'zeros' | 'xavier';

export interface GRUOptions {
  /** Model hidden size d (the size of x and y). */
  dim: number;
  /** GRU hidden size d_bar. */
  hiddenSize: number;
  /** Candidate activation: 'tanh' (default) or 'sigmoid' (the paper's typesetting of Eq. 6). */
  candidateActivation?: CandidateActivation;
  /** Candidate input: 'y' (default, Eq. 6) or 'x' (Algorithm 1, line 31). */
  candidateInput?: CandidateInput;
  /** W_g initialisation: 'zeros' (default: round 1 of a fresh adapter equals the base MoE) or 'xavier' (Glorot uniform). */
  wgInit?: WgInit;
  /**
   * Fused gate kernels (default true): the elementwise math runs as gruReset and gruUpdate, two
   * dispatches each way instead of about ten. false composes small ops (the reference the fused path is tested against).
   */
  fused?: boolean;
  backend: Backend;
  generator: Generator;
  /** Prefix for parameter names (debugging / error messages). */
  name?: string;
}

/** d_bar = int(hiddenScale * d), as the paper computes it with Python's int(); at least 1. */
export function gruHiddenSize(dim: number, hiddenScale: number): number {
  if (!(hiddenScale > 0)) throw new Error(`graphmoe: hiddenScale ${hiddenScale} must be > 0`);
  return Math.max(1, Math.trunc(hiddenScale * dim));
}

/** PyTorch nn.Linear's default init for weight and bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
function uniformParam(shape: number[], bound: number, g: Generator, backend: Backend, name: string): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (g.uniform() * 2 - 1) * bound;
  return tensor(a, shape, { backend, requiresGrad: true, name });
}

export class LowRankGRU {
  readonly dim: number;
  readonly hiddenSize: number;
  readonly candidateActivation: CandidateActivation;
  readonly candidateInput: CandidateInput;
  readonly fused: boolean;
  /** [d_bar + d, d_bar] each ([in, out]). */
  readonly Wz: Tensor;
  readonly Wr: Tensor;
  readonly Wo: Tensor;
  /** [d_bar]. */
  readonly bo: Tensor;
  /** [d_bar, d]. */
  readonly Wg: Tensor;

  constructor(o: GRUOptions) {
    const d = o.dim;
    const db = o.hiddenSize;
    if (!(Number.isInteger(db) && db >= 1)) throw new Error(`graphmoe: GRU hidden size ${db} must be a positive integer`);
    this.dim = d;
    this.hiddenSize = db;
    this.candidateActivation = o.candidateActivation ?? 'tanh';
    this.candidateInput = o.candidateInput ?? 'y';
    this.fused = o.fused ?? true;
    if (this.candidateActivation !== 'tanh' && this.candidateActivation !== 'sigmoid') {
      throw new Error(`graphmoe: candidateActivation '${String(this.candidateActivation)}' (expected 'tanh' or 'sigmoid')`);
    }
    if (this.candidateInput !== 'y' && this.candidateInput !== 'x') {
      throw new Error(`graphmoe: candidateInput '${String(this.candidateInput)}' (expected 'y' or 'x')`);
    }
    const name = o.name ?? 'gru';
    const g = o.generator;
    const be = o.backend;
    const fanIn = db + d;
    const bound = 1 / Math.sqrt(fanIn);
    // Drawn in PyTorch's order of construction: W_z, W_r, W_o (weight then bias), W_g.
    this.Wz = uniformParam([fanIn, db], bound, g, be, `${name}.W_z.weight`);
    this.Wr = uniformParam([fanIn, db], bound, g, be, `${name}.W_r.weight`);
    this.Wo = uniformParam([fanIn, db], bound, g, be, `${name}.W_o.weight`);
    this.bo = uniformParam([db], bound, g, be, `${name}.W_o.bias`);
    const wg = o.wgInit ?? 'zeros';
    if (wg === 'zeros') this.Wg = tensor(new Float32Array(db * d), [db, d], { backend: be, requiresGrad: true, name: `${name}.W_g.weight` });
    else if (wg === 'xavier') this.Wg = uniformParam([db, d], Math.sqrt(6 / (db + d)), g, be, `${name}.W_g.weight`);
    else throw new Error(`graphmoe: wgInit '${String(wg)}' (expected 'zeros' or 'xavier')`);
  }

  /** h_0 = zeros [..., d_bar] for inputs x [..., d]. */
  initialState(x: Tensor): Tensor {
    return zeros([...x.shape.slice(0, -1), this.hiddenSize], { backend: x.backend });
  }

  /** One GRU step: h [..., d_bar], y and x [..., d] -> h' [..., d_bar]. */
  step(h: Tensor, y: Tensor, x: Tensor): Tensor {
    if (!this.fused) return this.stepUnfused(h, y, x);
    const hy = concat([h, y], -1);
    const c = this.candidateInput === 'y' ? y : x;
    const pre = matmul(concat([gruReset(matmul(hy, this.Wr), h), c], -1), this.Wo);
    return gruUpdate(matmul(hy, this.Wz), pre, this.bo, h, this.candidateActivation);
  }

  /** The same step composed of small ops: the reference for the fused kernels. */
  stepUnfused(h: Tensor, y: Tensor, x: Tensor): Tensor {
    const hy = concat([h, y], -1);
    const z = sigmoid(matmul(hy, this.Wz));
    const r = sigmoid(matmul(hy, this.Wr));
    const c = this.candidateInput === 'y' ? y : x;
    const pre = add(matmul(concat([mul(r, h), c], -1), this.Wo), this.bo);
    const cand = this.candidateActivation === 'tanh' ? tanh(pre) : sigmoid(pre);
    return add(mul(sub(1, z), h), mul(z, cand));
  }

  /** g = W_g h: [..., d_bar] -> [..., d]. */
  project(h: Tensor): Tensor {
    return matmul(h, this.Wg);
  }

  parameters(): Tensor[] {
    return [this.Wz, this.Wr, this.Wo, this.bo, this.Wg];
  }

  /** PyTorch-style names, weights in nn.Linear's [out, in] layout on disk. */
  savedTensors(prefix: string): SavedTensor[] {
    return [
      { name: `${prefix}.W_z.weight`, tensor: this.Wz, transpose: true },
      { name: `${prefix}.W_r.weight`, tensor: this.Wr, transpose: true },
      { name: `${prefix}.W_o.weight`, tensor: this.Wo, transpose: true },
      { name: `${prefix}.W_o.bias`, tensor: this.bo, transpose: false },
      { name: `${prefix}.W_g.weight`, tensor: this.Wg, transpose: true },
    ];
  }
}
