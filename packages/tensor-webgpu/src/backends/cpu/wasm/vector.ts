/**
 * f32 elementwise and row-softmax kernels through the WebAssembly SIMD128 module vector.wat (embedded as
 * vector.wasm.ts). Storages are JS typed arrays, so operands stream through the module's memory in chunks
 * small enough to stay in L1/L2 (three 16 KiB regions). Each function returns false, touching nothing,
 * where WebAssembly SIMD is unavailable; the caller then runs its TypeScript loop.
 */
import { ensureMemory, instantiateWasm } from './load.js';
import { VECTOR_WASM_BASE64 } from './vector.wasm.js';

export type VecUnaryOp = 'exp' | 'sigmoid' | 'silu' | 'tanh';
export type VecBinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'silu_grad' | 'sigmoid_grad' | 'tanh_grad';

/** Op codes of vector.wat's br_tables. */
const UNARY_CODE: Record<VecUnaryOp, number> = { exp: 0, sigmoid: 1, silu: 2, tanh: 3 };
const BINARY_CODE: Record<VecBinaryOp, number> = {
  add: 0, sub: 1, mul: 2, div: 3, silu_grad: 4, sigmoid_grad: 5, tanh_grad: 6,
};

export function isVecUnary(op: string): op is VecUnaryOp {
  return op in UNARY_CODE;
}

export function isVecBinary(op: string): op is VecBinaryOp {
  return op in BINARY_CODE;
}

/** Below this many elements a call and its copies cost more than the SIMD loop saves over plain JS. */
export const VEC_MIN = 64;

/** Floats per memory region (16 KiB): three regions (a, b, out) fit in L1 alongside the code. */
const CH = 4096;

interface Exports {
  memory: WebAssembly.Memory;
  unary: (op: number, src: number, dst: number, n: number) => void;
  binary: (op: number, a: number, b: number, dst: number, n: number) => void;
  softmax: (src: number, dst: number, rows: number, cols: number, log: number) => void;
  gcn_fwd: (q: number, base: number, coef: number, proj: number, out: number, t: number, m: number, w: number) => void;
  gcn_bwd: (
    q: number, base: number, coef: number, proj: number, g: number,
    dq: number, dbase: number, dcoef: number, dproj: number, t: number, m: number, w: number,
  ) => void;
}

let kernel: Exports | null | undefined;

function vec(): Exports | null {
  if (kernel === undefined) kernel = instantiateWasm<Exports>(VECTOR_WASM_BASE64, { js: { log: Math.log } });
  return kernel;
}

/** Test hook: force the TypeScript fallback (null) or re-probe (undefined). */
export function setVectorKernelForTest(k: null | undefined): void {
  kernel = k;
}

/** The memory as floats, grown to at least `floats`; null if it cannot grow. */
function memory(k: Exports, floats: number): Float32Array | null {
  return ensureMemory(k.memory, floats * 4) ? new Float32Array(k.memory.buffer) : null;
}

/** Lanes processed for `len` floats: the kernels work on whole vectors. */
const lanes = (len: number): number => (len + 3) & ~3;

/** o[i] = op(x[i]); x and o may be the same array. */
export function vecUnary(op: VecUnaryOp, x: Float32Array, o: Float32Array): boolean {
  const k = vec();
  const mem = k && memory(k, CH);
  if (!k || !mem) return false;
  const code = UNARY_CODE[op];
  const n = x.length;
  for (let i = 0; i < n; i += CH) {
    const len = Math.min(CH, n - i);
    mem.set(x.subarray(i, i + len), 0);
    k.unary(code, 0, 0, lanes(len));
    o.set(mem.subarray(0, len), i);
  }
  return true;
}

/** o[i] = op(a[i], b[i]) over equal-length arrays; o may alias a or b. */
export function vecBinary(op: VecBinaryOp, a: Float32Array, b: Float32Array, o: Float32Array): boolean {
  const k = vec();
  const mem = k && memory(k, 2 * CH);
  if (!k || !mem) return false;
  const code = BINARY_CODE[op];
  const n = a.length;
  for (let i = 0; i < n; i += CH) {
    const len = Math.min(CH, n - i);
    mem.set(a.subarray(i, i + len), 0);
    mem.set(b.subarray(i, i + len), CH);
    k.binary(code, 0, CH * 4, 0, lanes(len));
    o.set(mem.subarray(0, len), i);
  }
  return true;
}

