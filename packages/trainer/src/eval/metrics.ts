/**
 * Expert load and router entropy from mixture routes. The reductions run on the device; a result
 * costs one readback. RouteStats accumulates batch by batch, so an eval loop can add each batch's
 * routes inside its scope (before they are disposed) and read the totals once at the end.
 */
import { add, cast, concat, keep, log, maximum, mul, neg, noGrad, ones, reshape, scatterAlongAxis, scope, sum, tensor, type Tensor } from '@moegraph/tensor-webgpu';
import type { ExpertLoad } from '../types.js';

/** What the metrics read from a RouteResult (packages/lora/src/moe/router.ts). */
export interface RouteLike {
  /** Softmax probabilities [T, N]. */
  probs: Tensor;
  /** Selected experts [T, K] (i32); null for dense routing. */
  indices: Tensor | null;
}

export interface LayerRoutes {
  /** Module path of the mixture layer. */
  path: string;
  routes: readonly RouteLike[];
}

/** Anything with an adapter's modules map (lora's Adapter fits). */
export interface RouteSource {
  modules: ReadonlyMap<string, { routes?: readonly RouteLike[]; clearRoutes?(): void }>;
}

/** The routes recorded by each mixture module of an adapter, by module path. */
export function routesByLayer(src: RouteSource): LayerRoutes[] {
  const out: LayerRoutes[] = [];
  for (const [path, m] of src.modules) if (m.routes && m.routes.length > 0) out.push({ path, routes: m.routes });
  return out;
}

/** Token weights: 1 per routed token, or a 0/1 mask (e.g. Batch.attentionMask) to skip padding. */
export type TokenMask = Int32Array | Float32Array | readonly number[];

// Entropy's p log p at p = 0 is 0; clamping p inside the log keeps 0 * log(tiny) = 0, not NaN.
const TINY = 1e-30;

interface LayerAcc {
  numExperts: number;
  /** [N] selections (top-K) or probability mass (dense) summed over tokens. */
  counts: Tensor;
}

export interface RouteSummary {
  expertLoad: ExpertLoad[];
  /** Mean over routed tokens (all layers) of -sum p log p, in nats; null when nothing was added. */
  routerEntropy: number | null;
  /** Tokens counted (summed over layers and routes). */
  tokens: number;
}

/** Streaming accumulator of expert selections and router entropy. Call dispose() when done. */
export class RouteStats {
  private readonly layers = new Map<string, LayerAcc>();
  private entropy: Tensor | null = null;
  private tokens = 0;

  /** numExperts, when given, is checked against every layer's probs. */
  constructor(readonly numExperts?: number) {}

  /**
   * Add one forward's routes. mask (optional, length T of each route) weights tokens: a top-K
   * token adds `mask` to each expert it selected, a dense token adds mask * probs. Synchronous,
   * so it can run inside the caller's scope; the running totals survive that scope.
   */
  add(layers: readonly LayerRoutes[], mask?: TokenMask): void {
    noGrad(() =>
      scope(() => {
        for (const { path, routes } of layers) {
          for (const [ri, r] of routes.entries()) this.addRoute(path, ri, r, mask);
        }
      }),
    );
  }

