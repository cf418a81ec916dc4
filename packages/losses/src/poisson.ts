/**
 * GMoE's Poisson distinction loss (SPEC section 3, Eq. 6-7): each token's router distribution,
 * sorted descending, is pulled towards a normalised Poisson pmf over ranks 1..N, so that a few
 * experts are clearly preferred (distinct) instead of a flat distribution.
 */
import {
  abs, add, div, exp, getBackend, keep, log, logSoftmax, maximum, mean, minimum, mul, reshape, sort, sub, sum, tensor,
  type Backend, type Tensor,
} from '@moegraph/tensor-webgpu';
import { constantTable, positions, scalarOn, tokenMask, tokensByExperts } from './route.js';

export interface PoissonLossOptions {
  /**
   * 'kl' (default, the paper's Eq. 7): sum_i p_i log(p_i / v_i).
   * 'abs-log' (reference code): sum_i p_i |log(p_i / v_i)|, which is non-negative term by term.
   */
  form?: 'kl' | 'abs-log';
  /**
   * Clamp lambda into [lo, hi] before use (reference code: [1, 2]); default null, the paper's
   * unconstrained lambda. Like torch.clamp, lambda gets no gradient while it is outside the range.
   */
  clamp?: readonly [number, number] | null;
  /** Added to the sorted probabilities inside the log, so an underflowed 0 gives a finite loss (default 1e-9). */
  eps?: number;
  /** Token mask [T] (1 = counted) for padding; default every token counts. */
  mask?: Tensor;
}

/** log i! for i = 1..n: the Poisson pmf's denominator, constant in lambda. */
function logFactorials(backend: Backend, n: number): Tensor {
  return constantTable(backend, `lfact:${n}`, () => {
    const out: number[] = [];
    let acc = 0;
    for (let i = 1; i <= n; i++) out.push((acc += Math.log(i)));
    return out;
  });
}

/**
 * log of the L1-normalised Poisson pmf over i = 1..n. e^{-lambda} is shared by every i and
 * cancels in the normalisation, so log p = logSoftmax_i(i log(lambda) - log i!): stable for any
 * lambda > 0 and differentiable in lambda. lambda of shape S gives S + [n].
 */
export function poissonLogTarget(n: number, lambda: Tensor | number, backend?: Backend): Tensor {
  const lam = scalarOn(lambda, backend ?? (typeof lambda === 'number' ? getBackend() : lambda.backend));
  const be = lam.backend;
  const logLam = reshape(log(lam), [...lam.shape, 1]);
  return logSoftmax(sub(mul(logLam, positions(be, n)), logFactorials(be, n)), -1);
}

/** The L1-normalised Poisson pmf p_i, i = 1..n (Eq. 6). */
export function poissonTarget(n: number, lambda: Tensor | number, backend?: Backend): Tensor {
  return exp(poissonLogTarget(n, lambda, backend));
}

/** lambda clamped into [lo, hi] (gradient passes inside the closed range, as torch.clamp). */
function clampLambda(lam: Tensor, c: readonly [number, number] | null | undefined): Tensor {
  if (!c) return lam;
  if (!(c[0] <= c[1])) throw new Error(`poissonDistinctionLoss: clamp [${c[0]}, ${c[1]}] is empty`);
  return minimum(maximum(lam, c[0]), c[1]);
}

/**
 * L_P = mean over tokens of sum_i p_i log(p_i / v_i), v = the token's router probabilities sorted
 * descending (the gradient flows through the sorted values back to probs). probs [..., N];
 * lambda a scalar tensor (learnable) or a number. Returns a scalar.
 */
export function poissonDistinctionLoss(probs: Tensor, lambda: Tensor | number, opts: PoissonLossOptions = {}): Tensor {
  const what = 'poissonDistinctionLoss';
  const p2 = tokensByExperts(probs, what);
  const [tokens, n] = p2.shape as [number, number];
  const lam = clampLambda(scalarOn(lambda, probs.backend), opts.clamp);
  if (lam.size !== 1) throw new Error(`${what}: lambda must be a scalar, got ${lam.size} values`);
  const logP = poissonLogTarget(n, lam.rank === 0 ? lam : reshape(lam, []));
  const v = sort(p2, { descending: true }).values;
  const ratio = sub(logP, log(add(v, opts.eps ?? 1e-9)));
  const term = (opts.form ?? 'kl') === 'abs-log' ? abs(ratio) : ratio;
  const perToken = sum(mul(exp(logP), term), -1);
  if (!opts.mask) return mean(perToken);
  const m = tokenMask(opts.mask, tokens, what);
  return div(sum(mul(perToken, m)), maximum(sum(m), 1));
}

export interface PoissonDistinctionOptions extends Omit<PoissonLossOptions, 'mask'> {
  /** Initial lambda (reference: 1.5). */
  init?: number;
  backend?: Backend;
  name?: string;
}

/** One mixture layer's Poisson distinction loss with its learnable lambda. */
export class PoissonDistinction {
  readonly lambda: Tensor;
  readonly opts: Readonly<Omit<PoissonDistinctionOptions, 'backend' | 'init' | 'name'>>;

  constructor(opts: PoissonDistinctionOptions = {}) {
    const { init = 1.5, backend, name = 'poisson.lambda', ...rest } = opts;
    if (!(init > 0)) throw new Error(`PoissonDistinction: lambda init ${init} must be > 0`);
    this.lambda = keep(tensor(init, [], { backend, requiresGrad: true, name }));
    this.opts = rest;
  }

  /** L_P for this layer's router probabilities [..., N] (mask: padding, [T] of 0/1). */
  loss(probs: Tensor, mask?: Tensor): Tensor {
    return poissonDistinctionLoss(probs, this.lambda, { ...this.opts, mask });
  }

  /** The current target distribution over ranks 1..n (with this layer's clamp). */
  target(n: number): Tensor {
    return poissonTarget(n, clampLambda(this.lambda, this.opts.clamp));
  }

  parameters(): Tensor[] {
    return [this.lambda];
  }

  dispose(): void {
    this.lambda.dispose();
  }
}

/** Mean of per-layer losses (the paper averages L_P and L_N over layers). */
export function meanOfLosses(losses: readonly Tensor[]): Tensor {
  if (losses.length === 0) throw new Error('meanOfLosses: no losses');
  let total = losses[0]!;
  for (let i = 1; i < losses.length; i++) total = add(total, losses[i]!);
  return losses.length === 1 ? total : div(total, losses.length);
}
