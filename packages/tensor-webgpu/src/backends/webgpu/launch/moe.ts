/** Launches of the mixture-of-experts kernels (wgsl/moe.ts): per-row expert matmul and its weight gradient. */
import type { Storage, View } from '../../../backend.js';
import { MAX_GROUPS, type WebGPURuntime } from '../runtime.js';
import { GMM_TN, GMM_WG, gatherMatmulGradWKernel, gatherMatmulKernel, type GmmVariant } from '../wgsl/moe.js';
import { fillWords } from './elementwise.js';
import { csrBuild } from './indexing.js';

function groups(threads: number): [number, number, number] {
  return [Math.max(1, Math.min(MAX_GROUPS, Math.ceil(threads / GMM_WG))), 1, 1];
}

function dims(what: string, vals: Record<string, number>): void {
  for (const [k, v] of Object.entries(vals)) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`webgpu: ${what}: ${k} must be a non-negative integer, got ${v}`);
  }
}

/**
 * The vec4 variant the layout of w allows (strides of size-1 dims zeroed by the caller), else
 * scalar; the 4-column variants when n <= 4.
 */
function pickVariant(k: number, n: number, st: number[], off: number): GmmVariant {
  const a4 = (v: number) => v >= 0 && v % 4 === 0;
  if (n % 4 === 0 && st[2] === 1 && a4(st[0]!) && a4(st[1]!) && a4(off)) return n <= 4 ? 'vn4' : 'vn';
  if (k % 4 === 0 && st[1] === 1 && a4(st[0]!) && a4(st[2]!) && a4(off)) return n <= 4 ? 'vk4' : 'vk';
  return 's';
}

export function gatherMatmul(rt: WebGPURuntime, x: Storage, w: View, idx: Storage, m: number, k: number, n: number, e: number): Storage {
  const what = 'gatherMatmul';
  dims(what, { m, k, n, e });
  const [sx, si] = rt.inputs(what, [x, m * k, 'x'], [idx, m, 'idx']);
  const sw = rt.view(w, what);
  if (sw.dtype === 'i32') throw new Error(`webgpu: ${what}: w must be f32 or f16, got i32`);
  if (w.shape.length !== 3 || w.shape[0] !== e || w.shape[1] !== k || w.shape[2] !== n) {
    throw new Error(`webgpu: ${what}: w has shape [${w.shape}], expected [e, k, n] = [${e}, ${k}, ${n}]`);
  }
  const out = rt.alloc(m * n, 'f32');
  if (m * n === 0) return out;
  if (k === 0 || e === 0) {
    fillWords(rt, out, m * n, 0);
    return out;
  }
  // strides of size-1 dims never move: zero them so they do not spoil alignment
  const st = w.strides.map((s, d) => (w.shape[d] === 1 ? 0 : s));
  const v = pickVariant(k, n, st, w.offset);
  const nc = Math.ceil(n / GMM_TN[v]);
  const total = m * nc;
  const q = v === 's' ? 1 : 4;
  const kq = v === 'vk' || v === 'vk4' ? k / 4 : k;
  const nq = v === 'vn' || v === 'vn4' ? n / 4 : n;
  rt.dispatch(gatherMatmulKernel(v, sw.dtype), [sx, sw, si, out], (p) => {
    p.u(0, total);
    p.u(1, nc);
    p.u(2, kq);
    p.u(3, nq);
    p.u(4, e);
    p.i(5, w.offset / q);
    for (let d = 0; d < 3; d++) p.i(6 + d, st[d]! / q);
  }, groups(total));
  return out;
}

export function gatherMatmulGradW(rt: WebGPURuntime, x: Storage, g: Storage, idx: Storage, m: number, k: number, n: number, e: number): Storage {
  const what = 'gatherMatmulGradW';
  dims(what, { m, k, n, e });
  const [sx, sg, si] = rt.inputs(what, [x, m * k, 'x'], [g, m * n, 'g'], [idx, m, 'idx']);
  const out = rt.alloc(e * k * n, 'f32');
  if (e * k * n === 0) return out;
  if (m === 0) {
    fillWords(rt, out, e * k * n, 0);
    return out;
  }
  const { starts, list } = csrBuild(rt, si, m, e);
  const v = n % 4 !== 0 ? 's' : k % 4 === 0 ? 't4' : 'v4';
  const nc = v === 's' ? n : n / 4;
  const kc = v === 't4' ? k / 4 : k;
  const total = e * kc * nc;
  rt.dispatch(gatherMatmulGradWKernel(v), [sx, sg, starts, list, out], (p) => {
    p.u(0, total);
    p.u(1, kc);
    p.u(2, nc);
  }, groups(total));
  rt.release(starts);
  rt.release(list);
  return out;
}
