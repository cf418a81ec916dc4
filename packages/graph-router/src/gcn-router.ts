/**
 * GMoE's graph router (SPEC section 3): per token, a GCN over N expert nodes and one input node;
 * a shared linear F on each expert node gives N logits; softmax; top-K renormalised.
 *
 * Expert node features do not depend on the token, so the default GCN path never materialises
 * a per-token graph for the first layer (A_hat[:, :N] (V W1) is computed once and the input node
 * enters as the outer product A_hat[:, N] (u W1)), and with no activation after the last layer
 * that layer folds into F (one [T*(N+1), h] x [h, 1] product). With two layers and no last
 * activation (the default), 'auto' runs both in one fused kernel (gcnShared) that never stores
 * the [T, N+1, h] node states (unfused, the work on them was about 80% of the router step on cpu).
 * `path: 'factored'` is the same algebra unfused (the reference the fused kernel is tested
 * against); `path: 'general'` materialises the per-token [T, N+1, h] node states at every layer
 * (the GAT and SAGE layers always do).
 */
import {
  hash32,
  add, concat, exp, expand, gcnShared, gt, isGradEnabled, matmul, mul, narrow, reshape, relu, rsqrt, silu, softmax, sub, sum, tensor,
  transpose, unsqueeze, abs, div, neg, type Backend, type Generator, type Tensor,
} from '@moegraph/tensor-webgpu';
import { selectTopK, type RouteResult, type Router, type RouterContext, type RouterFactory, type SavedTensor } from '@moegraph/lora';
import { buildGraph, type Edge, type EdgeRule, type ExpertGraph, type TwinPolicy } from './graph.js';

export type GraphConv = 'gcn' | 'gat' | 'sage';
export type GraphPath = 'auto' | 'factored' | 'general';

export interface GraphRouterOptions {
  /** GCN hidden size d_g (paper 256, reference code 128). Default 256. */
  hidden?: number;
  /** Graph layers (default 2). */
  layers?: number;
  /** Expert-expert edges (default { rule: 'density', beta: 0.1 }; reference: { rule: 'cosine', threshold: 0.25 }). */
  edges?: EdgeRule;
  /** Twin experts (default 'redraw' for the density rule, 'keep' for deterministic rules). */
  twins?: TwinPolicy;
  /** Bound on density redraws (default 1000). */
  maxAttempts?: number;
  /** Activation after the last graph layer: 'none' (default; the paper leaves it unspecified) or 'silu' (reference). */
  lastActivation?: 'none' | 'silu';
  /** Glorot gain of W_in (default 1; reference 100). */
  inputGain?: number;
  /** Layer type: 'gcn' (paper), or beyond the paper a single-head 'gat' or a mean-aggregator 'sage' layer. */
  conv?: GraphConv;
  /**
   * 'fixed' (paper): the drawn graph. 'learnable': a trainable weight exp(theta_ij) on each present
   * edge (input-expert edges included, theta symmetric, init 0 so training starts from the drawn
   * graph); the sparsity pattern stays that of the graph and A_hat is renormalised every forward.
   */
  adjacency?: 'fixed' | 'learnable';
  /**
   * Graph at evaluation: 'training' (default: the saved training graph) or 'recompute' (reference
   * code, a train/test mismatch bug; cosine rule only): when gradients are off, the cosine graph
   * is rebuilt on the device from the current expert features.
   */
  evalGraph?: 'training' | 'recompute';
  /**
   * 'auto' (default): the factored GCN fast path, fused where the kernel applies; 'factored': the
   * same without the fused kernel; 'general': materialise per-token node states.
   */
  path?: GraphPath;
  /**
   * Varies only the random graph (the sweep's "five random graphs"): mixed into the layer's graph
   * seed, so weights are initialised exactly as without it.
   */
  graphSeed?: number;
  /** Use exactly these expert-expert edges instead of applying the rule (rebuilding a saved router). */
  graphEdges?: readonly (readonly [number, number])[];
}

/** The reference code's settings (SPEC section 3 table, right column). */
export const REFERENCE_GRAPH_ROUTER: Readonly<GraphRouterOptions> = Object.freeze<GraphRouterOptions>({
  hidden: 128,
  edges: { rule: 'cosine', threshold: 0.25 },
  inputGain: 100,
  lastActivation: 'silu',
  evalGraph: 'recompute',
});

