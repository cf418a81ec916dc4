/**
 * Index kernels: gather/scatter of rows and columns, row sort (top-k).
 * scatterAddRows has no float atomics to lean on: it builds a CSR list of source rows per
 * destination row (count with u32 atomics, exclusive scan, fill in increasing i) and then sums
 * each segment in order, so results are deterministic.
 */
import type { KernelDef } from '../pipelines.js';
import { MAIN_1D, PRELUDE, bind, main1D, mainPerGroup } from './common.js';

/** Params: 0 n*cols, 1 rows, 2 cols. */
export function gatherRowsKernel(): KernelDef {
  return {
    key: 'gatherRows',
    code: () => `${PRELUDE}${bind(1, 'X', 'f32')}${bind(2, 'I', 'i32')}${bind(3, 'Y', 'f32', true)}${MAIN_1D}
  if (gi >= pu(0u)) { return; }
  let cols = pu(2u);
  let r = I[gi / cols];
  var v = 0.0;
  if (r >= 0 && u32(r) < pu(1u)) { v = X[u32(r) * cols + gi % cols]; }
  Y[gi] = v;
}`,
  };
}

/** Count sources per destination row. Params: 0 n, 1 rows. */
export function csrCountKernel(): KernelDef {
  return {
    key: 'csrCount',
    code: () => `${PRELUDE}${bind(1, 'I', 'i32')}
@group(0) @binding(2) var<storage, read_write> C: array<atomic<u32>>;
${MAIN_1D}
  if (gi >= pu(0u)) { return; }
  let r = I[gi];
  if (r >= 0 && u32(r) < pu(1u)) { atomicAdd(&C[u32(r)], 1u); }
}`,
  };
}

/** Exclusive scan of counts [rows] into starts [rows + 1], one workgroup. Params: 0 rows. */
export function csrScanKernel(): KernelDef {
  const W = 256;
  return {
    key: 'csrScan',
    code: () => `${PRELUDE}${bind(1, 'C', 'u32')}${bind(2, 'S', 'u32', true)}
var<workgroup> part: array<u32, ${W}>;
${mainPerGroup(W)}
  let rows = pu(0u);
  let chunk = (rows + ${W - 1}u) / ${W}u;
  let b = min(li * chunk, rows);
  let e = min(b + chunk, rows);
  var acc = 0u;
  for (var r = b; r < e; r++) { acc += C[r]; }
  part[li] = acc;
  workgroupBarrier();
  // Hillis-Steele inclusive scan over the ${W} partial sums
  for (var off = 1u; off < ${W}u; off = off << 1u) {
    var v = 0u;
    if (li >= off) { v = part[li - off]; }
    workgroupBarrier();
    part[li] = part[li] + v;
    workgroupBarrier();
  }
  var run = part[li] - acc;
  for (var r = b; r < e; r++) { S[r] = run; run += C[r]; }
  if (li == ${W - 1}u) { S[rows] = part[${W - 1}u]; }
}`,
  };
}

/** One thread per destination row scanning idx (good when rows < n). Params: 0 n, 1 rows. */
export function csrFillByRowKernel(): KernelDef {
  return {
    key: 'csrFillByRow',
    code: () => `${PRELUDE}${bind(1, 'I', 'i32')}${bind(2, 'S', 'u32')}${bind(3, 'L', 'u32', true)}${main1D('pu(1u)')}
  let n = pu(0u);
  var p = S[gi];
  let end = S[gi + 1u];
  let r = i32(gi);
  for (var i = 0u; i < n && p < end; i++) {
    if (I[i] == r) { L[p] = i; p++; }
  }
}`,
  };
}

