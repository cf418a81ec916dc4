/**
 * Elementwise kernels. Operands are views walked block by block: a contiguous operand is read in place,
 * a broadcast scalar is filled into one block once, any other strided operand is gathered one block
 * at a time into a small scratch array, so a broadcast operand is never materialised at full size.
 *
 * Each op is its own loop so V8 compiles a tight monomorphic body per op; computing in JS doubles
 * and storing into the output array rounds once, so f64 mode never touches f32. In f32 precision
 * the transcendental ops (and the plain arithmetic, which streams faster in SIMD) run in the
 * WebAssembly SIMD kernels of wasm/vector.wat: those compute in f32, within a few ulp of the
 * correctly rounded result (see vector.test.ts).
 */
import type { BinaryOp, UnaryOp } from '../../backend.js';
import type { DType, TypedArray } from '../../dtype.js';
import { uninitArray, type Precision, type RView } from './storage.js';
import { gatherRange, walker, type Walker } from './strided.js';
import { isVecBinary, isVecUnary, VEC_MIN, vecBinary, vecUnary } from './wasm/vector.js';

const INV_SQRT2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** erf by Abramowitz-Stegun 7.1.26, the form the contract fixes for every backend. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * ax);
  const y =
    1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-ax * ax);
  return x < 0 ? -y : y;
}

export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x * INV_SQRT2));
}

/** Elements per block: enough to amortise the per-block calls, few enough that operands stay in L1. */
const BLOCK = 4096;

type ArrayCtor = new (n: number) => TypedArray;

/**
 * Calls kernel(start, operands) for consecutive blocks of n elements, each operand a contiguous array
 * of that block's elements (one call covering everything when every operand is contiguous).
 */
function forBlocks(ws: readonly Walker[], n: number, kernel: (start: number, operands: TypedArray[]) => void): void {
  if (ws.every((w) => w.contiguous)) {
    kernel(0, ws.map((w) => w.data.subarray(w.offset, w.offset + n)));
    return;
  }
  const size = Math.min(BLOCK, n);
  const scratch = ws.map((w) => (w.contiguous ? null : new (w.data.constructor as ArrayCtor)(size)));
  ws.forEach((w, k) => {
    if (w.scalar && !w.contiguous) scratch[k]!.fill(w.data[w.offset]);
  });
  const ops = new Array<TypedArray>(ws.length);
  for (let start = 0; start < n; start += BLOCK) {
    const len = Math.min(BLOCK, n - start);
    for (let k = 0; k < ws.length; k++) {
      const w = ws[k];
      const s = scratch[k];
      if (s === null) {
        ops[k] = w.data.subarray(w.offset + start, w.offset + start + len);
        continue;
      }
      if (!w.scalar) gatherRange(w, start, len, s);
      ops[k] = len === s.length ? s : s.subarray(0, len);
    }
    kernel(start, ops);
  }
}

const I32_UNARY: ReadonlySet<UnaryOp> = new Set(['neg', 'abs', 'sign', 'square']);

export function unary(op: UnaryOp, v: RView, precision: Precision): TypedArray {
  const dtype = v.dtype;
  if (dtype === 'i32' && !I32_UNARY.has(op)) {
    throw new Error(`cpu unary: op '${op}' is not defined on i32 input (only neg, abs, sign, square)`);
  }
  if (dtype !== 'f32' && dtype !== 'i32') throw new Error(`cpu unary: ${dtype} input not supported (cast f16 to f32 first)`);
  const w = walker(v);
  const o = uninitArray(precision, dtype, w.numel);
  forBlocks([w], w.numel, (start, [x]) => {
    if (dtype === 'i32') unaryI32(op, x, o, start);
    else unaryFloat(op, x, o, start);
  });
  return o;
}

/** o[o0 + i] = op(x[i]) on i32. */
function unaryI32(op: UnaryOp, x: TypedArray, o: TypedArray, o0: number): void {
  const n = x.length;
  switch (op) {
    case 'neg': for (let i = 0; i < n; i++) o[o0 + i] = -x[i] | 0; break;
    case 'abs': for (let i = 0; i < n; i++) o[o0 + i] = Math.abs(x[i]) | 0; break;
    case 'sign': for (let i = 0; i < n; i++) o[o0 + i] = Math.sign(x[i]); break;
    default: for (let i = 0; i < n; i++) o[o0 + i] = Math.imul(x[i], x[i]); break;
  }
}

