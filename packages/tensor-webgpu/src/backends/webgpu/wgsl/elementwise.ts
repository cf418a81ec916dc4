/** Elementwise kernels: fill, copy/cast, unary, binary, where, accumulate, dropout mask. */
import type { BinaryOp, UnaryOp } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import type { KernelDef } from '../pipelines.js';
import { type RankKind, ERF, MAIN_1D, PRELUDE, bind, conv, ctype, loader, main1D, offsetsFn, stridedMain } from './common.js';

/** Storage binding of vec4s (the 'v4' variants: contiguous, 4-aligned, length a multiple of 4). */
function vbind(i: number, name: string, t: string, rw = false): string {
  return `@group(0) @binding(${i}) var<storage, ${rw ? 'read_write' : 'read'}> ${name}: array<vec4<${t}>>;\n`;
}

/** Fill `n` u32 words (word 0) with the bit pattern in word 5. */
export function fillKernel(): KernelDef {
  return {
    key: 'fill',
    code: () => `${PRELUDE}${bind(1, 'Y', 'u32', true)}${MAIN_1D}
  if (gi >= pu(0u)) { return; }
  Y[gi] = pu(5u);
}`,
  };
}

/** Strided copy with cast. For f16 output one thread writes one packed word (two elements). */
export function copyKernel(src: DType, dst: DType, rank: RankKind): KernelDef {
  const cs = ctype(src);
  const cd = ctype(dst);
  return {
    key: `copy:${src}:${dst}:${rank}`,
    code: () => {
      const head = `${PRELUDE}${bind(1, 'X', src)}${bind(2, 'Y', dst, true)}${loader('X', src)}${offsetsFn(rank)}`;
      if (dst === 'f16') {
        return `${head}${main1D('(pu(0u) + 1u) / 2u')}
  let n = pu(0u);
  let e0 = gi * 2u;
  let v0 = ${conv('ld_X(offs(e0).x)', cs, 'f32')};
  var v1 = 0.0;
  if (e0 + 1u < n) { v1 = ${conv('ld_X(offs(e0 + 1u).x)', cs, 'f32')}; }
  Y[gi] = pack2x16float(vec2<f32>(v0, v1));
}`;
      }
      return `${head}${stridedMain(rank)}
  if (gi >= pu(0u)) { return; }
  Y[gi] = ${conv('ld_X(offs(gi).x)', cs, cd)};
}`;
    },
  };
}

/** Each unary op as a WGSL f32 expression of `x` (the fused GRU kernels reuse sigmoid and tanh). */
export const UNARY_F32: Record<UnaryOp, string> = {
  neg: '-x',
  exp: 'exp(x)',
  log: 'log(x)',
  sqrt: 'sqrt(x)',
  rsqrt: '1.0 / sqrt(x)',
  abs: 'abs(x)',
  sign: 'select(select(select(0.0, -1.0, x < 0.0), 1.0, x > 0.0), x, isnan_(x))',
  square: 'x * x',
  recip: '1.0 / x',
  relu: 'select(0.0, x, x > 0.0 || isnan_(x))',
  silu: 'x / (1.0 + exp(-x))',
  sigmoid: '1.0 / (1.0 + exp(-x))',
  tanh: 'select(tanh(clamp(x, -15.0, 15.0)), x, isnan_(x))',
  gelu: '0.5 * x * (1.0 + erf_(x * 0.70710678118654752))',
  sin: 'sin(x)',
  cos: 'cos(x)',
};

const UNARY_I32: Partial<Record<UnaryOp, string>> = {
  neg: '-x',
  abs: 'abs(x)',
  sign: 'sign(x)',
  square: 'x * x',
};

