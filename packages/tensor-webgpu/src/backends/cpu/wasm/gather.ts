/**
 * The mixture-of-experts products on the WebAssembly kernel: each expert's rows are gathered straight into
 * packed panels (no intermediate copy), all experts run as one batch (so threads share out the experts),
 * and results are scattered back. Rows of expert j are rows[start[j] .. start[j + 1]) in increasing order.
 */
import { DATA_AT, MR, NR, memoryF32, panelFloats, wasmGemm } from './kernel.js';
import { copyOut, copyOutTransposed, packPanels, type Operand, type Src } from './pack.js';
import { Batch } from './pool.js';

export interface Groups {
  start: Int32Array;
  rows: Int32Array;
}

/** One expert's product: C [L x N padded] = A (L lanes over K) @ B (K x N). */
interface Part {
  expert: number;
  a: Operand;
  b: Operand;
  M: number;
  N: number;
  K: number;
}

/** Packs every part, runs them as one batch, and hands each padded C (float offset, ldc) to `store`. */
function runParts(parts: Part[], threads: number, store: (p: Part, c: number, ldc: number, mem: Float32Array) => void): boolean {
  const kern = wasmGemm();
  if (kern === null) return false;
  let floats = 0;
  for (const p of parts) floats += panelFloats(p.M, p.K, MR) + panelFloats(p.N, p.K, NR) + Math.ceil(p.M / MR) * MR * Math.ceil(p.N / NR) * NR;
  const mem = memoryF32(kern, DATA_AT + floats * 4);
  if (mem === null) return false;
  const batch = new Batch();
  const cAt: number[] = [];
  let at = DATA_AT / 4;
  for (const p of parts) {
    const a = at;
    packPanels(p.a, p.M, p.K, MR, mem, a);
    at += panelFloats(p.M, p.K, MR);
    const b = at;
    packPanels(p.b, p.N, p.K, NR, mem, b);
    at += panelFloats(p.N, p.K, NR);
    const Np = Math.ceil(p.N / NR) * NR;
    cAt.push(at);
    batch.add(a * 4, b * 4, at * 4, Math.ceil(p.M / MR), Np / NR, p.K, Np * 4);
    at += Math.ceil(p.M / MR) * MR * Np;
  }
  batch.run(kern, threads);
  parts.forEach((p, i) => store(p, cAt[i], Math.ceil(p.N / NR) * NR, mem));
  return true;
}

function rowsOf(g: Groups, j: number): Int32Array {
  return g.rows.subarray(g.start[j], g.start[j + 1]);
}

/** One part per expert that has rows (experts without rows produce nothing). */
function partsOf(groups: Groups, e: number, part: (rows: Int32Array, j: number) => Omit<Part, 'expert'>): Part[] {
  const parts: Part[] = [];
  for (let j = 0; j < e; j++) {
    const rows = rowsOf(groups, j);
    if (rows.length > 0) parts.push({ expert: j, ...part(rows, j) });
  }
  return parts;
}

/**
 * out[i, :] = x[i, :] @ w[j] for the rows i of each expert j; x [m, k] contiguous, w [e, k, n] strided (f32
 * values). Returns false (out untouched) when the kernel cannot run here.
 */
export function gatherGemmF32(
  x: Src, w: Src, wOff: number, ws0: number, ws1: number, ws2: number,
  groups: Groups, k: number, n: number, e: number, out: Float32Array, threads: number,
): boolean {
  const xRows = (rows: Int32Array): Operand => ({ data: x, off: 0, sLane: k, sK: 1, lanes: rows });
  if (n <= MR) {
    // Thin (LoRA down-projection) weights: out^T = w^T @ x^T fills the MR-row A panel exactly, where
    // out = x @ w would leave half of an NR-column B panel as padding.
    const parts = partsOf(groups, e, (rows, j) => ({
      a: { data: w, off: wOff + j * ws0, sLane: ws2, sK: ws1 },
      b: xRows(rows),
      M: n, N: rows.length, K: k,
    }));
    return runParts(parts, threads, (p, c, ldc, mem) => copyOutTransposed(mem, c, ldc, n, p.N, out, 0, n, rowsOf(groups, p.expert)));
  }
  const parts = partsOf(groups, e, (rows, j) => ({
    a: xRows(rows),
    b: { data: w, off: wOff + j * ws0, sLane: ws2, sK: ws1 },
    M: rows.length, N: n, K: k,
  }));
  return runParts(parts, threads, (p, c, ldc, mem) => copyOut(mem, c, ldc, p.M, n, out, 0, n, rowsOf(groups, p.expert)));
}

/**
 * out[j] = x_j^T @ g_j (sum over the rows of expert j in increasing order) -> [e, k, n]; x [m, k] and
 * g [m, n] contiguous. Experts without rows are left as they are in out (zeros from the caller).
 */
export function gatherGemmGradWF32(
  x: Src, g: Src, groups: Groups, k: number, n: number, e: number, out: Float32Array, threads: number,
): boolean {
  const xs = (rows: Int32Array): Operand => ({ data: x, off: 0, sLane: 1, sK: k, steps: rows });
  const gs = (rows: Int32Array): Operand => ({ data: g, off: 0, sLane: 1, sK: n, steps: rows });
  if (n <= MR && k > n) {
    // Thin gradients (LoRA down-projection): out[j]^T = g_j^T @ x_j, as in gatherGemmF32.
    const parts = partsOf(groups, e, (rows) => ({ a: gs(rows), b: xs(rows), M: n, N: k, K: rows.length }));
    return runParts(parts, threads, (p, c, ldc, mem) => copyOutTransposed(mem, c, ldc, n, k, out, p.expert * k * n, n));
  }
  const parts = partsOf(groups, e, (rows) => ({ a: xs(rows), b: gs(rows), M: k, N: n, K: rows.length }));
  return runParts(parts, threads, (p, c, ldc, mem) => copyOut(mem, c, ldc, k, n, out, p.expert * k * n, n));
}
