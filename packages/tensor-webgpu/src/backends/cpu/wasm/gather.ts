/**
 * The mixture-of-experts products on the WebAssembly kernel: each expert's rows are gathered straight into
 * the kernel's memory (place.ts: whole rows copied, or packed into panels), all experts run as one batch (so
 * threads share out the experts), and results are scattered back. Rows of expert j are
 * rows[start[j] .. start[j + 1]) in increasing order.
 */
import { DATA_AT, MR, NR, memoryF32, wasmGemm } from './kernel.js';
import { copyOut, copyOutTransposed, type Operand, type Src } from './pack.js';
import { callOf, place, plan, type Product } from './place.js';
import { Batch } from './pool.js';

export interface Groups {
  start: Int32Array;
  rows: Int32Array;
}

/** One expert's product: C [M x N padded] = A (M lanes over K) @ B (K x N). */
interface Part extends Product {
  expert: number;
}

/** Places every part, runs them as one batch, and hands each padded C (float offset, ldc) to `store`. */
function runParts(parts: Part[], threads: number, store: (p: Part, c: number, ldc: number, mem: Float32Array) => void): boolean {
  const kern = wasmGemm();
  if (kern === null) return false;
  const plans = parts.map(plan);
  // The staging area (place.ts) comes first, shared by all parts.
  let floats = 0;
  let stage = 0;
  for (const pl of plans) {
    floats += pl.aFloats + pl.bFloats + pl.cFloats;
    stage = Math.max(stage, pl.stage);
  }
  const mem = memoryF32(kern, DATA_AT + (stage + floats) * 4);
  if (mem === null) return false;
  const batch = new Batch();
  const cAt: number[] = [];
  let at = DATA_AT / 4 + stage;
  parts.forEach((p, i) => {
    const pl = plans[i];
    const a = place(kern, p.a, pl.la, p.M, p.K, MR, mem, at, DATA_AT / 4);
    const b = place(kern, p.b, pl.lb, p.N, p.K, NR, mem, at + pl.aFloats, DATA_AT / 4);
    at += pl.aFloats + pl.bFloats;
    cAt.push(at);
    batch.add(callOf(a, b, at, p, pl));
    at += pl.cFloats;
  });
  batch.run(kern, threads);
  parts.forEach((p, i) => store(p, cAt[i], plans[i].ldc, mem));
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
  // Thin (LoRA down-projection) weights run untransposed too, half of the B panel being padding: the gathered
  // rows are then copied whole (place.ts), which costs far less than packing them as the columns of x^T.
  const parts = partsOf(groups, e, (rows, j) => ({
    a: { data: x, off: 0, sLane: k, sK: 1, lanes: rows },
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
    // Thin gradients (LoRA down-projection): out[j]^T = g_j^T @ x_j fills the MR-row A panel exactly, where
    // x_j^T @ g_j would leave half of the NR-column B panel as padding; x_j's rows are copied whole either way.
    const parts = partsOf(groups, e, (rows) => ({ a: gs(rows), b: xs(rows), M: n, N: k, K: rows.length }));
    return runParts(parts, threads, (p, c, ldc, mem) => copyOutTransposed(mem, c, ldc, n, k, out, p.expert * k * n, n));
  }
  const parts = partsOf(groups, e, (rows) => ({ a: xs(rows), b: gs(rows), M: k, N: n, K: rows.length }));
  return runParts(parts, threads, (p, c, ldc, mem) => copyOut(mem, c, ldc, k, n, out, p.expert * k * n, n));
}
