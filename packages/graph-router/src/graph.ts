/**
 * The per-token MoE graph of GMoE (SPEC section 3): N expert nodes (0..N-1) and one input node
 * (index N) joined to every expert; expert-expert edges by a rule. Host-side, float64, seeded.
 */
import { Generator } from '@moegraph/tensor-webgpu';

/** An undirected expert-expert edge [i, j] with i < j < N. */
export type Edge = [number, number];

/** How expert-expert edges are chosen. */
export type EdgeRule =
  /** Paper: round(beta * N(N-1)/2) distinct pairs drawn uniformly (default beta 0.1). */
  | { rule: 'density'; beta?: number }
  /** Reference code: |cos| of the initial expert features above `threshold` (default 0.25). */
  | { rule: 'cosine'; threshold?: number }
  /** A given edge list. */
  | { rule: 'explicit'; edges: readonly (readonly [number, number])[] };

/** What to do with twin experts (identical rows of A_hat): redraw (density rule only), keep, or throw. */
export type TwinPolicy = 'redraw' | 'keep' | 'error';

export interface GraphOptions {
  numExperts: number;
  /** Default { rule: 'density', beta: 0.1 }. */
  edges?: EdgeRule;
  /** Default 'redraw' for the density rule, 'keep' for cosine/explicit (deterministic rules cannot be redrawn). */
  twins?: TwinPolicy;
  /** Bound on density redraws before giving up (default 1000). */
  maxAttempts?: number;
  /** Draws for the density rule (default new Generator(seed ?? 0)). */
  generator?: Generator;
  seed?: number;
  /** Cosine rule: initial expert features, row-major [N, dim]. */
  features?: ArrayLike<number>;
  featureDim?: number;
}

export class ExpertGraph {
  /** Dense A over N+1 nodes (no self loops), row-major float64. */
  readonly adjacency: Float64Array;
  /** A_hat = D^-1/2 (A + I) D^-1/2, row-major float64 [(N+1) x (N+1)]. */
  readonly normalized: Float64Array;
  constructor(
    readonly numExperts: number,
    /** Expert-expert edges, sorted, i < j. */
    readonly edges: readonly Edge[],
    /** Density draws it took (1 when accepted first time; 0 for deterministic rules). */
    readonly attempts = 0,
  ) {
    this.adjacency = adjacencyMatrix(numExperts, edges);
    this.normalized = normalizeAdjacency(this.adjacency, numExperts + 1);
  }
  get numNodes(): number {
    return this.numExperts + 1;
  }
  /** Pairs of twin experts (see findTwins). */
  twins(): Edge[] {
    return findTwins(this.normalized, this.numExperts);
  }
  /** Present expert-expert edges over possible ones, N(N-1)/2. */
  get density(): number {
    const N = this.numExperts;
    return N > 1 ? this.edges.length / ((N * (N - 1)) / 2) : 0;
  }
}

/** Sorted, validated, deduplicated edge list (i < j < N; self pairs dropped: A_hat adds I anyway). */
export function canonicalEdges(N: number, edges: readonly (readonly [number, number])[]): Edge[] {
  const seen = new Set<number>();
  const out: Edge[] = [];
  for (const e of edges) {
    const [a, b] = e;
    if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b < 0 || a >= N || b >= N) {
      throw new Error(`graph: edge [${a}, ${b}] is not a pair of experts in [0, ${N})`);
    }
    if (a === b) continue;
    const [i, j] = a < b ? [a, b] : [b, a];
    const key = i * N + j;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push([i, j]);
  }
  return out.sort((p, q) => p[0] - q[0] || p[1] - q[1]);
}

/** Dense adjacency over N+1 nodes: the expert edges plus input node N joined to every expert. */
export function adjacencyMatrix(N: number, edges: readonly Edge[]): Float64Array {
  const M = N + 1;
  const A = new Float64Array(M * M);
  for (const [i, j] of edges) A[i * M + j] = A[j * M + i] = 1;
  for (let i = 0; i < N; i++) A[i * M + N] = A[N * M + i] = 1;
  return A;
}

/** D^-1/2 (A + I) D^-1/2 for a dense symmetric A [M x M] without self loops. */
export function normalizeAdjacency(A: ArrayLike<number>, M: number): Float64Array {
  const out = new Float64Array(M * M);
  const dinv = new Float64Array(M);
  for (let i = 0; i < M; i++) {
    let d = 1;
    for (let j = 0; j < M; j++) if (j !== i) d += A[i * M + j]!;
    dinv[i] = 1 / Math.sqrt(d);
  }
  for (let i = 0; i < M; i++) for (let j = 0; j < M; j++) out[i * M + j] = dinv[i]! * (i === j ? 1 : A[i * M + j]!) * dinv[j]!;
  return out;
}

/**
 * Twin experts: pairs (i, j) whose rows of A_hat coincide once i and j are swapped, in the strict
 * sense that row i equals row j entry by entry (A_hat[i, k] = A_hat[j, k] for every k, i and j
 * included). Then A_hat H has equal rows i and j for every H, so the two experts get equal
 * logits for every token and every weight. This happens exactly when i and j are adjacent, have
 * the same other neighbours and the same degree (e.g. two experts joined only to each other and
 * the input). Experts that are merely symmetric without being adjacent (two experts joined only
 * to the input) are not twins: their own features still enter with weight 1/d_i.
 */
