/**
 * Elementwise kernels over contiguous arrays (the backend gathers strided views first).
 * Each op is its own loop so V8 compiles a tight monomorphic body per op; computing in JS
 * doubles and storing into the output array rounds once, so f32 mode is correctly rounded
 * per element and f64 mode never touches f32.
 */
import type { BinaryOp, UnaryOp } from '../../backend.js';
import type { DType, TypedArray } from '../../dtype.js';
import { newArray, newFloat, type FloatArray, type Precision } from './storage.js';

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

const I32_UNARY: ReadonlySet<UnaryOp> = new Set(['neg', 'abs', 'sign', 'square']);

export function unary(op: UnaryOp, x: TypedArray, dtype: DType, precision: Precision): TypedArray {
  const n = x.length;
  if (dtype === 'i32') {
    if (!I32_UNARY.has(op)) throw new Error(`cpu unary: op '${op}' is not defined on i32 input (only neg, abs, sign, square)`);
    const o = new Int32Array(n);
    switch (op) {
      case 'neg': for (let i = 0; i < n; i++) o[i] = -x[i] | 0; break;
      case 'abs': for (let i = 0; i < n; i++) o[i] = Math.abs(x[i]) | 0; break;
      case 'sign': for (let i = 0; i < n; i++) o[i] = Math.sign(x[i]); break;
      default: for (let i = 0; i < n; i++) o[i] = Math.imul(x[i], x[i]); break;
    }
    return o;
  }
  if (dtype !== 'f32') throw new Error(`cpu unary: ${dtype} input not supported (cast f16 to f32 first)`);
  const o = newFloat(precision, n);
  switch (op) {
    case 'neg': for (let i = 0; i < n; i++) o[i] = -x[i]; break;
    case 'exp': for (let i = 0; i < n; i++) o[i] = Math.exp(x[i]); break;
    case 'log': for (let i = 0; i < n; i++) o[i] = Math.log(x[i]); break;
    case 'sqrt': for (let i = 0; i < n; i++) o[i] = Math.sqrt(x[i]); break;
    case 'rsqrt': for (let i = 0; i < n; i++) o[i] = 1 / Math.sqrt(x[i]); break;
    case 'abs': for (let i = 0; i < n; i++) o[i] = Math.abs(x[i]); break;
    case 'sign': for (let i = 0; i < n; i++) o[i] = Math.sign(x[i]); break;
    case 'square': for (let i = 0; i < n; i++) { const v = x[i]; o[i] = v * v; } break;
    case 'recip': for (let i = 0; i < n; i++) o[i] = 1 / x[i]; break;
    // NaN propagates through relu (as in PyTorch) rather than becoming 0.
    case 'relu': for (let i = 0; i < n; i++) { const v = x[i]; o[i] = v > 0 || v !== v ? v : 0; } break;
    case 'silu': for (let i = 0; i < n; i++) { const v = x[i]; o[i] = v / (1 + Math.exp(-v)); } break;
    case 'sigmoid': for (let i = 0; i < n; i++) o[i] = 1 / (1 + Math.exp(-x[i])); break;
    case 'tanh': for (let i = 0; i < n; i++) o[i] = Math.tanh(x[i]); break;
    case 'gelu': for (let i = 0; i < n; i++) o[i] = gelu(x[i]); break;
    case 'sin': for (let i = 0; i < n; i++) o[i] = Math.sin(x[i]); break;
    case 'cos': for (let i = 0; i < n; i++) o[i] = Math.cos(x[i]); break;
    default: throw new Error(`cpu unary: unknown op '${op as string}'`);
  }
  return o;
}

const COMPARE: ReadonlySet<BinaryOp> = new Set(['eq', 'ne', 'lt', 'le', 'gt', 'ge']);
const FLOAT_ONLY: ReadonlySet<BinaryOp> = new Set(['pow', 'relu_grad', 'silu_grad', 'gelu_grad', 'sigmoid_grad', 'tanh_grad']);

export function binaryOutDType(op: BinaryOp, dtype: DType): DType {
  return COMPARE.has(op) ? 'f32' : dtype;
}