export function unaryKernel(op: UnaryOp, dt: DType, rank: RankKind): KernelDef {
  const isInt = dt === 'i32';
  const expr = isInt ? UNARY_I32[op] : UNARY_F32[op];
  if (!expr) throw new Error(`webgpu: unary '${op}' is not defined on i32`);
  const t = isInt ? 'i32' : 'f32';
  if (rank === 'v4') {
    return {
      key: `unary:${op}:${dt}:v4`,
      code: () => `${PRELUDE}${ERF}${vbind(1, 'X', t)}${vbind(2, 'Y', t, true)}
fn f(x: ${t}) -> ${t} { return ${expr}; }
${MAIN_1D}
  let x = X[pu(2u) + gi];
  Y[gi] = vec4<${t}>(f(x.x), f(x.y), f(x.z), f(x.w));
}`,
    };
  }
  return {
    key: `unary:${op}:${dt}:${rank}`,
    code: () => `${PRELUDE}${ERF}${bind(1, 'X', dt)}${bind(2, 'Y', isInt ? 'i32' : 'f32', true)}${loader('X', dt)}${offsetsFn(rank)}
fn f(x: ${t}) -> ${t} { return ${expr}; }
${stridedMain(rank)}
  if (gi >= pu(0u)) { return; }
  Y[gi] = f(ld_X(offs(gi).x));
}`,
  };
}

const BIN_F32: Record<BinaryOp, string> = {
  add: 'a + b',
  sub: 'a - b',
  mul: 'a * b',
  div: 'a / b',
  pow: 'powf(a, b)',
  max: 'select(select(b, a, a > b), nan_(), isnan_(a) || isnan_(b))',
  min: 'select(select(b, a, a < b), nan_(), isnan_(a) || isnan_(b))',
  // lavapipe's compiler may assume no NaN: every comparison checks NaN explicitly (bit test).
  eq: 'select(0.0, 1.0, a == b && !nn(a, b))',
  ne: 'select(0.0, 1.0, a != b || nn(a, b))',
  lt: 'select(0.0, 1.0, a < b && !nn(a, b))',
  le: 'select(0.0, 1.0, a <= b && !nn(a, b))',
  gt: 'select(0.0, 1.0, a > b && !nn(a, b))',
  ge: 'select(0.0, 1.0, a >= b && !nn(a, b))',
  relu_grad: 'select(0.0, b, a > 0.0 && !isnan_(a))',
  silu_grad: 'siluGrad(a, b)',
  gelu_grad: 'b * (0.5 * (1.0 + erf_(a * 0.70710678118654752)) + a * exp(-0.5 * a * a) * 0.3989422804014327)',
  sigmoid_grad: 'b * a * (1.0 - a)',
  tanh_grad: 'b * (1.0 - a * a)',
};

const BIN_I32: Partial<Record<BinaryOp, string>> = {
  add: 'a + b',
  sub: 'a - b',
  mul: 'a * b',
  div: 'select(a / b, a, b == 0)',
  max: 'max(a, b)',
  min: 'min(a, b)',
  eq: 'select(0.0, 1.0, a == b)',
  ne: 'select(0.0, 1.0, a != b)',
  lt: 'select(0.0, 1.0, a < b)',
  le: 'select(0.0, 1.0, a <= b)',
  gt: 'select(0.0, 1.0, a > b)',
  ge: 'select(0.0, 1.0, a >= b)',
};

const CMP = new Set<BinaryOp>(['eq', 'ne', 'lt', 'le', 'gt', 'ge']);

export function binaryOutDType(op: BinaryOp, dt: DType): DType {
  return CMP.has(op) ? 'f32' : dt === 'i32' ? 'i32' : 'f32';
}

const POW = /* wgsl */ `
fn powf(x: f32, y: f32) -> f32 {
  if (y == 0.0) { return 1.0; }
  if (isnan_(x) || isnan_(y)) { return nan_(); }
  if (x == 0.0) { return select(inf_(), 0.0, y > 0.0); }
  let r = exp2(y * log2(abs(x)));
  if (x < 0.0) {
    if (fract(y) != 0.0) { return nan_(); }
    if (abs(y) < 16777216.0 && (i32(y) & 1) == 1) { return -r; }
  }
  return r;
}
fn nn(a: f32, b: f32) -> bool { return isnan_(a) || isnan_(b); }
fn siluGrad(x: f32, g: f32) -> f32 { let s = 1.0 / (1.0 + exp(-x)); return g * s * (1.0 + x * (1.0 - s)); }
`;

