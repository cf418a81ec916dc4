/**
 * Matmul kernels for narrow outputs (few rows or few columns, e.g. a LoRA projection x@A with
 * N = r, or a LoRA weight gradient xᵀg with a long K), where mmFast's 32 x 64 workgroup tile is
 * mostly empty: on lavapipe the lanes of an 8 x 8 workgroup run as SIMD rows, so N = 4 leaves 7 of
 * every 8 lanes idle, and transposed operands cost a packing copy first.
 * Both kernels compute a 4 x 4 register tile per invocation with scalar loads at any element
 * strides (f16 through the loader), so no operand is packed; rows and columns past M / N read the
 * last valid one and are not stored.
 * - 'mmSplitK': a thread per tile, a workgroup row per K slice (grid y). Slice s writes its partial
 *   sums to plane s of a scratch buffer [S, B, M, N], summed afterwards in slice order by the
 *   reduce kernel: deterministic, no float atomics. With one slice it writes the output directly.
 * - 'mmWgK': a workgroup per tile; its lanes stride over K and the 16 partial sums are combined by
 *   a shared-memory tree reduction, for outputs too few to occupy even one workgroup per core.
 */
import type { DType } from '../../../dtype.js';
import type { KernelDef } from '../pipelines.js';
import { PRELUDE, bind, loader } from './common.js';

/** Threads per workgroup of mmSplitK (tiles) and lanes per tile of mmWgK. */
export const NARROW_WG = 64;
/** Rows and columns of one invocation's tile. */
export const NARROW_T = 4;

/**
 * Params (element units, i32 strides): 0 M, 1 N, 2 K, 3 batch base, 4 K per slice, 5 tiles per
 * row (ceil(N / 4)), 6 tiles per batch, 7 elements per scratch plane (B * M * N),
 * 8 aOff, 9 aB, 10 aM, 11 aK, 12 bOff, 13 bB, 14 bK, 15 bN.
 * `tileSum(b, t, k, k1, step)` sums the tile t of batch b over k, k + step, ... < k1;
 * `tileStore(base, b, t, s)` writes its valid part at base + (b, row, col).
 */
function tileFns(adt: DType, bdt: DType): string {
  return `${bind(1, 'A', adt)}${bind(2, 'B', bdt)}${bind(3, 'C', 'f32', true)}${loader('A', adt)}${loader('B', bdt)}
fn tileSum(b: u32, t: u32, kFirst: u32, k1: u32, step: u32) -> mat4x4<f32> {
  let M = pu(0u); let N = pu(1u); let tn = pu(5u);
  let m0 = (t / tn) * 4u; let n0 = (t % tn) * 4u;
  let aM = pi(10u); let aK = pi(11u); let bK = pi(14u); let bN = pi(15u);
  let a = pi(8u) + i32(b) * pi(9u) + i32(m0) * aM;
  let a1 = i32(min(m0 + 1u, M - 1u) - m0) * aM;
  let a2 = i32(min(m0 + 2u, M - 1u) - m0) * aM;
  let a3 = i32(min(m0 + 3u, M - 1u) - m0) * aM;
  let bb = pi(12u) + i32(b) * pi(13u) + i32(n0) * bN;
  let b1 = i32(min(n0 + 1u, N - 1u) - n0) * bN;
  let b2 = i32(min(n0 + 2u, N - 1u) - n0) * bN;
  let b3 = i32(min(n0 + 3u, N - 1u) - n0) * bN;
  var ak = a + i32(kFirst) * aK;
  var bk = bb + i32(kFirst) * bK;
  let aStep = i32(step) * aK; let bStep = i32(step) * bK;
  var s = mat4x4<f32>();
  for (var k = kFirst; k < k1; k += step) {
    let y = vec4<f32>(f32(ld_B(bk)), f32(ld_B(bk + b1)), f32(ld_B(bk + b2)), f32(ld_B(bk + b3)));
    s[0] += f32(ld_A(ak)) * y;
    s[1] += f32(ld_A(ak + a1)) * y;
    s[2] += f32(ld_A(ak + a2)) * y;
    s[3] += f32(ld_A(ak + a3)) * y;
    ak += aStep; bk += bStep;
  }
  return s;
}
fn tileStore(base: u32, b: u32, t: u32, s: mat4x4<f32>) {
  let M = pu(0u); let N = pu(1u); let tn = pu(5u);
  let m0 = (t / tn) * 4u; let n0 = (t % tn) * 4u;
  for (var i = 0u; i < 4u; i++) {
    if (m0 + i >= M) { break; }
    let o = base + (b * M + m0 + i) * N + n0;
    for (var j = 0u; j < 4u; j++) {
      if (n0 + j < N) { C[o + j] = s[i][j]; }
    }
  }
}
`;
}

/** Grid: x = ceil(tiles / NARROW_WG), y = slices, z = batches (from param 3). */
export function mmSplitKKernel(adt: DType, bdt: DType): KernelDef {
  return {
    key: `mmSplitK:${adt}:${bdt}`,
    code: () => `${PRELUDE}${tileFns(adt, bdt)}
@compute @workgroup_size(${NARROW_WG})
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = g.x;
  if (t >= pu(6u)) { return; }
  let b = g.z + pu(3u);
  let k0 = wid.y * pu(4u);
  let s = tileSum(b, t, k0, min(k0 + pu(4u), pu(2u)), 1u);
  tileStore(wid.y * pu(7u), b, t, s);
}`,
  };
}

/** Grid: x, y = tiles per batch (2-D past 65535), z = batches (from param 3); params 4 and 7 unused. */
export function mmWgKKernel(adt: DType, bdt: DType): KernelDef {
  return {
    key: `mmWgK:${adt}:${bdt}`,
    code: () => `${PRELUDE}${tileFns(adt, bdt)}
var<workgroup> red: array<mat4x4<f32>, ${NARROW_WG}>;
@compute @workgroup_size(${NARROW_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let t = wid.y * nwg.x + wid.x;
  if (t >= pu(6u)) { return; }
  let b = wid.z + pu(3u);
  red[li] = tileSum(b, t, li, pu(2u), ${NARROW_WG}u);
  // fixed pairing order: the sums are deterministic
  for (var h = ${NARROW_WG / 2}u; h > 0u; h >>= 1u) {
    workgroupBarrier();
    if (li < h) { red[li] += red[li + h]; }
  }
  if (li == 0u) { tileStore(0u, b, t, red[0]); }
}`,
  };
}