/** Glorot (Xavier) uniform: U(-b, b), b = gain sqrt(6 / (fan_in + fan_out)), host float32. */
export function glorotUniform(rows: number, cols: number, g: Generator, gain = 1): Float32Array {
  const b = gain * Math.sqrt(6 / (rows + cols));
  const a = new Float32Array(rows * cols);
  for (let i = 0; i < a.length; i++) a[i] = (g.uniform() * 2 - 1) * b;
  return a;
}

interface LayerParams {
  /** GCN weight / GAT shared weight / SAGE self weight [h, h]. */
  w: Tensor;
  /** GAT attention vectors [h, 2] (source, target). */
  att?: Tensor;
  /** SAGE neighbour weight [h, h]. */
  neigh?: Tensor;
}

const silu64 = (v: number) => v / (1 + Math.exp(-v));

export class GraphRouter implements Router {
  readonly hidden: number;
  readonly layers: number;
  readonly conv: GraphConv;
  readonly lastActivation: 'none' | 'silu';
  readonly adjacencyMode: 'fixed' | 'learnable';
  readonly evalGraph: 'training' | 'recompute';
  readonly path: GraphPath;
  readonly inputGain: number;
  readonly graph: ExpertGraph;
  /** Fixed Glorot expert inputs X [N, d] (saved, not trained). */
  readonly X: Tensor;
  readonly wIn: Tensor;
  readonly wS: Tensor;
  readonly gnn: LayerParams[];
  /** Projection F [h, 1], shared by every expert node. */
  readonly proj: Tensor;
  /** Learnable adjacency: theta [N+1, N+1] (symmetrised in use). */
  readonly adjLogits: Tensor | null;
  private readonly aHat: Tensor;
  private readonly aRaw: Tensor;
  private readonly rule: EdgeRule;

  constructor(
    readonly inFeatures: number,
    readonly numExperts: number,
    readonly topK: number,
    readonly backend: Backend,
    g: Generator,
    readonly options: GraphRouterOptions = {},
    name = 'router',
  ) {
    const o = options;
    const N = numExperts;
    const d = inFeatures;
    if (!(topK >= 1 && topK <= N)) throw new Error(`graph router: topK ${topK} must be in [1, ${N}]`);
    this.hidden = o.hidden ?? 256;
    this.layers = o.layers ?? 2;
    this.conv = o.conv ?? 'gcn';
    this.lastActivation = o.lastActivation ?? 'none';
    this.adjacencyMode = o.adjacency ?? 'fixed';
    this.evalGraph = o.evalGraph ?? 'training';
    this.path = o.path ?? 'auto';
    this.inputGain = o.inputGain ?? 1;
    this.rule = o.edges ?? { rule: 'density', beta: 0.1 };
    const h = this.hidden;
    if (!(Number.isInteger(h) && h >= 1)) throw new Error(`graph router: hidden must be a positive integer, got ${h}`);
    if (!(Number.isInteger(this.layers) && this.layers >= 1)) throw new Error(`graph router: layers must be a positive integer, got ${this.layers}`);
    if (!['gcn', 'gat', 'sage'].includes(this.conv)) throw new Error(`graph router: conv must be 'gcn', 'gat' or 'sage', got '${this.conv}'`);
    if (!['auto', 'factored', 'general'].includes(this.path)) throw new Error(`graph router: path must be 'auto', 'factored' or 'general', got '${this.path}'`);
    if (!['none', 'silu'].includes(this.lastActivation)) throw new Error(`graph router: lastActivation must be 'none' or 'silu', got '${this.lastActivation}'`);
    if (!['fixed', 'learnable'].includes(this.adjacencyMode)) throw new Error(`graph router: adjacency must be 'fixed' or 'learnable'`);
    if (this.adjacencyMode === 'learnable' && this.conv === 'gat') {
      throw new Error("graph router: adjacency 'learnable' does not apply to conv 'gat' (its attention already learns the edge weights)");
    }
    if (this.evalGraph === 'recompute' && (this.rule.rule !== 'cosine' || this.adjacencyMode === 'learnable')) {
      throw new Error("graph router: evalGraph 'recompute' needs the cosine edge rule and a fixed adjacency");
    }
    // Draw order is fixed (graph seed, X, W_in, W_s, layers, F) so that a rebuild consumes the same stream.
    const drawn = g.nextSeed();
    const graphSeed = o.graphSeed === undefined ? drawn : hash32((drawn ^ hash32(o.graphSeed >>> 0)) >>> 0);
    const param = (a: Float32Array, shape: number[], n: string, grad = true) => tensor(a, shape, { backend, requiresGrad: grad, name: `${name}.${n}` });
    const xHost = glorotUniform(N, d, g);
    const sHost = glorotUniform(d, h, g);
    this.X = param(xHost, [N, d], 'x', false);
    this.wIn = param(glorotUniform(d, h, g, this.inputGain), [d, h], 'w_in');
    this.wS = param(sHost, [d, h], 'w_s');
    this.gnn = [];
    for (let l = 0; l < this.layers; l++) {
      const p: LayerParams = { w: param(glorotUniform(h, h, g), [h, h], `gnn.${l}.weight`) };
      if (this.conv === 'gat') p.att = param(glorotUniform(h, 2, g), [h, 2], `gnn.${l}.att`);
      if (this.conv === 'sage') p.neigh = param(glorotUniform(h, h, g), [h, h], `gnn.${l}.neigh`);
      this.gnn.push(p);
    }
    this.proj = param(glorotUniform(h, 1, g), [h, 1], 'proj');
    // The graph: saved edges when rebuilding, else the rule (cosine reads the initial v = silu(X W_s)).
    let features: Float64Array | undefined;
    if (!o.graphEdges && this.rule.rule === 'cosine') {
      features = new Float64Array(N * h);
      for (let i = 0; i < N; i++) {
        for (let k = 0; k < h; k++) {
          let s = 0;
          for (let c = 0; c < d; c++) s += xHost[i * d + c]! * sHost[c * h + k]!;
          features[i * h + k] = silu64(s);
        }
      }
    }
    this.graph = o.graphEdges
      ? buildGraph({ numExperts: N, edges: { rule: 'explicit', edges: o.graphEdges }, twins: 'keep' })
      : buildGraph({ numExperts: N, edges: this.rule, twins: o.twins, maxAttempts: o.maxAttempts, seed: graphSeed, features, featureDim: h });
    const M = N + 1;
    this.aHat = tensor(Float32Array.from(this.graph.normalized), [M, M], { backend, name: `${name}.a_hat` });
    this.aRaw = tensor(Float32Array.from(this.graph.adjacency), [M, M], { backend, name: `${name}.adjacency` });
    this.adjLogits = this.adjacencyMode === 'learnable' ? param(new Float32Array(M * M), [M, M], 'adj_logits') : null;
  }

