/**
 * Matmul kernels.
 * - 'mmFast': each invocation computes a 4-row x 8-column register tile (4 rows x 2 vec4) with
 *   vec4 loads; needs K % 4 == 0, N % 4 == 0, unit inner strides and 4-aligned row/batch strides
 *   and offsets. Operands f32 or f16 (f16 read as packed u32 pairs and unpacked; f32 accumulation).
 *   On lavapipe register tiling beats workgroup shared-memory tiling by a wide margin.
 * - 'mmPack': strided copy of a [B, R, C] view into a contiguous zero-padded [B, R, Cp] f32
 *   buffer, so any layout can feed mmFast.
 * - 'mmGeneral': one output per thread with arbitrary strides, for small or odd problems.
 * - mmFast with `lowRank`: the LoRA apply x W + s u B, the rank-r term added to the register tile
 *   after the K loop, so the output is written once (see lowRankTerm).
 */
import type { DType } from '../../../dtype.js';
import type { KernelDef } from '../pipelines.js';
import { PRELUDE, ROWS_SEG, bind, loader, segmentedMain } from './common.js';

export const MM_TX = 8;
export const MM_TY = 8;
/** Output columns (in vec4) and rows covered by one invocation. */
export const MM_C4 = 2;
export const MM_R = 4;

export function vecDecl(i: number, name: string, dt: DType): string {
  const t = dt === 'f16' ? 'vec2<u32>' : 'vec4<f32>';
  return `@group(0) @binding(${i}) var<storage, read> ${name}: array<${t}>;\n`;
}

export function vecLoader(name: string, dt: DType): string {
  if (dt === 'f16') {
    return `fn l${name}(i: u32) -> vec4<f32> { let w = ${name}[i]; return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)); }\n`;
  }
  return `fn l${name}(i: u32) -> vec4<f32> { return ${name}[i]; }\n`;
}

/**
 * The rank-r epilogue of the fused LoRA apply: U contiguous f32 [M, r], LB contiguous f32 [r, N4],
 * params 10 r and 11 s. s scales each u once per row rather than every output vec4. Rows past M
 * read the clamped row a1..a3 already use; their sums are never stored.
 */
const lowRankDecl = `@group(0) @binding(4) var<storage, read> U: array<f32>;
@group(0) @binding(5) var<storage, read> LB: array<vec4<f32>>;
`;
const lowRankTerm = `
  let R = pu(10u); let sc = pf(11u);
  let u0 = r0 * R; let u1 = min(r0 + 1u, M - 1u) * R; let u2 = min(r0 + 2u, M - 1u) * R; let u3 = min(r0 + 3u, M - 1u) * R;
  for (var j = 0u; j < R; j++) {
    let z0 = LB[j * N4 + c0]; let z1 = LB[j * N4 + c1];
    let w0 = sc * U[u0 + j]; let w1 = sc * U[u1 + j]; let w2 = sc * U[u2 + j]; let w3 = sc * U[u3 + j];
    s00 += w0 * z0; s01 += w0 * z1; s10 += w1 * z0; s11 += w1 * z1;
    s20 += w2 * z0; s21 += w2 * z1; s30 += w3 * z0; s31 += w3 * z1;
  }`;

/**
 * Params (vec4 units for A/B offsets and strides): 0 M, 1 N4, 2 K4, 3 batch base,
 * 4 aBatch, 5 aRow, 6 aOff, 7 bBatch, 8 bRow, 9 bOff; with `lowRank` also 10 r, 11 s (one batch).
 */
