/**
 * Launch of the fused LoRA apply x W + s u B: the fast matmul kernel with its rank-r epilogue
 * (wgsl/matmul.ts), so each output is written once. x and W go through matmul's own layout
 * handling; u and B are small ([M, r], [r, N]) and are packed to the epilogue's contiguous layout
 * only when they are not already in it.
 */
import type { Storage, View } from '../../../backend.js';
import type { WebGPURuntime, WGStorage } from '../runtime.js';
import { matmul, mmPack } from './matmul.js';

/** v ([rows, cols]) as contiguous f32 [rows, colsP], zero-padded past cols; `own` when packed here. */
function dense(rt: WebGPURuntime, v: View, colsP: number): { s: WGStorage; own: boolean } {
  const s = rt.view(v, 'matmulAddLowRank');
  const [rows, cols] = v.shape as [number, number];
  if (s.dtype === 'f32' && v.offset === 0 && cols === colsP && (rows <= 1 || v.strides[0] === cols) && (cols <= 1 || v.strides[1] === 1)) {
    return { s, own: false };
  }
  const packed = mmPack(rt, { s, st: [0, v.strides[0]!, v.strides[1]!], off: v.offset }, 1, rows, rows, cols, colsP);
  return { s: packed.s, own: true };
}

export function matmulAddLowRank(rt: WebGPURuntime, x: View, w: View, u: View, b: View, s: number): Storage {
  const sh = `x [${x.shape}] @ w [${w.shape}] + u [${u.shape}] @ b [${b.shape}]`;
  const ok = [x, w, u, b].every((v) => v.shape.length === 2) && w.shape[0] === x.shape[1] && u.shape[0] === x.shape[0] &&
    b.shape[0] === u.shape[1] && b.shape[1] === w.shape[1] && x.shape[1]! > 0 && u.shape[1]! > 0;
  if (!ok) throw new Error(`webgpu: matmulAddLowRank: ${sh} do not match [M, K] @ [K, N] + [M, r] @ [r, N] with K, r >= 1`);
  for (const v of [x, u, b]) {
    if (rt.view(v, 'matmulAddLowRank').dtype !== 'f32') throw new Error(`webgpu: matmulAddLowRank: x, u and b must be f32 (${sh})`);
  }
  const [M, r] = u.shape as [number, number];
  const N = b.shape[1]!;
  if (M * N === 0) return matmul(rt, x, w);
  const U = dense(rt, u, r);
  const LB = dense(rt, b, Math.ceil(N / 4) * 4);
  const out = matmul(rt, x, w, { u: U.s, lb: LB.s, r, s });
  if (U.own) rt.release(U.s);
  if (LB.own) rt.release(LB.s);
  return out;
}