  /** The raw (self-loop free) adjacency and A_hat in use for this forward. */
  adjacency(): { raw: Tensor; hat: Tensor } {
    if (this.adjLogits) {
      const th = this.adjLogits;
      const raw = mul(this.aRaw, exp(mul(add(th, transpose(th)), 0.5)));
      return { raw, hat: normalizeT(raw) };
    }
    if (this.evalGraph === 'recompute' && !isGradEnabled()) {
      const raw = cosineAdjacencyT(silu(matmul(this.X, this.wS)), (this.rule as { threshold?: number }).threshold ?? 0.25);
      return { raw, hat: normalizeT(raw) };
    }
    return { raw: this.aRaw, hat: this.aHat };
  }

  /** Raw router scores [T, N] for x [T, d]. */
  logits(x: Tensor): Tensor {
    const { raw, hat } = this.adjacency();
    const u = silu(matmul(x, this.wIn));
    const V = silu(matmul(this.X, this.wS));
    return this.conv === 'gcn' && this.path !== 'general' ? this.fastGCN(u, V, hat) : this.general(u, V, raw, hat);
  }

  route(x: Tensor): RouteResult {
    if (x.rank !== 2) {
      const lead = x.shape.slice(0, -1);
      const r = this.route(reshape(x, [-1, this.inFeatures]));
      const back = (t: Tensor) => reshape(t, [...lead, t.shape[1]!]);
      return { logits: back(r.logits), probs: back(r.probs), indices: r.indices && back(r.indices), weights: back(r.weights) };
    }
    return selectTopK(this.logits(x), this.topK);
  }