export function binary(op: BinaryOp, a: TypedArray, b: TypedArray, dtype: DType, precision: Precision): TypedArray {
  const n = a.length;
  if (dtype === 'f16') throw new Error(`cpu binary ${op}: f16 input not supported (cast f16 to f32 first)`);
  if (COMPARE.has(op)) {
    const o = newFloat(precision, n);
    switch (op) {
      case 'eq': for (let i = 0; i < n; i++) o[i] = a[i] === b[i] ? 1 : 0; break;
      case 'ne': for (let i = 0; i < n; i++) o[i] = a[i] !== b[i] ? 1 : 0; break;
      case 'lt': for (let i = 0; i < n; i++) o[i] = a[i] < b[i] ? 1 : 0; break;
      case 'le': for (let i = 0; i < n; i++) o[i] = a[i] <= b[i] ? 1 : 0; break;
      case 'gt': for (let i = 0; i < n; i++) o[i] = a[i] > b[i] ? 1 : 0; break;
      default: for (let i = 0; i < n; i++) o[i] = a[i] >= b[i] ? 1 : 0; break;
    }
    return o;
  }
  if (dtype === 'i32') {
    if (FLOAT_ONLY.has(op)) throw new Error(`cpu binary: op '${op}' is f32 only, got i32 inputs`);
    const o = new Int32Array(n);
    switch (op) {
      case 'add': for (let i = 0; i < n; i++) o[i] = (a[i] + b[i]) | 0; break;
      case 'sub': for (let i = 0; i < n; i++) o[i] = (a[i] - b[i]) | 0; break;
      case 'mul': for (let i = 0; i < n; i++) o[i] = Math.imul(a[i], b[i]); break;
      // Truncating division; x / 0 gives x, which is what WGSL defines for integer division by zero.
      case 'div': for (let i = 0; i < n; i++) { const d = b[i]; o[i] = d === 0 ? a[i] : (a[i] / d) | 0; } break;
      case 'max': for (let i = 0; i < n; i++) o[i] = Math.max(a[i], b[i]); break;
      case 'min': for (let i = 0; i < n; i++) o[i] = Math.min(a[i], b[i]); break;
      default: throw new Error(`cpu binary: unknown op '${op as string}'`);
    }
    return o;
  }
  const o = newFloat(precision, n);
  switch (op) {
    case 'add': for (let i = 0; i < n; i++) o[i] = a[i] + b[i]; break;
    case 'sub': for (let i = 0; i < n; i++) o[i] = a[i] - b[i]; break;
    case 'mul': for (let i = 0; i < n; i++) o[i] = a[i] * b[i]; break;
    case 'div': for (let i = 0; i < n; i++) o[i] = a[i] / b[i]; break;
    case 'pow': for (let i = 0; i < n; i++) o[i] = Math.pow(a[i], b[i]); break;
    // Math.max/min propagate NaN, as the contract requires.
    case 'max': for (let i = 0; i < n; i++) o[i] = Math.max(a[i], b[i]); break;
    case 'min': for (let i = 0; i < n; i++) o[i] = Math.min(a[i], b[i]); break;
    case 'relu_grad': for (let i = 0; i < n; i++) o[i] = a[i] > 0 ? b[i] : 0; break;
    case 'silu_grad':
      for (let i = 0; i < n; i++) {
        const x = a[i];
        const s = 1 / (1 + Math.exp(-x));
        o[i] = b[i] * s * (1 + x * (1 - s));
      }
      break;
    case 'gelu_grad':
      for (let i = 0; i < n; i++) {
        const x = a[i];
        o[i] = b[i] * (0.5 * (1 + erf(x * INV_SQRT2)) + x * Math.exp(-0.5 * x * x) * INV_SQRT_2PI);
      }
      break;
    case 'sigmoid_grad': for (let i = 0; i < n; i++) { const y = a[i]; o[i] = b[i] * y * (1 - y); } break;
    case 'tanh_grad': for (let i = 0; i < n; i++) { const y = a[i]; o[i] = b[i] * (1 - y * y); } break;
    default: throw new Error(`cpu binary: unknown op '${op as string}'`);
  }
  return o;
}

export function where(cond: TypedArray, a: TypedArray, b: TypedArray, dtype: DType, precision: Precision): TypedArray {
  const n = cond.length;
  const o = newArray(precision, dtype, n);
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
