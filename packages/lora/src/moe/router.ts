/**
 * The router interface every mixture layer routes through, and the linear softmax router of
 * MixLoRA/LoRAMoE/MoLA. Graph and recurrent routers (other packages) implement the same interface.
 */
import { div, matmul, softmax, sum, topk, type Backend, type Generator, type Tensor } from '@moegraph/tensor-webgpu';
import type { SavedTensor } from '../adapter.js';
import { normalInit } from '../init.js';

export interface RouteResult {
  /** Raw router scores [T, N]. */
  logits: Tensor;
  /** Softmax probabilities over experts [T, N] (what load-balance and distinction losses read). */
  probs: Tensor;
  /** Selected experts [T, K] (i32), or null for dense routing (every expert, weights = probs). */
  indices: Tensor | null;
  /** Combination weights [T, K]: top-K probabilities renormalised to sum to 1 (dense: probs). */
  weights: Tensor;
  /** Router-specific tensors its losses need (e.g. a graph router's node states). */
  extra?: Record<string, Tensor>;
}

export interface Router {
  readonly numExperts: number;
  /** Experts per token; equal to numExperts for dense routing. */
  readonly topK: number;
  route(x: Tensor): RouteResult;
  parameters(): Tensor[];
  savedTensors(prefix: string): SavedTensor[];
  /** Settings that rebuild this router exactly (saved in adapter_config.json). */
  describe(): Record<string, unknown>;
}

/** What a router factory is told about the place it routes for. */
export interface RouterContext {
  layer: number;
  /** Module path, e.g. model.layers.3.mlp. */
  path: string;
  inFeatures: number;
  numExperts: number;
  topK: number;
  backend: Backend;
  generator: Generator;
}

export type RouterFactory = (ctx: RouterContext) => Router;

/** Top-K of softmax probabilities, renormalised (or dense when K = N). */
export function selectTopK(logits: Tensor, k: number): RouteResult {
  const probs = softmax(logits, -1);
  const n = logits.shape[logits.rank - 1]!;
  if (k >= n) return { logits, probs, indices: null, weights: probs };
  const { values, indices } = topk(probs, k);
  return { logits, probs, indices, weights: div(values, sum(values, -1, true)) };
}

/** y = softmax(x W), W [d, N] drawn from N(0, 0.02), no bias (SPEC section 2). */
export class LinearRouter implements Router {
  readonly weight: Tensor;
  constructor(
    readonly inFeatures: number,
    readonly numExperts: number,
    readonly topK: number,
    backend: Backend,
    g: Generator,
    name = 'router',
  ) {
    if (!(topK >= 1 && topK <= numExperts)) throw new Error(`router: topK ${topK} must be in [1, ${numExperts}]`);
    this.weight = normalInit([inFeatures, numExperts], 0.02, g, backend, name);
  }
  route(x: Tensor): RouteResult {
    return selectTopK(matmul(x, this.weight), this.topK);
  }
  parameters(): Tensor[] {
    return [this.weight];
  }
  savedTensors(prefix: string): SavedTensor[] {
    return [{ name: `${prefix}.weight`, tensor: this.weight, transpose: true }];
  }
  describe(): Record<string, unknown> {
    return { type: 'linear' };
  }
}

export const linearRouter: RouterFactory = (c) => new LinearRouter(c.inFeatures, c.numExperts, c.topK, c.backend, c.generator, `${c.path}.router`);