  /** GCN without a per-token graph for the first layer; the last layer folded into F when linear. */
  private fastGCN(u: Tensor, V: Tensor, A: Tensor): Tensor {
    const N = this.numExperts;
    const M = N + 1;
    const T = u.shape[0]!;
    const aExpertCols = narrow(A, 1, 0, N); // [M, N]
    const aInputCol = narrow(A, 1, N, 1); // [M, 1]
    if (this.path === 'auto' && this.layers === 2 && this.lastActivation === 'none') {
      // Layer 1 silu(A_hat H W1) and layer 2 folded into F, in one kernel per direction.
      const W1 = this.gnn[0]!.w;
      const base = matmul(aExpertCols, matmul(V, W1)); // [M, h], once per forward
      const s = gcnShared(matmul(u, W1), base, aInputCol, matmul(this.gnn[1]!.w, this.proj)); // [T, M]
      return matmul(s, transpose(narrow(A, 0, 0, N)));
    }
    let H: Tensor | null = null; // [T, M, h]
    for (let l = 0; l < this.layers; l++) {
      const last = l === this.layers - 1;
      const fold = last && this.lastActivation === 'none';
      const W = fold ? matmul(this.gnn[l]!.w, this.proj) : this.gnn[l]!.w;
      const w = W.shape[1]!;
      if (fold) {
        if (H === null) {
          // logits[t, i] = sum_j<N A[i, j] (V W F)[j] + A[i, N] (u W F)[t]
          const sv = matmul(narrow(aExpertCols, 0, 0, N), matmul(V, W)); // [N, 1]
          const su = matmul(u, W); // [T, 1]
          return add(reshape(sv, [1, N]), mul(su, reshape(narrow(aInputCol, 0, 0, N), [1, N])));
        }
        const s = reshape(matmul(reshape(H, [T * M, this.hidden]), W), [T, M]);
        return matmul(s, transpose(narrow(A, 0, 0, N)));
      }
      let Z: Tensor;
      if (H === null) {
        const base = matmul(aExpertCols, matmul(V, W)); // [M, w], once per forward
        const q = matmul(u, W); // [T, w]
        Z = add(unsqueeze(base, 0), mul(unsqueeze(q, 1), reshape(aInputCol, [1, M, 1])));
      } else {
        Z = matmul(A, reshape(matmul(reshape(H, [T * M, this.hidden]), W), [T, M, w]));
      }
      H = silu(Z);
    }
    // silu after the last layer: F on every node, keep the experts.
    return narrow(reshape(matmul(reshape(H!, [T * M, this.hidden]), this.proj), [T, M]), 1, 0, N);
  }

  /** Straightforward per-token propagation over materialised node states [T, N+1, h]. */
  private general(u: Tensor, V: Tensor, raw: Tensor, A: Tensor): Tensor {
    const N = this.numExperts;
    const M = N + 1;
    const T = u.shape[0]!;
    const h = this.hidden;
    let H = concat([expand(unsqueeze(V, 0), [T, N, h]), unsqueeze(u, 1)], 1);
    const flat = (t: Tensor, W: Tensor) => reshape(matmul(reshape(t, [T * M, h]), W), [T, M, W.shape[1]!]);
    for (let l = 0; l < this.layers; l++) {
      const p = this.gnn[l]!;
      let Z: Tensor;
      if (this.conv === 'gcn') {
        Z = matmul(A, flat(H, p.w));
      } else if (this.conv === 'gat') {
        // e_ij = LeakyReLU_0.2(a_src . W h_i + a_dst . W h_j) over j in N(i) + {i}; alpha = softmax_j.
        const HW = flat(H, p.w);
        const s = flat(HW, p.att!); // [T, M, 2]
        const e = add(narrow(s, 2, 0, 1), transpose(narrow(s, 2, 1, 1)));
        const leaky = sub(relu(e), mul(relu(neg(e)), 0.2));
        const maskBias = mul(sub(gt(A, 0), 1), 1e30); // 0 on edges and self loops, -1e30 elsewhere
        Z = matmul(softmax(add(leaky, maskBias), -1), HW);
      } else {
        // GraphSAGE, mean aggregator: W_self h_i + W_neigh mean_{j in N(i)} h_j.
        const mean = div(raw, sum(raw, -1, true));
        Z = add(flat(H, p.w), matmul(mean, flat(H, p.neigh!)));
      }
      H = l < this.layers - 1 || this.lastActivation === 'silu' ? silu(Z) : Z;
    }
    return narrow(reshape(matmul(reshape(H, [T * M, h]), this.proj), [T, M]), 1, 0, N);
  }

  parameters(): Tensor[] {
    return [
      this.wIn, this.wS,
      ...this.gnn.flatMap((p) => [p.w, ...(p.att ? [p.att] : []), ...(p.neigh ? [p.neigh] : [])]),
      this.proj,
      ...(this.adjLogits ? [this.adjLogits] : []),
    ];
  }