/**
 * Row softmax or log-softmax of x [rows, cols] into y. Rows are laid out padded to whole vectors with
 * -Inf, which adds e^-Inf = 0 to the sums and never wins the max.
 */
export function vecSoftmax(x: Float32Array, y: Float32Array, rows: number, cols: number, log: boolean): boolean {
  const k = vec();
  const colsP = lanes(cols);
  const perChunk = Math.max(1, Math.floor(CH / Math.max(colsP, 1)));
  // Source and destination regions must differ: log-softmax reads x again after the exp pass.
  const dst = perChunk * colsP;
  const mem = k && memory(k, 2 * dst);
  if (!k || !mem) return false;
  if (cols === 0) return true;
  for (let r0 = 0; r0 < rows; r0 += perChunk) {
    const nr = Math.min(perChunk, rows - r0);
    if (colsP === cols) {
      mem.set(x.subarray(r0 * cols, (r0 + nr) * cols), 0);
    } else {
      for (let r = 0; r < nr; r++) {
        const s = (r0 + r) * cols;
        mem.set(x.subarray(s, s + cols), r * colsP);
        mem.fill(-Infinity, r * colsP + cols, (r + 1) * colsP);
      }
    }
    k.softmax(0, dst * 4, nr, colsP, log ? 1 : 0);
    if (colsP === cols) {
      y.set(mem.subarray(dst, dst + nr * cols), r0 * cols);
    } else {
      for (let r = 0; r < nr; r++) y.set(mem.subarray(dst + r * colsP, dst + r * colsP + cols), (r0 + r) * cols);
    }
  }
  return true;
}

/**
 * Lays `arrays` out back to back in the module's memory, each region padded to whole vectors, plus
 * `zeroed` zero-filled regions after them; returns the memory and every region's float offset.
 */
function layout(k: Exports, arrays: Float32Array[], zeroed: number[]): { mem: Float32Array; at: number[] } | null {
  const at: number[] = [];
  let end = 0;
  for (const n of [...arrays.map((a) => a.length), ...zeroed]) {
    at.push(end);
    end += lanes(n);
  }
  const mem = memory(k, end);
  if (!mem) return null;
  arrays.forEach((a, i) => mem.set(a, at[i]));
  mem.fill(0, at[arrays.length] ?? end, end);
  return { mem, at };
}

/** gcnShared (cpu/gcn.ts) in one SIMD pass; w must be a multiple of 4. The whole operand set goes through memory at once. */
export function vecGcnShared(q: Float32Array, base: Float32Array, coef: Float32Array, proj: Float32Array, t: number, m: number, w: number): Float32Array | null {
  const k = vec();
  const l = k && w % 4 === 0 && layout(k, [q, base, coef, proj], [t * m]);
  if (!k || !l) return null;
  const [aq, ab, ac, ap, ao] = l.at.map((f) => f * 4) as [number, number, number, number, number];
  k.gcn_fwd(aq, ab, ac, ap, ao, t, m, w);
  return new Float32Array(k.memory.buffer, ao, t * m).slice();
}

/** Gradients of vecGcnShared given g [t, m]: dq [t, w], dbase and dcoefCols [m, w], dproj [w] (f32 sums). */
export function vecGcnSharedBackward(
  q: Float32Array, base: Float32Array, coef: Float32Array, proj: Float32Array, g: Float32Array, t: number, m: number, w: number,
): { dq: Float32Array; dbase: Float32Array; dcoefCols: Float32Array; dproj: Float32Array } | null {
  const k = vec();
  const l = k && w % 4 === 0 && layout(k, [q, base, coef, proj, g], [t * w, m * w, m * w, w]);
  if (!k || !l) return null;
  const a = l.at.map((f) => f * 4);
  k.gcn_bwd(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, t, m, w);
  const out = (i: number, n: number) => new Float32Array(k.memory.buffer, a[i]!, n).slice();
  return { dq: out(5, t * w), dbase: out(6, m * w), dcoefCols: out(7, m * w), dproj: out(8, w) };
}
