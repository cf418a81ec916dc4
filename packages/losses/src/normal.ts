/**
 * GMoE's Normal balance loss (SPEC section 3, Eq. 8-9): the per-expert activation frequency of a
 * layer, sorted descending, is pulled towards a normalised Gaussian over ranks 1..N, so load
 * spreads over experts instead of collapsing onto a few.
 */
import {
  add, concat, div, exp, expand, getBackend, keep, log, logSoftmax, maximum, mean, mul, reshape, scatterAlongAxis, sort, square, sub, sum, tensor,
  type Backend, type Tensor,
} from '@moegraph/tensor-webgpu';
import { positions, scalarOn, tokenMask, tokensByExperts, type RouteLike } from './route.js';

export interface NormalTargetOptions {
  /**
   * 'per-layer' (default, the paper): g normalised over each layer's N experts.
   * 'global' (reference code): g normalised over all layers x experts at once, so each layer's
   * target sums to about 1/L and the loss no longer bottoms out at a balanced load.
   */
  normalization?: 'per-layer' | 'global';
  /** Centre of the Gaussian over ranks 1..N (default N/2). */
  mu?: number;
}

export interface NormalLossOptions extends NormalTargetOptions {
  /** Added to the sorted frequencies inside the log, so an unused expert gives a finite loss (default 1e-9). */
  eps?: number;
  /** How the per-layer losses combine when freq is [L, N]: 'mean' (default) or 'sum'. */
  reduction?: 'mean' | 'sum';
}

/** sigma as [L, 1] (a scalar is shared by every layer). */
function sigmaColumn(sigma: Tensor | number, layers: number, backend: Backend): Tensor {
  const s = scalarOn(sigma, backend);
  if (s.size !== 1 && s.size !== layers) throw new Error(`normalBalanceLoss: sigma has ${s.size} values, expected 1 or ${layers} (one per layer)`);
  return reshape(s, [s.size, 1]);
}

/**
 * log g over ranks i = 1..n, [L, n]: log N(i; mu, sigma) normalised per layer or globally. The
 * constant -log sqrt(2 pi) cancels in either normalisation; -log sigma cancels per layer but not
 * globally (layers with different sigma get different mass), so it is kept.
 */
function normalLogTarget(n: number, layers: number, sigma: Tensor | number, backend: Backend, opts: NormalTargetOptions): Tensor {
  const s = sigmaColumn(sigma, layers, backend);
  const d = sub(positions(backend, n), opts.mu ?? n / 2);
  const logPdf = sub(div(mul(square(d), -0.5), square(s)), log(s)); // [L or 1, n]
  const full = logPdf.shape[0] === layers ? logPdf : expand(logPdf, [layers, n]);
  if ((opts.normalization ?? 'per-layer') === 'per-layer') return logSoftmax(full, -1);
  return reshape(logSoftmax(reshape(full, [layers * n]), -1), [layers, n]);
}

/** The normalised Gaussian target g_i, i = 1..n ([n] for a scalar sigma, else [L, n]), unsorted. */
export function normalTarget(n: number, sigma: Tensor | number, opts: NormalTargetOptions & { backend?: Backend } = {}): Tensor {
  const be = opts.backend ?? (typeof sigma === 'number' ? getBackend() : sigma.backend);
  const layers = typeof sigma === 'number' ? 1 : sigma.size;
  const g = exp(normalLogTarget(n, layers, sigma, be, opts));
  return typeof sigma === 'number' || sigma.rank === 0 ? reshape(g, [n]) : g;
}

/**
 * L_N = sum_i g_i log(g_i / q_i), q = freq L1-normalised per layer, both sorted descending.
 * freq [N] or [L, N] (raw counts or already normalised; gradient flows to it); sigma a scalar or
 * [L] (learnable). For [L, N] the per-layer losses are averaged (or summed). Returns a scalar.
 */