  savedTensors(prefix: string): SavedTensor[] {
    const s = (n: string, t: Tensor): SavedTensor => ({ name: `${prefix}.${n}`, tensor: t, transpose: false });
    const out = [s('x', this.X), s('w_in', this.wIn), s('w_s', this.wS)];
    this.gnn.forEach((p, l) => {
      out.push(s(`gnn.${l}.weight`, p.w));
      if (p.att) out.push(s(`gnn.${l}.att`, p.att));
      if (p.neigh) out.push(s(`gnn.${l}.neigh`, p.neigh));
    });
    out.push(s('proj', this.proj));
    if (this.adjLogits) out.push(s('adj_logits', this.adjLogits));
    return out;
  }

  describe(): Record<string, unknown> {
    return {
      type: 'graph',
      numExperts: this.numExperts,
      topK: this.topK,
      inFeatures: this.inFeatures,
      hidden: this.hidden,
      layers: this.layers,
      conv: this.conv,
      adjacency: this.adjacencyMode,
      lastActivation: this.lastActivation,
      inputGain: this.inputGain,
      evalGraph: this.evalGraph,
      path: this.path,
      edges: this.rule,
      twins: this.options.twins ?? null,
      maxAttempts: this.options.maxAttempts ?? null,
      graphEdges: this.graph.edges.map((e) => [...e]),
    };
  }
}

/** D^-1/2 (A + I) D^-1/2 on the device, differentiable in A [M, M]. */
export function normalizeT(raw: Tensor): Tensor {
  const M = raw.shape[0]!;
  const eye = new Float32Array(M * M);
  for (let i = 0; i < M; i++) eye[i * M + i] = 1;
  const Ai = add(raw, tensor(eye, [M, M], { backend: raw.backend }));
  const dinv = rsqrt(sum(Ai, -1, true)); // [M, 1]
  return mul(mul(dinv, Ai), transpose(dinv));
}

/** The cosine rule on the device: expert pairs i != j with |cos(v_i, v_j)| > threshold, input joined to all. */
export function cosineAdjacencyT(V: Tensor, threshold: number): Tensor {
  const N = V.shape[0]!;
  const n = rsqrt(sum(mul(V, V), -1, true));
  const Vn = mul(V, n);
  const offDiag = new Float32Array(N * N).fill(1);
  for (let i = 0; i < N; i++) offDiag[i * N + i] = 0;
  const E = mul(gt(abs(matmul(Vn, transpose(Vn))), threshold), tensor(offDiag, [N, N], { backend: V.backend }));
  const b = V.backend;
  const col = tensor(new Float32Array(N).fill(1), [N, 1], { backend: b });
  const row = tensor(Float32Array.from({ length: N + 1 }, (_, i) => (i < N ? 1 : 0)), [1, N + 1], { backend: b });
  return concat([concat([E, col], 1), row], 0);
}

/** Options rebuilding a router from its describe() output (the saved graph is reused, not redrawn). */
export function optionsFromDescription(saved: Record<string, unknown>): GraphRouterOptions {
  const edges = saved.graphEdges as Edge[] | undefined;
  if (!Array.isArray(edges)) throw new Error('graph router: saved description has no graphEdges');
  return {
    hidden: saved.hidden as number,
    layers: saved.layers as number,
    conv: saved.conv as GraphConv,
    adjacency: saved.adjacency as 'fixed' | 'learnable',
    lastActivation: saved.lastActivation as 'none' | 'silu',
    inputGain: saved.inputGain as number,
    evalGraph: saved.evalGraph as 'training' | 'recompute',
    path: saved.path as GraphPath,
    edges: saved.edges as EdgeRule,
    twins: (saved.twins ?? undefined) as TwinPolicy | undefined,
    maxAttempts: (saved.maxAttempts ?? undefined) as number | undefined,
    graphEdges: edges,
  };
}

/** A RouterFactory for attachMoE({ router: graphRouter({...}) }). */
export function graphRouter(opts: GraphRouterOptions = {}): RouterFactory {
  return (c: RouterContext) => new GraphRouter(c.inFeatures, c.numExperts, c.topK, c.backend, c.generator, opts, `${c.path}.router`);
}

/** The factory loadAdapter uses: checks the saved sizes against the layer, then rebuilds exactly. */
export function graphRouterFromDescription(saved: Record<string, unknown>): RouterFactory {
  const opts = optionsFromDescription(saved);
  return (c: RouterContext) => {
    for (const k of ['numExperts', 'topK', 'inFeatures'] as const) {
      if (saved[k] !== undefined && saved[k] !== c[k]) {
        throw new Error(`graph router at ${c.path}: saved ${k} ${String(saved[k])} differs from the layer's ${c[k]}`);
      }
    }
    return graphRouter(opts)(c);
  };
}
