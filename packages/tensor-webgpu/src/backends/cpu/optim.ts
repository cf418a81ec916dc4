/** In-place optimizer updates on float arrays of equal length (the PyTorch formulas of backend.ts). */
import type { AdamWParams, SgdParams } from '../../backend.js';
import type { FloatArray } from './storage.js';

export function adamw(p: FloatArray, g: FloatArray, m: FloatArray, v: FloatArray, h: AdamWParams, scale: number): void {
  const { lr, beta1, beta2, eps, weightDecay, bc1, bc2 } = h;
  const decay = 1 - lr * weightDecay;
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i] * scale;
    const mi = beta1 * m[i] + (1 - beta1) * gi;
    const vi = beta2 * v[i] + (1 - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    // Uses the unrounded m, v of this step, as a fused GPU kernel holding them in registers would.
    p[i] = p[i] * decay - (lr * (mi / bc1)) / (Math.sqrt(vi / bc2) + eps);
  }
}

export function sgd(p: FloatArray, g: FloatArray, buf: FloatArray | null, h: SgdParams, scale: number): void {
  const { lr, momentum, weightDecay, firstStep } = h;
  const n = p.length;
  if (buf === null) {
    for (let i = 0; i < n; i++) p[i] -= lr * (g[i] * scale + weightDecay * p[i]);
    return;
  }
  for (let i = 0; i < n; i++) {
    const gi = g[i] * scale + weightDecay * p[i];
    const b = firstStep ? gi : momentum * buf[i] + gi;
    buf[i] = b;
    p[i] -= lr * b;
  }
}