export function normalBalanceLoss(freq: Tensor, sigma: Tensor | number, opts: NormalLossOptions = {}): Tensor {
  const what = 'normalBalanceLoss';
  if (freq.rank !== 1 && freq.rank !== 2) throw new Error(`${what}: freq must be [N] or [L, N], got rank ${freq.rank}`);
  const f = freq.rank === 1 ? reshape(freq, [1, freq.shape[0]!]) : freq;
  const [layers, n] = f.shape as [number, number];
  // A layer with no load at all would divide 0 by 0; its q stays 0 and the eps keeps the log finite.
  const q = div(f, maximum(sum(f, -1, true), 1e-30));
  const qs = sort(q, { descending: true }).values;
  const logG = sort(normalLogTarget(n, layers, sigma, freq.backend, opts), { descending: true }).values;
  const perLayer = sum(mul(exp(logG), sub(logG, log(add(qs, opts.eps ?? 1e-9)))), -1);
  return (opts.reduction ?? 'mean') === 'sum' ? sum(perLayer) : mean(perLayer);
}

/**
 * Cumulative routing weight per expert over the tokens: [N]. indices [T, K] i32 with weights
 * [T, K] (top-K), or indices null with weights [T, N] (dense). mask [T] drops padding tokens.
 * Gradient flows to the weights; the selection itself is discrete.
 */
export function expertWeightSums(indices: Tensor | null, weights: Tensor, numExperts: number, mask?: Tensor): Tensor {
  const what = 'expertWeightSums';
  const w = tokensByExperts(weights, what);
  let perToken: Tensor;
  if (indices) {
    const idx = tokensByExperts(indices, what);
    if (idx.shape[0] !== w.shape[0] || idx.shape[1] !== w.shape[1]) throw new Error(`${what}: indices [${idx.shape}] and weights [${w.shape}] differ`);
    perToken = scatterAlongAxis(w, idx, numExperts);
  } else {
    if (w.shape[1] !== numExperts) throw new Error(`${what}: dense weights [${w.shape}] must have ${numExperts} columns`);
    perToken = w;
  }
  if (mask) perToken = mul(perToken, reshape(tokenMask(mask, w.shape[0]!, what), [-1, 1]));
  return sum(perToken, 0);
}

/** Which routing the frequency vector counts. */
export type AccumulationWindow = 'batch' | 'running' | 'ema';

export interface NormalBalanceOptions extends Omit<NormalLossOptions, 'normalization' | 'reduction'> {
  /** Initial sigma (reference: N/2). */
  sigmaInit?: number;
  /**
   * 'batch' (default): this batch's routing only.
   * 'running' (reference code): counts summed over every step since start; the history is
   * detached, so only the current batch carries gradient.
   * 'ema': m_t = decay m_{t-1} + (1 - decay) c_t, history detached likewise.
   */
  window?: AccumulationWindow;
  /** EMA decay (default 0.99). */
  decay?: number;
  backend?: Backend;
  name?: string;
}

/** What a checkpoint needs to resume the accumulation window. */
export interface NormalBalanceState {
  window: AccumulationWindow;
  steps: number;
  /** Detached accumulated counts [N] (null before the first step and for the 'batch' window). */
  counts: Tensor | null;
}

/** One mixture layer's Normal balance loss with its learnable sigma and accumulation window. */
export class NormalBalance {
  readonly sigma: Tensor;
  readonly window: AccumulationWindow;
  readonly decay: number;
  private readonly eps: number | undefined;
  private readonly mu: number | undefined;
  private history: Tensor | null = null;
  private steps = 0;

  constructor(readonly numExperts: number, opts: NormalBalanceOptions = {}) {
    const init = opts.sigmaInit ?? numExperts / 2;
    if (!(init > 0)) throw new Error(`NormalBalance: sigma init ${init} must be > 0`);
    this.window = opts.window ?? 'batch';
    this.decay = opts.decay ?? 0.99;
    if (!(this.decay >= 0 && this.decay < 1)) throw new Error(`NormalBalance: decay ${this.decay} must be in [0, 1)`);
    this.eps = opts.eps;
    this.mu = opts.mu;
    this.sigma = keep(tensor(init, [], { backend: opts.backend, requiresGrad: true, name: opts.name ?? 'normal.sigma' }));
  }

