/**
 * Row kernels on contiguous [rows, cols] storages (softmax, log-softmax, their backward,
 * cross-entropy, rmsnorm), plus rope. Each row kernel has two forms, picked by `rowWG`:
 * W = 32: one workgroup per row with shared-memory tree reductions (long rows, few rows);
 * W = 1: one thread per row looping over it (short rows or very many rows; on lavapipe every
 * workgroup barrier is expensive, so this is much faster there for small rows).
 * Params: 0 rows, 1 cols, then per-kernel extras.
 */
import type { KernelDef } from '../pipelines.js';
import { MAIN_1D, PRELUDE, bind, main1D, mainPerGroup } from './common.js';

/** Threads per row: 1 (thread per row: short rows, or 512+ rows) or 32 (workgroup per row). */
export function rowWG(rows: number, cols: number): number {
  return cols <= 64 || (rows >= 512 && cols <= 2048) ? 1 : 32;
}

export function wgReduce(W: number): string {
  if (W === 1) {
    return `
fn maxn(a: f32, b: f32) -> f32 { return select(max(a, b), nan_(), isnan_(a) || isnan_(b)); }
fn wgSum(v: f32, li: u32) -> f32 { return v; }
fn wgMax(v: f32, li: u32) -> f32 { return v; }
`;
  }
  return `
var<workgroup> red: array<f32, ${W}>;
fn maxn(a: f32, b: f32) -> f32 { return select(max(a, b), nan_(), isnan_(a) || isnan_(b)); }
fn wgSum(v: f32, li: u32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = ${W / 2}u; s > 0u; s = s >> 1u) {
    if (li < s) { red[li] = red[li] + red[li + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
fn wgMax(v: f32, li: u32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = ${W / 2}u; s > 0u; s = s >> 1u) {
    if (li < s) { red[li] = maxn(red[li], red[li + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
`;
}

/** Head of a row kernel (W threads per row): defines rows, cols, item (the row), li (the lane) and base = item * cols. */
export function rowHead(W: number): string {
  if (W === 1) {
    return `${main1D()}
  let item = gi;
  let li = 0u;
  let rows = pu(0u);
  let cols = pu(1u);
  let base = item * cols;`;
  }
  return `${mainPerGroup(W)}
  let rows = pu(0u);
  let cols = pu(1u);
  if (item >= rows) { return; }
  let base = item * cols;`;
}

/** Max and log-sum-exp of row `base` of X (every lane gets them). */
function lseBlock(W: number): string {
  return `
  var lm = -inf_();
  for (var j = li; j < cols; j += ${W}u) { lm = maxn(lm, X[base + j]); }
  let m = wgMax(lm, li);
  var ls = 0.0;
  for (var j = li; j < cols; j += ${W}u) { ls += exp(X[base + j] - m); }
  let s = wgSum(ls, li);`;
}

export function softmaxKernel(log: boolean, W: number): KernelDef {
  return {
    key: `softmax:${log ? 'log' : 'p'}:${W}`,
    code: () => `${PRELUDE}${wgReduce(W)}${bind(1, 'X', 'f32')}${bind(2, 'Y', 'f32', true)}${rowHead(W)}${lseBlock(W)}
  let ls2 = log(s);
  let inv = 1.0 / s;
  for (var j = li; j < cols; j += ${W}u) {
    let z = X[base + j] - m;
    Y[base + j] = ${log ? 'z - ls2' : 'exp(z) * inv'};
  }
}`,
  };
}

export function softmaxBackwardKernel(log: boolean, W: number): KernelDef {
  const body = log
    ? `var acc = 0.0;
  for (var j = li; j < cols; j += ${W}u) { acc += G[base + j]; }
  let sg = wgSum(acc, li);
  for (var j = li; j < cols; j += ${W}u) { DX[base + j] = G[base + j] - exp(Y[base + j]) * sg; }`
    : `var acc = 0.0;
  for (var j = li; j < cols; j += ${W}u) { acc += G[base + j] * Y[base + j]; }
  let d = wgSum(acc, li);
  for (var j = li; j < cols; j += ${W}u) { DX[base + j] = Y[base + j] * (G[base + j] - d); }`;
  return {
    key: `softmaxBackward:${log ? 'log' : 'p'}:${W}`,
    code: () => `${PRELUDE}${wgReduce(W)}${bind(1, 'Y', 'f32')}${bind(2, 'G', 'f32')}${bind(3, 'DX', 'f32', true)}${rowHead(W)}
  ${body}
}`,
  };
}

/** Params: 2 ignoreIndex (i32). Out-of-range targets (not ignored) give NaN. */
export function crossEntropyKernel(W: number): KernelDef {
  return {
    key: `crossEntropy:${W}`,
    code: () => `${PRELUDE}${wgReduce(W)}${bind(1, 'X', 'f32')}${bind(2, 'T', 'i32')}${bind(3, 'Y', 'f32', true)}${rowHead(W)}${lseBlock(W)}
  if (li == 0u) {
    let t = T[item];
    var loss = nan_();
    if (t == pi(2u)) { loss = 0.0; }
    else if (t >= 0 && u32(t) < cols) { loss = m + log(s) - X[base + u32(t)]; }
    Y[item] = loss;
  }
}`,
  };
}

