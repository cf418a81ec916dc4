/**
 * The fused LoRA apply on the cpu backend. x W + s u B is the single product [x | s u] @ [W ; B] over
 * K + r steps, so the existing GEMM (the WASM kernel in f32, double accumulators in f64) writes each
 * output once and the low-rank term rides in the same accumulators. The price is one copy of x and W
 * into the widened operands, which the GEMM would pack anyway; the unfused form instead makes three
 * extra full-size [M, N] passes (u B, the scaling, the sum).
 */
import { matmul } from './matmul.js';
import { f16Lut, recycle, uninitFloat, type FloatArray, type Precision, type RView } from './storage.js';

/** dst[d0 + i*ld + j] = scale * v[i, j] for the [rows, cols] view v (f32 or f16). */
function place(v: RView, dst: FloatArray, d0: number, ld: number, scale: number): void {
  const [rows, cols] = v.shape as [number, number];
  const [s1, s2] = v.strides as [number, number];
  const src = v.dtype === 'f16' ? null : (v.data as FloatArray);
  const lut = v.dtype === 'f16' ? f16Lut() : null;
  for (let i = 0; i < rows; i++) {
    const s = v.offset + i * s1;
    const d = d0 + i * ld;
    if (src && s2 === 1 && scale === 1) dst.set(src.subarray(s, s + cols), d);
    else if (src) for (let j = 0; j < cols; j++) dst[d + j] = scale * src[s + j * s2];
    else for (let j = 0; j < cols; j++) dst[d + j] = scale * lut![v.data[s + j * s2]];
  }
}

/** x [M, K] @ w [K, N] + s * (u [M, r] @ b [r, N]) -> [M, N] (shapes validated by the caller). */
export function matmulAddLowRank(
  x: RView, w: RView, u: RView, b: RView, s: number, precision: Precision, threads: number,
): FloatArray {
  const [M, K] = x.shape as [number, number];
  const [r, N] = b.shape as [number, number];
  const Kr = K + r;
  const xa = uninitFloat(precision, M * Kr);
  const wb = uninitFloat(precision, Kr * N);
  place(x, xa, 0, Kr, 1);
  // s scales u rather than the product: M*r multiplies instead of M*N.
  place(u, xa, K, Kr, s);
  place(w, wb, 0, N, 1);
  place(b, wb, K * N, N, 1);
  const y = matmul(
    { data: xa, dtype: 'f32', shape: [1, M, Kr], strides: [0, Kr, 1], offset: 0 },
    { data: wb, dtype: 'f32', shape: [1, Kr, N], strides: [0, N, 1], offset: 0 },
    precision, threads,
  );
  recycle(xa);
  recycle(wb);
  return y;
}