  /**
   * Add this batch's routing to the window and return the windowed counts [N]; only this batch's
   * part carries gradient. The stored history is a detached copy kept out of every scope.
   */
  update(route: Pick<RouteLike, 'indices' | 'weights'>, mask?: Tensor): Tensor {
    const cur = expertWeightSums(route.indices, route.weights, this.numExperts, mask);
    this.steps++;
    if (this.window === 'batch') return cur;
    const prev = this.history;
    let counts: Tensor;
    if (this.window === 'running') counts = prev ? add(prev, cur) : cur;
    else counts = prev ? add(mul(prev, this.decay), mul(cur, 1 - this.decay)) : mul(cur, 1 - this.decay);
    this.setHistory(counts.detach());
    return counts;
  }

  /** L_N for this layer after adding `route` to the window (per-layer normalisation). */
  loss(route: Pick<RouteLike, 'indices' | 'weights'>, mask?: Tensor): Tensor {
    return normalBalanceLoss(this.update(route, mask), this.sigma, { eps: this.eps, mu: this.mu });
  }

  /** The options normalBalanceLoss needs to score this layer's counts (for multi-layer use). */
  lossOptions(): NormalLossOptions {
    return { eps: this.eps, mu: this.mu };
  }

  parameters(): Tensor[] {
    return [this.sigma];
  }

  /** The window's state; counts is a detached view the caller may dispose. */
  state(): NormalBalanceState {
    return { window: this.window, steps: this.steps, counts: this.history ? this.history.detach() : null };
  }

  /** Resume from state(): counts are copied (a tensor's values, or host numbers) onto sigma's backend. */
  loadState(s: { steps: number; counts: Tensor | ArrayLike<number> | null; window?: AccumulationWindow }): void {
    if (s.window && s.window !== this.window) throw new Error(`NormalBalance.loadState: state is for window '${s.window}', this layer uses '${this.window}'`);
    let counts: Tensor | null = null;
    if (s.counts) {
      const size = 'shape' in s.counts ? (s.counts as Tensor).size : (s.counts as ArrayLike<number>).length;
      if (size !== this.numExperts) throw new Error(`NormalBalance.loadState: counts have ${size} entries, expected ${this.numExperts}`);
      // add(x, 0) makes a fresh storage, so the caller's tensor can be freed independently.
      counts = 'shape' in s.counts ? add((s.counts as Tensor).detach(), 0) : tensor(Array.from(s.counts as ArrayLike<number>), [this.numExperts], { backend: this.sigma.backend });
    }
    this.steps = s.steps;
    this.setHistory(counts);
  }

  /** Forget the accumulated counts. */
  reset(): void {
    this.steps = 0;
    this.setHistory(null);
  }

  dispose(): void {
    this.setHistory(null);
    this.sigma.dispose();
  }

  private setHistory(t: Tensor | null): void {
    if (t) keep(t);
    const old = this.history;
    this.history = t;
    // The old history is only read by the forward that was just built (never by a backward: it
    // needs no gradient), so it can be freed now.
    if (old && old !== t) old.dispose();
  }
}

/**
 * L_N over several layers at once: each layer's window is updated with its route, the counts are
 * stacked to [L, N] and scored with per-layer sigmas. Needed for the reference's 'global'
 * normalisation, which couples the layers; with 'per-layer' it equals the mean of each layer's loss().
 */
export function normalBalanceLossOverLayers(
  layers: readonly NormalBalance[],
  routes: readonly Pick<RouteLike, 'indices' | 'weights'>[],
  opts: Omit<NormalLossOptions, 'eps' | 'mu'> & { mask?: Tensor } = {},
): Tensor {
  if (layers.length === 0 || layers.length !== routes.length) {
    throw new Error(`normalBalanceLossOverLayers: ${layers.length} layers but ${routes.length} routes`);
  }
  const n = layers[0]!.numExperts;
  if (layers.some((l) => l.numExperts !== n)) throw new Error('normalBalanceLossOverLayers: every layer must have the same expert count');
  const counts = layers.map((l, i) => reshape(l.update(routes[i]!, opts.mask), [1, n]));
  const sigmas = layers.map((l) => reshape(l.sigma, [1]));
  const { mask: _mask, ...lossOpts } = opts;
  return normalBalanceLoss(concat(counts, 0), concat(sigmas, 0), { ...layers[0]!.lossOptions(), ...lossOpts });
}