export function findTwins(aHat: ArrayLike<number>, N: number, tol = 1e-12): Edge[] {
  const M = N + 1;
  const out: Edge[] = [];
  for (let i = 0; i < N; i++) {
    for (let j = i + 1; j < N; j++) {
      let same = true;
      for (let k = 0; k < M && same; k++) if (Math.abs(aHat[i * M + k]! - aHat[j * M + k]!) > tol) same = false;
      if (same) out.push([i, j]);
    }
  }
  return out;
}

/** round(beta * N(N-1)/2) distinct pairs, uniformly (partial Fisher-Yates over all pairs). */
export function drawDensityEdges(N: number, beta: number, g: Generator): Edge[] {
  if (!(beta >= 0 && beta <= 1)) throw new Error(`graph: density beta must be in [0, 1], got ${beta}`);
  const pairs: Edge[] = [];
  for (let i = 0; i < N; i++) for (let j = i + 1; j < N; j++) pairs.push([i, j]);
  const m = Math.round(beta * pairs.length);
  for (let k = 0; k < m; k++) {
    const r = k + g.int(pairs.length - k);
    [pairs[k], pairs[r]] = [pairs[r]!, pairs[k]!];
  }
  return canonicalEdges(N, pairs.slice(0, m));
}

/**
 * Reference-code rule: experts i != j are joined when |cos(f_i, f_j)| > threshold. Self pairs
 * (|cos| = 1) always pass and are counted as the self loops that A_hat's + I provides (no double
 * weight, like PyG's add_remaining_self_loops).
 */
export function cosineEdges(features: ArrayLike<number>, N: number, dim: number, threshold: number): Edge[] {
  if (features.length !== N * dim) throw new Error(`graph: cosine rule needs ${N} x ${dim} features, got ${features.length} values`);
  const norm = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    let s = 0;
    for (let k = 0; k < dim; k++) s += features[i * dim + k]! ** 2;
    norm[i] = Math.sqrt(s);
  }
  const edges: Edge[] = [];
  for (let i = 0; i < N; i++) {
    for (let j = i + 1; j < N; j++) {
      let s = 0;
      for (let k = 0; k < dim; k++) s += features[i * dim + k]! * features[j * dim + k]!;
      const c = norm[i]! > 0 && norm[j]! > 0 ? s / (norm[i]! * norm[j]!) : 0;
      if (Math.abs(c) > threshold) edges.push([i, j]);
    }
  }
  return edges;
}

function twinError(N: number, edges: readonly Edge[], twins: Edge[], why: string): Error {
  return new Error(
    `graph: twin experts ${twins.map(([i, j]) => `(${i}, ${j})`).join(', ')} in the graph of ${N} experts with edges ` +
      `${JSON.stringify(edges)}: their rows of A_hat coincide, so their logits are equal for every token. ${why}`,
  );
}

/** Build the expert graph by its rule; the same options (and seed) give the same graph. */
export function buildGraph(o: GraphOptions): ExpertGraph {
  const N = o.numExperts;
  if (!(Number.isInteger(N) && N >= 1)) throw new Error(`graph: numExperts must be a positive integer, got ${N}`);
  const rule: EdgeRule = o.edges ?? { rule: 'density', beta: 0.1 };
  const policy: TwinPolicy = o.twins ?? (rule.rule === 'density' ? 'redraw' : 'keep');
  if (rule.rule === 'density') {
    const g = o.generator ?? new Generator(o.seed ?? 0);
    const beta = rule.beta ?? 0.1;
    const max = o.maxAttempts ?? 1000;
    for (let attempt = 1; attempt <= max; attempt++) {
      const G = new ExpertGraph(N, drawDensityEdges(N, beta, g), attempt);
      const tw = policy === 'keep' ? [] : G.twins();
      if (!tw.length) return G;
      if (policy === 'error') throw twinError(N, G.edges, tw, "Use twins: 'redraw' or 'keep'.");
      if (attempt === max) {
        throw twinError(N, G.edges, tw, `Gave up after ${max} draws at density ${beta}: raise maxAttempts, change beta, or use twins: 'keep'.`);
      }
    }
  }
  let edges: Edge[];
  if (rule.rule === 'cosine') {
    if (!o.features || !o.featureDim) throw new Error('graph: the cosine rule needs the initial expert features');
    edges = cosineEdges(o.features, N, o.featureDim, rule.threshold ?? 0.25);
  } else if (rule.rule === 'explicit') {
    edges = canonicalEdges(N, rule.edges);
  } else {
    throw new Error(`graph: unknown edge rule '${String((rule as { rule: unknown }).rule)}' (density, cosine, explicit)`);
  }
  const G = new ExpertGraph(N, edges, 0);
  if (policy !== 'keep') {
    const tw = G.twins();
    if (tw.length) {
      throw twinError(N, G.edges, tw, policy === 'redraw' ? `The ${rule.rule} rule is deterministic and cannot be redrawn; use twins: 'keep' to accept it.` : '');
    }
  }
  return G;
}
