/**
 * Test helpers shared by the conformance suite and the training tests: seeded inputs, running a
 * case forward + backward on a backend, and central finite differences on the f64 cpu backend.
 */
import type { Backend } from '../backend.js';
import { Generator } from '../random.js';
import { noGrad } from '../engine.js';
import { scope } from '../scope.js';
import { numel } from '../shape.js';
import { Tensor } from '../tensor.js';
import { tensor } from '../ops/create.js';
import { mul, sum } from '../ops/index.js';

export interface InputSpec {
  shape: number[];
  /** 'f32' (default, differentiable) or 'i32' (indices in [0, high)). */
  dtype?: 'f32' | 'i32';
  /** i32: values drawn in [0, high); f32: values drawn in [low, high). */
  low?: number;
  high?: number;
  /** Fixed values instead of random draws. */
  values?: number[];
  /** Differentiable (default true for f32). */
  grad?: boolean;
}

export interface OpCase {
  name: string;
  inputs: InputSpec[];
  fn: (...xs: Tensor[]) => Tensor;
  /** Skip the finite-difference check (non-differentiable ops). */
  noGrad?: boolean;
  /** Extra tolerance for cross-backend comparison. */
  tol?: number;
}

export function makeInputs(c: OpCase, seed: number): Float64Array[] {
  const g = new Generator(seed);
  return c.inputs.map((s) => {
    const n = numel(s.shape);
    if (s.values) return Float64Array.from(s.values);
    const a = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      if (s.dtype === 'i32') a[i] = Math.floor(g.uniform() * (s.high ?? 2));
      else a[i] = (s.low ?? -1) + ((s.high ?? 1) - (s.low ?? -1)) * g.uniform();
    }
    return a;
  });
}

const isDiff = (s: InputSpec) => s.dtype !== 'i32' && s.grad !== false;

function build(b: Backend, c: OpCase, data: Float64Array[], grad: boolean): Tensor[] {
  return c.inputs.map((s, i) =>
    tensor(s.dtype === 'i32' ? Int32Array.from(data[i]!) : data[i]!, s.shape, {
      backend: b,
      dtype: s.dtype ?? 'f32',
      requiresGrad: grad && isDiff(s),
    }),
  );
}

/** Fixed random weights so that sum(out * w) has a gradient that exercises every output entry. */
export function outWeights(shape: readonly number[], seed: number): Float64Array {
  const g = new Generator(seed ^ 0x5bd1e995);
  return Float64Array.from({ length: numel(shape) }, () => g.uniform() * 2 - 1);
}

export interface CaseResult {
  out: Float64Array;
  shape: number[];
  grads: (Float64Array | null)[];
}

/** Forward, then backward of sum(out * w); returns host copies. */
export async function runCase(b: Backend, c: OpCase, data: Float64Array[], seed: number): Promise<CaseResult> {
  const wantGrad = !c.noGrad;
  const { out, xs } = scope(() => {
    const xs = build(b, c, data, wantGrad);
    const out = c.fn(...xs);
    if (wantGrad && out.requiresGrad) {
      const w = tensor(outWeights(out.shape, seed), out.shape, { backend: b });
      sum(mul(out.dtype === 'f32' ? out : out.cast('f32'), w)).backward();
    }
    return { out, xs };
  });
  const outData = Float64Array.from(await out.data());
  const grads: (Float64Array | null)[] = [];
  for (const x of xs) grads.push(x.grad ? Float64Array.from(await x.grad.data()) : null);
  const shape = [...out.shape];
  for (const x of xs) {
    x.grad?.dispose();
    x.dispose();
  }
  out.dispose();
  return { out: outData, shape, grads };
}

/** Central differences of sum(fn(x) * w) with respect to every differentiable input, on a cpu f64 backend. */
export function finiteDifferences(b: Backend & { readSync(v: unknown): ArrayLike<number> }, c: OpCase, data: Float64Array[], seed: number, h = 1e-6): (Float64Array | null)[] {
  const loss = (d: Float64Array[]): number =>
    noGrad(() =>
      scope(() => {
        const out = c.fn(...build(b, c, d, false));
        const w = outWeights(out.shape, seed);
        const o = b.readSync(out.contiguous().view());
        let s = 0;
        for (let i = 0; i < w.length; i++) s += o[i]! * w[i]!;
        return s;
      }),
    );
  return c.inputs.map((spec, k) => {
    if (!isDiff(spec)) return null;
    const g = new Float64Array(data[k]!.length);
    for (let i = 0; i < g.length; i++) {
      const plus = data.map((a) => a.slice());
      const minus = data.map((a) => a.slice());
      plus[k]![i]! += h;
      minus[k]![i]! -= h;
      g[i] = (loss(plus) - loss(minus)) / (2 * h);
    }
    return g;
  });
}

/** Largest |a - b| / (atol + rtol |b|); <= 1 means close. */
export function closeness(a: ArrayLike<number>, b: ArrayLike<number>, rtol: number, atol: number): { worst: number; at: number } {
  if (a.length !== b.length) return { worst: Infinity, at: -1 };
  let worst = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (x === y) continue;
    const r = Math.abs(x - y) / (atol + rtol * Math.abs(y));
    if (!(r <= worst)) {
      worst = Number.isNaN(r) ? Infinity : r;
      at = i;
    }
  }
  return { worst, at };
}
