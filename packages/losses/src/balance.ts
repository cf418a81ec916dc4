/**
 * Router regularisers of the MoE baselines (SPEC section 2 and 4): Mixtral-style and Switch-style
 * load balance, and the router z-loss. Each takes plain tensors; the *FromRoutes helpers
 * concatenate the router outputs of every layer (and round) first, as the reference does.
 */
import {
  add, argmax, concat, div, exp, log, max, maximum, mean, mul, noGrad, ones, reshape, scatterAlongAxis, square, sub, sum,
  type Tensor,
} from '@moegraph/tensor-webgpu';
import { tokenMask, tokensByExperts, type RouteLike } from './route.js';

export interface BalanceOptions {
  /** Loss coefficient (default 1, so the perfectly balanced Mixtral value is K; MixLoRA uses 0.001, its examples 0.01, GraphMoE 0.01). */
  coef?: number;
  /** Token mask [T] (1 = real token, 0 = padding), f32 or i32; default every token counts. */
  mask?: Tensor;
}

/** Masked mean over tokens of x [T, C] -> [C] (masked tokens excluded from the count too). */
function tokenMean(x: Tensor, mask: Tensor | undefined, what: string): Tensor {
  if (!mask) return mean(x, 0);
  const m = tokenMask(mask, x.shape[0]!, what);
  return div(sum(mul(x, reshape(m, [-1, 1])), 0), maximum(sum(m), 1));
}

/**
 * N * sum_n F_n P_n where F_n = fraction of (masked) tokens whose chosen experts include n,
 * counted once per choice (so F sums to K), and P_n = mean router probability of expert n. Only
 * P carries gradient. sum_{k,n} f_{k,n} P_n = sum_n (sum_k f_{k,n}) P_n, so F is the per-k
 * fractions of Mixtral summed over k.
 */
function balanceCore(probs: Tensor, choices: Tensor, opts: BalanceOptions, what: string): Tensor {
  const p = tokensByExperts(probs, what);
  const idx = tokensByExperts(choices, what);
  const [tokens, n] = p.shape as [number, number];
  if (idx.shape[0] !== tokens) throw new Error(`${what}: indices have ${idx.shape[0]} tokens, probs ${tokens}`);
  const counts = noGrad(() => scatterAlongAxis(ones(idx.shape, { backend: p.backend }), idx, n));
  const f = tokenMean(counts, opts.mask, what);
  const P = tokenMean(p, opts.mask, what);
  return mul(sum(mul(f, P)), (opts.coef ?? 1) * n);
}

/**
 * Mixtral-style load balance: coef * N * sum_{k,n} f_{k,n} P_n over probs [T, N] (softmax over
 * all experts) and the top-K choices indices [T, K] (i32). Equals coef * K at perfect balance.
 */
export function mixtralLoadBalanceLoss(probs: Tensor, indices: Tensor, opts: BalanceOptions = {}): Tensor {
  return balanceCore(probs, indices, opts, 'mixtralLoadBalanceLoss');
}

/**
 * Switch-style load balance: coef * N * sum_n f_n P_n, f from each token's argmax expert (ties:
 * lowest index). Equals coef at perfect balance.
 */
export function switchLoadBalanceLoss(probs: Tensor, opts: BalanceOptions = {}): Tensor {
  const p = tokensByExperts(probs, 'switchLoadBalanceLoss');
  const top1 = noGrad(() => argmax(p, -1, true));
  return balanceCore(p, top1, opts, 'switchLoadBalanceLoss');
}

/** Router z-loss (ST-MoE): coef * mean over tokens of logsumexp(logits)^2, logits [T, N]. */
export function routerZLoss(logits: Tensor, opts: BalanceOptions = {}): Tensor {
  const x = tokensByExperts(logits, 'routerZLoss');
  // The shift is a constant for the gradient (logsumexp's gradient is softmax whatever the shift).
  const m = noGrad(() => max(x, -1, true));
  const lse = add(reshape(m, [-1]), log(sum(exp(sub(x, m)), -1)));
  const z = tokenMean(reshape(square(lse), [-1, 1]), opts.mask, 'routerZLoss');
  return mul(reshape(z, []), opts.coef ?? 1);
}

/** Concatenate one field of every route along the token axis, checking the expert count. */
function gather(routes: readonly RouteLike[], field: 'probs' | 'logits' | 'indices', what: string): Tensor {
  if (routes.length === 0) throw new Error(`${what}: no routes`);
  const parts = routes.map((r, i) => {
    const t = r[field];
    if (!t) throw new Error(`${what}: route ${i} has no ${field}${field === 'indices' ? ' (dense routing has no top-K choice; use switch or a sparse router)' : ''}`);
    return tokensByExperts(t, what);
  });
  const c = parts[0]!.shape[1];
  parts.forEach((p, i) => {
    if (p.shape[1] !== c) throw new Error(`${what}: route ${i} has ${field} [${p.shape}], route 0 has ${c} columns; layers with different expert counts cannot be pooled`);
  });
  return parts.length === 1 ? parts[0]! : concat(parts, 0);
}

/** The per-layer token mask repeated once per route, matching the concatenated tokens. */
function repeatMask(mask: Tensor | undefined, routes: readonly RouteLike[], what: string): Tensor | undefined {
  if (!mask) return undefined;
  const tokens = tokensByExperts(routes[0]!.probs, what).shape[0]!;
  const m = tokenMask(mask, tokens, what);
  return routes.length === 1 ? m : concat(routes.map(() => m), 0);
}

export interface RoutesBalanceOptions extends BalanceOptions {
  /** 'mixtral' (default, SPEC section 2) or 'switch' (GraphMoE, SPEC section 4). */
  kind?: 'mixtral' | 'switch';
}

/**
 * Load balance over the router outputs of all layers (and rounds) concatenated along tokens.
 * mask is one layer's token mask [T]; every route must cover the same T tokens.
 */
export function loadBalanceLossFromRoutes(routes: readonly RouteLike[], opts: RoutesBalanceOptions = {}): Tensor {
  const what = 'loadBalanceLossFromRoutes';
  const probs = gather(routes, 'probs', what);
  const mask = repeatMask(opts.mask, routes, what);
  if ((opts.kind ?? 'mixtral') === 'switch') return switchLoadBalanceLoss(probs, { coef: opts.coef, mask });
  const idx = gather(routes, 'indices', what);
  return mixtralLoadBalanceLoss(probs, idx, { coef: opts.coef, mask });
}

/** Router z-loss over the logits of all routes concatenated along tokens. */
export function routerZLossFromRoutes(routes: readonly RouteLike[], opts: BalanceOptions = {}): Tensor {
  const what = 'routerZLossFromRoutes';
  return routerZLoss(gather(routes, 'logits', what), { coef: opts.coef, mask: repeatMask(opts.mask, routes, what) });
}
