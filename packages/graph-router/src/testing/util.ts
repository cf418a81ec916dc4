/** Test helpers: overwrite parameters, compare arrays, finite differences (f64 cpu backend). */
import { tensor, type Tensor } from '@moegraph/tensor-webgpu';

/** Overwrite a tensor's values in place (f64-exact on the f64 cpu backend). */
export function setValues(p: Tensor, v: ArrayLike<number>): void {
  const t = tensor(Float64Array.from(v), p.shape, { backend: p.backend });
  p.backend.accumulate(p.buffer('setValues').storage, p.offset, t.view(), 'copy');
  t.dispose();
}

/** max |a - b| / max |b| (the scale of the reference). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  // All-zero references (e.g. top-1 weights, identically 1) are compared absolutely.
  return s < 1e-10 ? d : d / s;
}

/** Central differences vs autograd for sampled entries of each tensor; returns the mismatches. */
export function checkGradients(params: Tensor[], loss: () => number, h = 1e-6, samples = 8) {
  const bad: { name: string; at: number; got: number; fd: number }[] = [];
  for (const [i, p] of params.entries()) {
    const grad = p.grad ? p.grad.dataSync() : new Float64Array(p.size);
    const v = Float64Array.from(p.dataSync());
    for (let j = 0; j < v.length; j += Math.max(1, Math.floor(v.length / samples))) {
      const orig = v[j]!;
      v[j] = orig + h;
      setValues(p, v);
      const lp = loss();
      v[j] = orig - h;
      setValues(p, v);
      const lm = loss();
      v[j] = orig;
      setValues(p, v);
      const fd = (lp - lm) / (2 * h);
      if (!(Math.abs(grad[j]! - fd) <= 1e-6 + 1e-5 * Math.abs(fd))) bad.push({ name: p.name ?? `param ${i}`, at: j, got: grad[j]!, fd });
    }
  }
  return bad;
}