/** `scalar` (with rank 'v4'): that operand is one element at its element offset, splatted. */
export function binaryKernel(op: BinaryOp, dt: DType, rank: RankKind, scalar?: 'a' | 'b'): KernelDef {
  const isInt = dt === 'i32';
  const expr = isInt ? BIN_I32[op] : BIN_F32[op];
  if (!expr) throw new Error(`webgpu: binary '${op}' is not defined on i32`);
  const out = binaryOutDType(op, dt);
  if (rank === 'v4') {
    const t = ctype(dt);
    const ld = (name: string, w: number, splat: boolean) =>
      splat ? `vec4<${t}>(${name}[pu(${w}u) >> 2u][pu(${w}u) & 3u])` : `${name}[pu(${w}u) + gi]`;
    return {
      key: `binary:${op}:${dt}:v4${scalar ? `:${scalar}` : ''}`,
      code: () => `${PRELUDE}${ERF}${POW}${vbind(1, 'A', t)}${vbind(2, 'B', t)}${vbind(3, 'Y', ctype(out), true)}
fn f(a: ${t}, b: ${t}) -> ${ctype(out)} { return ${expr}; }
${MAIN_1D}
  let a = ${ld('A', 2, scalar === 'a')};
  let b = ${ld('B', 3, scalar === 'b')};
  Y[gi] = vec4<${ctype(out)}>(f(a.x, b.x), f(a.y, b.y), f(a.z, b.z), f(a.w, b.w));
}`,
    };
  }
  return {
    key: `binary:${op}:${dt}:${rank}`,
    code: () => `${PRELUDE}${ERF}${POW}${bind(1, 'A', dt)}${bind(2, 'B', dt)}${bind(3, 'Y', out, true)}${loader('A', dt)}${loader('B', dt)}${offsetsFn(rank)}
fn f(a: ${ctype(dt)}, b: ${ctype(dt)}) -> ${ctype(out)} { return ${expr}; }
${stridedMain(rank)}
  if (gi >= pu(0u)) { return; }
  let o = offs(gi);
  Y[gi] = f(ld_A(o.x), ld_B(o.y));
}`,
  };
}

/** out = cond != 0 ? a : b; views 0 = cond, 1 = a, 2 = b. */
export function whereKernel(condDt: DType, dt: DType, rank: RankKind): KernelDef {
  const test = ctype(condDt) === 'i32' ? 'c != 0' : '(c != 0.0 || isnan_(c))';
  return {
    key: `where:${condDt}:${dt}:${rank}`,
    code: () => `${PRELUDE}${bind(1, 'C', condDt)}${bind(2, 'A', dt)}${bind(3, 'B', dt)}${bind(4, 'Y', ctype(dt), true)}${loader('C', condDt)}${loader('A', dt)}${loader('B', dt)}${offsetsFn(rank)}
${stridedMain(rank)}
  if (gi >= pu(0u)) { return; }
  let o = offs(gi);
  let c = ld_C(o.x);
  if (${test}) { Y[gi] = ld_A(o.y); } else { Y[gi] = ld_B(o.z); }
}`,
  };
}

/** dst[word5 + i] = / += src view element i (dst f32 or i32; src converted to it). */
export function accumulateKernel(mode: 'copy' | 'add', src: DType, dst: DType, rank: RankKind): KernelDef {
  const cd = ctype(dst);
  return {
    key: `accumulate:${mode}:${src}:${dst}:${rank}`,
    code: () => `${PRELUDE}${bind(1, 'X', src)}${bind(2, 'Y', cd, true)}${loader('X', src)}${offsetsFn(rank)}
${stridedMain(rank)}
  if (gi >= pu(0u)) { return; }
  let j = pu(5u) + gi;
  let v = ${conv('ld_X(offs(gi).x)', ctype(src), cd)};
  ${mode === 'add' ? 'Y[j] = Y[j] + v;' : 'Y[j] = v;'}
}`,
  };
}

/** Dropout mask: words 0 n, 5 hash32(seed), 6 threshold, 7 scale (f32). */
export function dropoutKernel(): KernelDef {
  return {
    key: 'dropout',
    code: () => `${PRELUDE}${bind(1, 'Y', 'f32', true)}
fn hash32(x0: u32) -> u32 {
  var x = x0;
  x = x ^ (x >> 16u);
  x = x * 0x7feb352du;
  x = x ^ (x >> 15u);
  x = x * 0x846ca68bu;
  x = x ^ (x >> 16u);
  return x;
}
${MAIN_1D}
  if (gi >= pu(0u)) { return; }
  let h = hash32(gi ^ pu(5u));
  Y[gi] = select(0.0, pf(7u), (h >> 8u) >= pu(6u));
}`,
  };
}
