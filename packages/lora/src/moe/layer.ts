/** What every mixture layer shares: its router, the routes it produced this step, and helpers. */
import { add, combineRows, dropout, expand, reshape, sum, mul, unsqueeze, type Generator, type Tensor } from '@moegraph/tensor-webgpu';
import type { RouteResult, Router } from './router.js';

export abstract class MoELayer {
  /** Routes produced since the last clearRoutes(), one per forward (several with recurrent routing). */
  readonly routes: RouteResult[] = [];
  training = true;
  /** Combine the pairs with the fused kernel (combinePairs); false runs the unfused reference composition. */
  fused = true;

  constructor(
    readonly path: string,
    public router: Router,
    readonly dropoutP: number,
    protected readonly generator: Generator,
  ) {}

  protected route(x: Tensor): RouteResult {
    const r = this.router.route(x);
    this.routes.push(r);
    return r;
  }

  protected dropped(x: Tensor): Tensor {
    return this.training ? dropout(x, this.dropoutP, { generator: this.generator }) : x;
  }

  /** y[t] = sum_k w[t, k] v[t*K + k], fused or by the reference composition as `fused` says. */
  protected combine(v: Tensor, w: Tensor): Tensor {
    return this.fused ? combinePairs(v, w) : combinePairsReference(v, w);
  }

  clearRoutes(): void {
    this.routes.length = 0;
  }
}

/** x [T, d] -> [T*K, d], row t*K + k a copy of row t (one row per (token, choice) pair). */
export function repeatRows(x: Tensor, k: number): Tensor {
  if (k === 1) return x;
  const [T, d] = x.shape as [number, number];
  return reshape(expand(unsqueeze(x, 1), [T, k, d]), [T * k, d]);
}

/**
 * v[t*K + k] = x[t] + d[t*K + k]: x [T, d], d [T*K, d] -> [T*K, d]. The same values as
 * add(repeatRows(x, K), d), but x is read through a broadcast view instead of being copied K times.
 */
export function addToPairs(x: Tensor, d: Tensor, k: number): Tensor {
  const [T, n] = x.shape as [number, number];
  return reshape(add(unsqueeze(x, 1), reshape(d, [T, k, n])), [T * k, n]);
}

/**
 * y[t] = sum_k w[t, k] * v[t*K + k]: v [T*K, d], w [T, K] -> [T, d]. One kernel writes y and one
 * the gradients (combineRows), where the composition below writes a [T, K, d] product and a sum.
 */
export function combinePairs(v: Tensor, w: Tensor): Tensor {
  return combineRows(v, w);
}

/** The unfused composition combinePairs must match: a broadcast product, then a sum over K. */
export function combinePairsReference(v: Tensor, w: Tensor): Tensor {
  const [T, K] = w.shape as [number, number];
  return sum(mul(reshape(v, [T, K, v.shape[1]!]), unsqueeze(w, -1)), 1);
}

/** Flatten [..., d] to [T, d], run f, restore the leading shape. */
export function overTokens(x: Tensor, f: (x2: Tensor) => Tensor): Tensor {
  const d = x.shape[x.rank - 1]!;
  const y = f(reshape(x, [-1, d]));
  return reshape(y, [...x.shape.slice(0, -1), y.shape[1]!]);
}
