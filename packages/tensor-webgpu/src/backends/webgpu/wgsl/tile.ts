/**
 * 'mmTile': the workgroup-shared-memory tiled matmul for GPUs. 16 x 16 invocations compute a
 * (16 RM) x 128 output tile, each invocation RM rows x 8 columns (2 vec4) from shared A and B
 * panels 8 deep in K. On lavapipe the register-tiled mmFast (wgsl/matmul.ts) is faster, since
 * "shared memory" there is ordinary memory behind barriers; on a GPU the shared panels are what let
 * 256 invocations reuse each load (H100: mmFast 5 TFLOP/s at 1024^3).
 * Same operand preconditions and parameter words as mmFast: K and N multiples of 4, rows
 * contiguous, vec4-aligned strides and offsets; params 0 M, 1 N4, 2 K4, 3 batch base, 4 aBatch,
 * 5 aRow, 6 aOff, 7 bBatch, 8 bRow, 9 bOff (vec4 units).
 */
import type { DType } from '../../../dtype.js';
import type { KernelDef } from '../pipelines.js';
import { PRELUDE } from './common.js';
import { vecDecl, vecLoader } from './matmul.js';

/** Output columns of a tile (32 vec4) and its K depth. */
export const TILE_N = 128;
const BK = 8;

/** Rows per invocation: 4 (64-row tiles, more workgroups on small products) or 8 (128-row tiles). */
export type TileRows = 4 | 8;

export function mmTileKernel(adt: DType, bdt: DType, rm: TileRows): KernelDef {
  const TM = 16 * rm;
  const Q = TM / 4; // vec4 per k-row of the A panel
  const rows = [...Array(rm).keys()];
  const acc = rows.map((i) => `var s${i}0 = vec4<f32>(0.0); var s${i}1 = vec4<f32>(0.0);`).join('\n  ');
  const fma = rows
    .map((i) => {
      const a = `a${i >> 2}.${'xyzw'[i & 3]}`;
      return `s${i}0 += ${a} * b0; s${i}1 += ${a} * b1;`;
    })
    .join('\n      ');
  const aLoads = [...Array(rm / 4).keys()].map((j) => `let a${j} = As[kk * ${Q}u + ty * ${rm / 4}u + ${j}u];`).join(' ');
  const stores = rows
    .map((i) => `if (r0 + ${i}u < M) { let o = (b * M + r0 + ${i}u) * N4 + c0; if (c0 < N4) { C[o] = s${i}0; } if (c0 + 1u < N4) { C[o + 1u] = s${i}1; } }`)
    .join('\n  ');
  return {
    key: `mmTile:${adt}:${bdt}:${rm}`,
    code: () => `${PRELUDE}${vecDecl(1, 'A', adt)}${vecDecl(2, 'B', bdt)}
@group(0) @binding(3) var<storage, read_write> C: array<vec4<f32>>;
${vecLoader('A', adt)}${vecLoader('B', bdt)}
// As[k * ${Q} + m / 4][m % 4] = A[m][k]: a row group's 4 values for one k are one vec4 read.
var<workgroup> As: array<vec4<f32>, ${BK * Q}>;
// Bs[k * 32 + c4] = B[k][c4]
var<workgroup> Bs: array<vec4<f32>, ${BK * 32}>;
@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let M = pu(0u); let N4 = pu(1u); let K4 = pu(2u);
  let b = wg.z + pu(3u);
  let m0 = wg.y * ${TM}u; let n0 = wg.x * 32u;
  let aRow = pu(5u); let aBase = pu(6u) + b * pu(4u);
  let bRow = pu(8u); let bBase = pu(9u) + b * pu(7u);
  // Panel loads: A is ${TM} rows x 2 vec4 of k (invocations li < ${TM * 2}); B is 8 k-rows x 32 vec4.
  let lr = li >> 1u; let lk = li & 1u;
  let aAt = aBase + min(m0 + lr, M - 1u) * aRow;
  let bc = min(n0 + (li & 31u), N4 - 1u); let bk = li >> 5u;
  let tx = lid.x; let ty = lid.y;
  let r0 = m0 + ty * ${rm}u; let c0 = n0 + tx * 2u;
  ${acc}
  let steps = (K4 + 1u) / 2u;
  for (var t = 0u; t < steps; t++) {
    if (li < ${TM * 2}u) {
      let k4 = t * 2u + lk;
      var v = vec4<f32>(0.0);
      if (k4 < K4) { v = lA(aAt + k4); }
      let q = lr >> 2u; let c = lr & 3u;
      As[(lk * 4u) * ${Q}u + q][c] = v.x;
      As[(lk * 4u + 1u) * ${Q}u + q][c] = v.y;
      As[(lk * 4u + 2u) * ${Q}u + q][c] = v.z;
      As[(lk * 4u + 3u) * ${Q}u + q][c] = v.w;
    }
    let kr = t * ${BK}u + bk;
    var w = vec4<f32>(0.0);
    if (kr < K4 * 4u) { w = lB(bBase + kr * bRow + bc); }
    Bs[li] = w;
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk++) {
      ${aLoads}
      let b0 = Bs[kk * 32u + tx * 2u]; let b1 = Bs[kk * 32u + tx * 2u + 1u];
      ${fma}
    }
    workgroupBarrier();
  }
  ${stores}
}`,
  };
}