/** One thread per source i: slot = start + number of earlier equal indices. Params: 0 n, 1 rows. */
export function csrFillByItemKernel(): KernelDef {
  return {
    key: 'csrFillByItem',
    code: () => `${PRELUDE}${bind(1, 'I', 'i32')}${bind(2, 'S', 'u32')}${bind(3, 'L', 'u32', true)}${MAIN_1D}
  if (gi >= pu(0u)) { return; }
  let r = I[gi];
  if (r < 0 || u32(r) >= pu(1u)) { return; }
  var before = 0u;
  for (var i = 0u; i < gi; i++) { if (I[i] == r) { before++; } }
  L[S[u32(r)] + before] = gi;
}`,
  };
}

/** out[r, c] = sum over the CSR segment of r of src[i, c]. Params: 0 rows*cols, 1 cols. */
export function csrSumKernel(): KernelDef {
  return {
    key: 'csrSum',
    code: () => `${PRELUDE}${bind(1, 'X', 'f32')}${bind(2, 'S', 'u32')}${bind(3, 'L', 'u32')}${bind(4, 'Y', 'f32', true)}${MAIN_1D}
  if (gi >= pu(0u)) { return; }
  let cols = pu(1u);
  let r = gi / cols;
  let c = gi % cols;
  var acc = 0.0;
  for (var s = S[r]; s < S[r + 1u]; s++) { acc += X[L[s] * cols + c]; }
  Y[gi] = acc;
}`,
  };
}

/** out[r, j] = x[r, idx[r, j]]. Params: 0 rows*k, 1 cols, 2 k. */
export function gatherColsKernel(): KernelDef {
  return {
    key: 'gatherCols',
    code: () => `${PRELUDE}${bind(1, 'X', 'f32')}${bind(2, 'I', 'i32')}${bind(3, 'Y', 'f32', true)}${MAIN_1D}
  if (gi >= pu(0u)) { return; }
  let cols = pu(1u);
  let r = gi / pu(2u);
  let c = I[gi];
  var v = 0.0;
  if (c >= 0 && u32(c) < cols) { v = X[r * cols + u32(c)]; }
  Y[gi] = v;
}`,
  };
}

/** out[r, c] = sum over j with idx[r, j] == c of g[r, j]. Params: 0 rows*cols, 1 k, 2 cols. */
export function scatterAddColsKernel(): KernelDef {
  return {
    key: 'scatterAddCols',
    code: () => `${PRELUDE}${bind(1, 'G', 'f32')}${bind(2, 'I', 'i32')}${bind(3, 'Y', 'f32', true)}${MAIN_1D}
  if (gi >= pu(0u)) { return; }
  let k = pu(1u);
  let cols = pu(2u);
  let r = gi / cols;
  let c = i32(gi % cols);
  var acc = 0.0;
  for (var j = 0u; j < k; j++) { if (I[r * k + j] == c) { acc += G[r * k + j]; } }
  Y[gi] = acc;
}`,
  };
}

/**
 * Rank sort: each thread ranks its element within its row (NaN sorts as the largest value, equal
 * values keep column order) and writes it when rank < k. Params: 0 rows*cols, 1 cols, 2 k, 3 descending.
 */
export function sortRowsKernel(): KernelDef {
  return {
    key: 'sortRows',
    code: () => `${PRELUDE}${bind(1, 'X', 'f32')}${bind(2, 'V', 'f32', true)}${bind(3, 'J', 'i32', true)}
fn gt(a: f32, b: f32) -> bool { return !isnan_(b) && (isnan_(a) || a > b); }
${MAIN_1D}
  if (gi >= pu(0u)) { return; }
  let cols = pu(1u);
  let k = pu(2u);
  let desc = pu(3u) == 1u;
  let r = gi / cols;
  let c = gi % cols;
  let base = r * cols;
  let v = X[gi];
  let vn = isnan_(v);
  var rank = 0u;
  for (var j = 0u; j < cols; j++) {
    let w = X[base + j];
    let wn = isnan_(w);
    let eq = (vn && wn) || (!vn && !wn && w == v);
    let first = select(gt(v, w), gt(w, v), desc);
    if (first || (eq && j < c)) { rank++; }
  }
  if (rank < k) {
    V[r * k + rank] = v;
    J[r * k + rank] = i32(c);
  }
}`,
  };
}