export function crossEntropyBackwardKernel(W: number): KernelDef {
  return {
    key: `crossEntropyBackward:${W}`,
    code: () => `${PRELUDE}${wgReduce(W)}${bind(1, 'X', 'f32')}${bind(2, 'T', 'i32')}${bind(3, 'GR', 'f32')}${bind(4, 'DX', 'f32', true)}${rowHead(W)}${lseBlock(W)}
  let t = T[item];
  let ignored = t == pi(2u);
  let g = select(GR[item], 0.0, ignored);
  let inv = 1.0 / s;
  for (var j = li; j < cols; j += ${W}u) {
    let p = exp(X[base + j] - m) * inv;
    let oh = select(0.0, 1.0, i32(j) == t);
    DX[base + j] = select((p - oh) * g, 0.0, ignored);
  }
}`,
  };
}

/** Params: 2 eps (f32). */
export function rmsnormKernel(W: number): KernelDef {
  return {
    key: `rmsnorm:${W}`,
    code: () => `${PRELUDE}${wgReduce(W)}${bind(1, 'X', 'f32')}${bind(2, 'Wt', 'f32')}${bind(3, 'Y', 'f32', true)}${rowHead(W)}
  var acc = 0.0;
  for (var j = li; j < cols; j += ${W}u) { let v = X[base + j]; acc += v * v; }
  let ss = wgSum(acc, li);
  let r = 1.0 / sqrt(ss / f32(cols) + pf(2u));
  for (var j = li; j < cols; j += ${W}u) { Y[base + j] = X[base + j] * r * Wt[j]; }
}`,
  };
}

/** dx per row and rstd[row]; params: 2 eps. */
export function rmsnormBackwardRowsKernel(W: number): KernelDef {
  return {
    key: `rmsnormBackwardRows:${W}`,
    code: () => `${PRELUDE}${wgReduce(W)}${bind(1, 'X', 'f32')}${bind(2, 'Wt', 'f32')}${bind(3, 'G', 'f32')}${bind(4, 'DX', 'f32', true)}${bind(5, 'R', 'f32', true)}${rowHead(W)}
  var acc = 0.0;
  var dot = 0.0;
  for (var j = li; j < cols; j += ${W}u) {
    let v = X[base + j];
    acc += v * v;
    dot += G[base + j] * Wt[j] * v;
  }
  let ss = wgSum(acc, li);
  let d = wgSum(dot, li);
  let r = 1.0 / sqrt(ss / f32(cols) + pf(2u));
  let c = r * r * r * d / f32(cols);
  for (var j = li; j < cols; j += ${W}u) {
    DX[base + j] = r * Wt[j] * G[base + j] - X[base + j] * c;
  }
  if (li == 0u) { R[item] = r; }
}`,
  };
}

/** dw[col] = sum over rows of g * x * rstd; one thread per column (W = 1) or one workgroup per column. */
export function rmsnormBackwardColsKernel(W: number): KernelDef {
  const head =
    W === 1
      ? `${main1D('pu(1u)')}
  let item = gi;
  let li = 0u;
  let rows = pu(0u);
  let cols = pu(1u);`
      : `${mainPerGroup(W)}
  let rows = pu(0u);
  let cols = pu(1u);
  if (item >= cols) { return; }`;
  return {
    key: `rmsnormBackwardCols:${W}`,
    code: () => `${PRELUDE}${wgReduce(W)}${bind(1, 'X', 'f32')}${bind(2, 'G', 'f32')}${bind(3, 'R', 'f32')}${bind(4, 'DW', 'f32', true)}${head}
  var acc = 0.0;
  for (var r = li; r < rows; r += ${W}u) { let k = r * cols + item; acc += G[k] * X[k] * R[r]; }
  let s = wgSum(acc, li);
  if (li == 0u) { DW[item] = s; }
}`,
  };
}

/**
 * Rope, one thread per rotated pair. Params: 0 pairs, 1 t, 2 h, 3 d, 4 startPos (i32),
 * 5 layout (0 interleaved, 1 half), 6 sign (f32, -1 inverse), 7 log2(theta) (f32).
 */
export function ropeKernel(): KernelDef {
  return {
    key: 'rope',
    code: () => `${PRELUDE}${bind(1, 'X', 'f32')}${bind(2, 'Y', 'f32', true)}${MAIN_1D}
  if (gi >= pu(0u)) { return; }
  let t = pu(1u); let h = pu(2u); let d = pu(3u); let half = d / 2u;
  let j = gi % half;
  let rest = gi / half;
  let tt = (rest / h) % t;
  let base = rest * d;
  var i0 = base + 2u * j;
  var i1 = i0 + 1u;
  if (pu(5u) == 1u) { i0 = base + j; i1 = base + j + half; }
  let pos = f32(pi(4u) + i32(tt));
  let freq = exp2(-(f32(2u * j) / f32(d)) * pf(7u));
  let ang = pos * freq * pf(6u);
  let c = cos(ang);
  let s = sin(ang);
  let x0 = X[i0];
  let x1 = X[i1];
  Y[i0] = x0 * c - x1 * s;
  Y[i1] = x0 * s + x1 * c;
}`,
  };
}