  private addRoute(path: string, ri: number, r: RouteLike, mask: TokenMask | undefined): void {
    const what = `RouteStats: layer '${path}' route ${ri}`;
    if (r.probs.rank !== 2) throw new Error(`${what}: probs must be [T, N], got [${r.probs.shape}]`);
    const [T, N] = r.probs.shape as [number, number];
    if (this.numExperts !== undefined && N !== this.numExperts) throw new Error(`${what}: probs has ${N} experts, expected ${this.numExperts}`);
    const prev = this.layers.get(path);
    if (prev && prev.numExperts !== N) throw new Error(`${what}: ${N} experts, earlier routes of this layer had ${prev.numExperts}`);
    if (mask && mask.length !== T) throw new Error(`${what}: mask has ${mask.length} entries for ${T} routed tokens`);
    const be = r.probs.backend;
    const probs = r.probs.dtype === 'f32' ? r.probs : cast(r.probs, 'f32');
    const w = mask ? tensor(Float32Array.from(mask, Number), [T, 1], { backend: be }) : null;
    let counts: Tensor;
    if (r.indices) {
      const [Ti, K] = r.indices.shape as [number, number];
      if (r.indices.rank !== 2 || Ti !== T) throw new Error(`${what}: indices must be [${T}, K], got [${r.indices.shape}]`);
      // One-hot by scatter: row t puts w[t] at each selected column; summing rows counts picks.
      const src = w ? mul(w, ones([T, K], { backend: be })) : ones([T, K], { backend: be });
      counts = sum(scatterAlongAxis(src, r.indices, N), 0);
    } else {
      counts = sum(w ? mul(probs, w) : probs, 0);
    }
    const h = neg(sum(mul(probs, log(maximum(probs, TINY))), -1, true)); // [T, 1]
    const hSum = reshape(sum(w ? mul(h, w) : h), [1]);
    this.tokens += mask ? Array.from(mask).reduce((a, b) => a + Number(b), 0) : T;
    this.layers.set(path, { numExperts: N, counts: keep(prev ? add(prev.counts, counts) : counts) });
    prev?.counts.dispose();
    const e = keep(this.entropy ? add(this.entropy, hSum) : hSum);
    this.entropy?.dispose();
    this.entropy = e;
  }

  /** Read the totals (one readback) as per-layer load shares and the mean entropy. */
  async summary(): Promise<RouteSummary> {
    if (!this.entropy) return { expertLoad: [], routerEntropy: null, tokens: 0 };
    const entries = [...this.layers];
    const flat = noGrad(() => scope(() => concat([...entries.map(([, l]) => l.counts), this.entropy!], 0)));
    const data = await flat.data();
    flat.dispose();
    let off = 0;
    const expertLoad = entries.map(([layer, l]) => {
      const c = Array.from(data.subarray(off, off + l.numExperts));
      off += l.numExperts;
      return { layer, ...loadShare(c) };
    });
    return { expertLoad, routerEntropy: this.tokens > 0 ? data[off]! / this.tokens : null, tokens: this.tokens };
  }

  dispose(): void {
    for (const l of this.layers.values()) l.counts.dispose();
    this.layers.clear();
    this.entropy?.dispose();
    this.entropy = null;
    this.tokens = 0;
  }
}

/** Shares of a count vector (sum 1; all 0 when nothing was counted) and their population std. */
export function loadShare(counts: readonly number[]): { share: number[]; std: number } {
  const total = counts.reduce((a, b) => a + b, 0);
  const share = counts.map((c) => (total > 0 ? c / total : 0));
  const m = share.reduce((a, b) => a + b, 0) / share.length;
  const std = Math.sqrt(share.reduce((a, s) => a + (s - m) ** 2, 0) / share.length);
  return { share, std };
}

/**
 * Share of top-K selections per expert for each layer (dense routes: probability mass), with the
 * population std of the shares. One readback.
 */
export async function expertLoad(layers: readonly LayerRoutes[], numExperts?: number, mask?: TokenMask): Promise<ExpertLoad[]> {
  const s = new RouteStats(numExperts);
  try {
    s.add(layers, mask);
    return (await s.summary()).expertLoad;
  } finally {
    s.dispose();
  }
}

/** Mean over tokens (of every route given) of -sum_n p log p, in nats. One readback. */
export async function routerEntropy(routes: readonly RouteLike[], mask?: TokenMask): Promise<number> {
  if (routes.length === 0) throw new Error('routerEntropy: no routes');
  const s = new RouteStats();
  try {
    s.add([{ path: 'routes', routes }], mask);
    return (await s.summary()).routerEntropy!;
  } finally {
    s.dispose();
  }
}