/** o[o0 + i] = op(x[i]) on floats. */
function unaryFloat(op: UnaryOp, x: TypedArray, o: TypedArray, o0: number): void {
  const n = x.length;
  if (n >= VEC_MIN && isVecUnary(op) && x instanceof Float32Array && o instanceof Float32Array) {
    if (vecUnary(op, x, o.subarray(o0, o0 + n))) return;
  }
  switch (op) {
    case 'neg': for (let i = 0; i < n; i++) o[o0 + i] = -x[i]; break;
    case 'exp': for (let i = 0; i < n; i++) o[o0 + i] = Math.exp(x[i]); break;
    case 'log': for (let i = 0; i < n; i++) o[o0 + i] = Math.log(x[i]); break;
    case 'sqrt': for (let i = 0; i < n; i++) o[o0 + i] = Math.sqrt(x[i]); break;
    case 'rsqrt': for (let i = 0; i < n; i++) o[o0 + i] = 1 / Math.sqrt(x[i]); break;
    case 'abs': for (let i = 0; i < n; i++) o[o0 + i] = Math.abs(x[i]); break;
    case 'sign': for (let i = 0; i < n; i++) o[o0 + i] = Math.sign(x[i]); break;
    case 'square': for (let i = 0; i < n; i++) { const v = x[i]; o[o0 + i] = v * v; } break;
    case 'recip': for (let i = 0; i < n; i++) o[o0 + i] = 1 / x[i]; break;
    // NaN propagates through relu (as in PyTorch) rather than becoming 0.
    case 'relu': for (let i = 0; i < n; i++) { const v = x[i]; o[o0 + i] = v > 0 || v !== v ? v : 0; } break;
    case 'silu': for (let i = 0; i < n; i++) { const v = x[i]; o[o0 + i] = v / (1 + Math.exp(-v)); } break;
    case 'sigmoid': for (let i = 0; i < n; i++) o[o0 + i] = 1 / (1 + Math.exp(-x[i])); break;
    case 'tanh': for (let i = 0; i < n; i++) o[o0 + i] = Math.tanh(x[i]); break;
    case 'gelu': for (let i = 0; i < n; i++) o[o0 + i] = gelu(x[i]); break;
    case 'sin': for (let i = 0; i < n; i++) o[o0 + i] = Math.sin(x[i]); break;
    case 'cos': for (let i = 0; i < n; i++) o[o0 + i] = Math.cos(x[i]); break;
    default: throw new Error(`cpu unary: unknown op '${op as string}'`);
  }
}

const COMPARE: ReadonlySet<BinaryOp> = new Set(['eq', 'ne', 'lt', 'le', 'gt', 'ge']);
const FLOAT_ONLY: ReadonlySet<BinaryOp> = new Set(['pow', 'relu_grad', 'silu_grad', 'gelu_grad', 'sigmoid_grad', 'tanh_grad']);

export function binaryOutDType(op: BinaryOp, dtype: DType): DType {
  return COMPARE.has(op) ? 'f32' : dtype;
}

/** op(a, b) on views of equal shape and dtype (the backend checks both). */
export function binary(op: BinaryOp, va: RView, vb: RView, precision: Precision): TypedArray {
  const dtype = va.dtype;
  if (dtype === 'f16') throw new Error(`cpu binary ${op}: f16 input not supported (cast f16 to f32 first)`);
  if (dtype === 'i32' && FLOAT_ONLY.has(op)) throw new Error(`cpu binary: op '${op}' is f32 only, got i32 inputs`);
  const wa = walker(va);
  const wb = walker(vb);
  const n = wa.numel;
  const o = uninitArray(precision, binaryOutDType(op, dtype), n);
  forBlocks([wa, wb], n, (start, [a, b]) => {
    if (COMPARE.has(op)) compareInto(op, a, b, o, start);
    else if (dtype === 'i32') binaryI32(op, a, b, o, start);
    else binaryFloat(op, a, b, o, start);
  });
  return o;
}

/** o[o0 + i] = a[i] op b[i] ? 1 : 0. */
function compareInto(op: BinaryOp, a: TypedArray, b: TypedArray, o: TypedArray, o0: number): void {
  const n = a.length;
  switch (op) {
    case 'eq': for (let i = 0; i < n; i++) o[o0 + i] = a[i] === b[i] ? 1 : 0; break;
    case 'ne': for (let i = 0; i < n; i++) o[o0 + i] = a[i] !== b[i] ? 1 : 0; break;
    case 'lt': for (let i = 0; i < n; i++) o[o0 + i] = a[i] < b[i] ? 1 : 0; break;
    case 'le': for (let i = 0; i < n; i++) o[o0 + i] = a[i] <= b[i] ? 1 : 0; break;
    case 'gt': for (let i = 0; i < n; i++) o[o0 + i] = a[i] > b[i] ? 1 : 0; break;
    default: for (let i = 0; i < n; i++) o[o0 + i] = a[i] >= b[i] ? 1 : 0; break;
  }
}