export function mmFastKernel(adt: DType, bdt: DType, lowRank = false): KernelDef {
  return {
    key: `mmFast:${adt}:${bdt}${lowRank ? ':lowRank' : ''}`,
    code: () => `${PRELUDE}${vecDecl(1, 'A', adt)}${vecDecl(2, 'B', bdt)}
@group(0) @binding(3) var<storage, read_write> C: array<vec4<f32>>;
${lowRank ? lowRankDecl : ''}${vecLoader('A', adt)}${vecLoader('B', bdt)}
@compute @workgroup_size(${MM_TX}, ${MM_TY}, 1)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let M = pu(0u); let N4 = pu(1u); let K4 = pu(2u);
  let c0 = g.x * 2u;
  let r0 = g.y * 4u;
  if (c0 >= N4 || r0 >= M) { return; }
  let b = g.z + pu(3u);
  let c1 = min(c0 + 1u, N4 - 1u);
  let aRow = pu(5u);
  let aBase = pu(6u) + b * pu(4u);
  let a0 = aBase + r0 * aRow;
  let a1 = aBase + min(r0 + 1u, M - 1u) * aRow;
  let a2 = aBase + min(r0 + 2u, M - 1u) * aRow;
  let a3 = aBase + min(r0 + 3u, M - 1u) * aRow;
  let bRow = pu(8u);
  var bk = pu(9u) + b * pu(7u);
  let bStep = 4u * bRow;
  var s00 = vec4<f32>(0.0); var s01 = vec4<f32>(0.0);
  var s10 = vec4<f32>(0.0); var s11 = vec4<f32>(0.0);
  var s20 = vec4<f32>(0.0); var s21 = vec4<f32>(0.0);
  var s30 = vec4<f32>(0.0); var s31 = vec4<f32>(0.0);
  for (var k = 0u; k < K4; k++) {
    let x0 = lA(a0 + k); let x1 = lA(a1 + k); let x2 = lA(a2 + k); let x3 = lA(a3 + k);
    let y00 = lB(bk + c0); let y01 = lB(bk + c1);
    let y10 = lB(bk + bRow + c0); let y11 = lB(bk + bRow + c1);
    let y20 = lB(bk + 2u * bRow + c0); let y21 = lB(bk + 2u * bRow + c1);
    let y30 = lB(bk + 3u * bRow + c0); let y31 = lB(bk + 3u * bRow + c1);
    s00 += x0.x * y00 + x0.y * y10 + x0.z * y20 + x0.w * y30;
    s01 += x0.x * y01 + x0.y * y11 + x0.z * y21 + x0.w * y31;
    s10 += x1.x * y00 + x1.y * y10 + x1.z * y20 + x1.w * y30;
    s11 += x1.x * y01 + x1.y * y11 + x1.z * y21 + x1.w * y31;
    s20 += x2.x * y00 + x2.y * y10 + x2.z * y20 + x2.w * y30;
    s21 += x2.x * y01 + x2.y * y11 + x2.z * y21 + x2.w * y31;
    s30 += x3.x * y00 + x3.y * y10 + x3.z * y20 + x3.w * y30;
    s31 += x3.x * y01 + x3.y * y11 + x3.z * y21 + x3.w * y31;
    bk += bStep;
  }${lowRank ? lowRankTerm : ''}
  let o = (b * M + r0) * N4 + c0;
  let two = c0 + 1u < N4;
  C[o] = s00;
  if (two) { C[o + 1u] = s01; }
  if (r0 + 1u < M) { C[o + N4] = s10; if (two) { C[o + N4 + 1u] = s11; } }
  if (r0 + 2u < M) { C[o + 2u * N4] = s20; if (two) { C[o + 2u * N4 + 1u] = s21; } }
  if (r0 + 3u < M) { C[o + 3u * N4] = s30; if (two) { C[o + 3u * N4 + 1u] = s31; } }
}`,
  };
}

/**
 * Params: 0 total, 1 R (padded rows), 2 C, 3 Cp, 4 off, 5 sB, 6 sR, 7 sC (element units, i32), 8 valid rows.
 * Segmented over output rows (common.ts segmentedMain): the row's source offset once per segment.
 */
export function mmPackKernel(dt: DType): KernelDef {
  return {
    key: `mmPack:${dt}`,
    code: () => `${PRELUDE}${bind(1, 'X', dt)}${bind(2, 'Y', 'f32', true)}${loader('X', dt)}
fn segment(row: u32, j0: u32, j1: u32) {
  let R = pu(1u); let Cn = pu(2u); let Cp = pu(3u);
  let r = row % R;
  let base = pi(4u) + i32(row / R) * pi(5u) + i32(r) * pi(6u);
  let live = r < pu(8u);
  for (var c = j0; c < j1; c++) {
    var v = 0.0;
    if (live && c < Cn) { v = f32(ld_X(base + i32(c) * pi(7u))); }
    Y[row * Cp + c] = v;
  }
}
${segmentedMain('pu(3u)', 'pu(0u) / pu(3u)', `${ROWS_SEG}u`)}`,
  };
}

/**
 * Params (element units, i32 strides): 0 M, 1 N, 2 K, 3 batch base, 4 aOff, 5 aB, 6 aM, 7 aK,
 * 8 bOff, 9 bB, 10 bK, 11 bN.
 */
export function mmGeneralKernel(adt: DType, bdt: DType): KernelDef {
  return {
    key: `mmGeneral:${adt}:${bdt}`,
    code: () => `${PRELUDE}${bind(1, 'A', adt)}${bind(2, 'B', bdt)}${bind(3, 'C', 'f32', true)}${loader('A', adt)}${loader('B', bdt)}
@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let M = pu(0u); let N = pu(1u); let K = pu(2u);
  let n = g.x; let m = g.y;
  if (n >= N || m >= M) { return; }
  let b = g.z + pu(3u);
  var ai = pi(4u) + i32(b) * pi(5u) + i32(m) * pi(6u);
  var bi = pi(8u) + i32(b) * pi(9u) + i32(n) * pi(11u);
  let aK = pi(7u); let bK = pi(10u);
  var acc = 0.0;
  for (var k = 0u; k < K; k++) {
    acc += f32(ld_A(ai)) * f32(ld_B(bi));
    ai += aK; bi += bK;
  }
  C[(b * M + m) * N + n] = acc;
}`,
  };
}