function binaryI32(op: BinaryOp, a: TypedArray, b: TypedArray, o: TypedArray, o0: number): void {
  const n = a.length;
  switch (op) {
    case 'add': for (let i = 0; i < n; i++) o[o0 + i] = (a[i] + b[i]) | 0; break;
    case 'sub': for (let i = 0; i < n; i++) o[o0 + i] = (a[i] - b[i]) | 0; break;
    case 'mul': for (let i = 0; i < n; i++) o[o0 + i] = Math.imul(a[i], b[i]); break;
    // Truncating division; x / 0 gives x, which is what WGSL defines for integer division by zero.
    case 'div': for (let i = 0; i < n; i++) { const d = b[i]; o[o0 + i] = d === 0 ? a[i] : (a[i] / d) | 0; } break;
    case 'max': for (let i = 0; i < n; i++) o[o0 + i] = Math.max(a[i], b[i]); break;
    case 'min': for (let i = 0; i < n; i++) o[o0 + i] = Math.min(a[i], b[i]); break;
    default: throw new Error(`cpu binary: unknown op '${op as string}'`);
  }
}

function binaryFloat(op: BinaryOp, a: TypedArray, b: TypedArray, o: TypedArray, o0: number): void {
  const n = a.length;
  if (n >= VEC_MIN && isVecBinary(op) && a instanceof Float32Array && b instanceof Float32Array && o instanceof Float32Array) {
    if (vecBinary(op, a, b, o.subarray(o0, o0 + n))) return;
  }
  switch (op) {
    case 'add': for (let i = 0; i < n; i++) o[o0 + i] = a[i] + b[i]; break;
    case 'sub': for (let i = 0; i < n; i++) o[o0 + i] = a[i] - b[i]; break;
    case 'mul': for (let i = 0; i < n; i++) o[o0 + i] = a[i] * b[i]; break;
    case 'div': for (let i = 0; i < n; i++) o[o0 + i] = a[i] / b[i]; break;
    case 'pow': for (let i = 0; i < n; i++) o[o0 + i] = Math.pow(a[i], b[i]); break;
    // Math.max/min propagate NaN, as the contract requires.
    case 'max': for (let i = 0; i < n; i++) o[o0 + i] = Math.max(a[i], b[i]); break;
    case 'min': for (let i = 0; i < n; i++) o[o0 + i] = Math.min(a[i], b[i]); break;
    case 'relu_grad': for (let i = 0; i < n; i++) o[o0 + i] = a[i] > 0 ? b[i] : 0; break;
    case 'silu_grad':
      for (let i = 0; i < n; i++) {
        const x = a[i];
        const s = 1 / (1 + Math.exp(-x));
        o[o0 + i] = b[i] * s * (1 + x * (1 - s));
      }
      break;
    case 'gelu_grad':
      for (let i = 0; i < n; i++) {
        const x = a[i];
        o[o0 + i] = b[i] * (0.5 * (1 + erf(x * INV_SQRT2)) + x * Math.exp(-0.5 * x * x) * INV_SQRT_2PI);
      }
      break;
    case 'sigmoid_grad': for (let i = 0; i < n; i++) { const y = a[i]; o[o0 + i] = b[i] * y * (1 - y); } break;
    case 'tanh_grad': for (let i = 0; i < n; i++) { const y = a[i]; o[o0 + i] = b[i] * (1 - y * y); } break;
    default: throw new Error(`cpu binary: unknown op '${op as string}'`);
  }
}

export function where(cond: TypedArray, a: TypedArray, b: TypedArray, dtype: DType, precision: Precision): TypedArray {
  const n = cond.length;
  const o = uninitArray(precision, dtype, n);
  // NaN != 0, so a NaN condition selects a (as `cond != 0` does in WGSL).
  for (let i = 0; i < n; i++) o[i] = cond[i] !== 0 ? a[i] : b[i];
  return o;
}

/** dst[off + i] = src[i] or += src[i]. */
export function accumulate(dst: TypedArray, off: number, src: ArrayLike<number>, add: boolean): void {
  const n = src.length;
  if (!add) {
    dst.set(src, off);
    return;
  }
  for (let i = 0; i < n; i++) dst[off + i] += src[i]!;
}
