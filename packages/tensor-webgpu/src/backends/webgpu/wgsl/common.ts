/** WGSL snippets shared by every kernel: the uniform parameter block, loaders, NaN helpers. */
import type { DType } from '../../../dtype.js';

/** Threads per workgroup of the 1-D kernels. */
export const WG = 256;
/** Uniform parameter words per dispatch (one 256-byte arena slot). */
export const PARAM_WORDS = 64;

/**
 * Parameters live in a uniform block of 64 u32 words; kernels read them with pu/pi/pf(index).
 * Layout used by the strided kernels: 0 n, 1 rank, 2..4 element offsets of inputs 0..2,
 * 5..7 kernel extras, 8..15 shape, 16..23 / 24..31 / 32..39 strides of inputs 0 / 1 / 2.
 */
export const PRELUDE = /* wgsl */ `
struct Params { v: array<vec4<u32>, 16> }
@group(1) @binding(0) var<uniform> P: Params;
fn pu(i: u32) -> u32 { return P.v[i >> 2u][i & 3u]; }
fn pi(i: u32) -> i32 { return bitcast<i32>(P.v[i >> 2u][i & 3u]); }
fn pf(i: u32) -> f32 { return bitcast<f32>(P.v[i >> 2u][i & 3u]); }
fn isnan_(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
// NaN and infinity must not be constant expressions in WGSL: mix in a runtime zero.
fn rt0_() -> u32 { return min(P.v[15].w, 0u); }
fn nan_() -> f32 { return bitcast<f32>(0x7fc00000u + rt0_()); }
fn inf_() -> f32 { return bitcast<f32>(0x7f800000u + rt0_()); }
`;

/**
 * Most 1-D kernels are grid-stride loops: a capped number of workgroups (GRID_CAP) each loop over
 * the items, which is faster on lavapipe than one thread per item. The kernel source continues
 * after MAIN_1D with the body of `fn body(gi: u32)`; `return` in it skips that item.
 * The item count is param word 0 unless `count` says otherwise.
 */
export const GRID_CAP = 1024;
export function main1D(count = 'pu(0u)'): string {
  return /* wgsl */ `
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let total = ${count};
  let step = nwg.x * nwg.y * ${WG}u;
  for (var gi = (wid.y * nwg.x + wid.x) * ${WG}u + li; gi < total; gi += step) { body(gi); }
}
fn body(gi: u32) {`;
}
export const MAIN_1D = main1D();

/** Entry point header of a one-workgroup-per-item kernel: `item` is the flat workgroup index, `li` the lane. */
export function mainPerGroup(wg: number): string {
  return /* wgsl */ `
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let item = wid.y * nwg.x + wid.x;`;
}

/** WGSL array element type holding a dtype in a storage buffer (f16 packs two per u32). */
export function arrType(dt: DType): string {
  return dt === 'f32' ? 'f32' : dt === 'i32' ? 'i32' : 'u32';
}

/** Compute type of a dtype inside kernels. */
export function ctype(dt: DType): 'f32' | 'i32' {
  return dt === 'i32' ? 'i32' : 'f32';
}

export function bind(i: number, name: string, dt: DType | 'u32', rw = false): string {
  const t = dt === 'u32' ? 'u32' : arrType(dt);
  return `@group(0) @binding(${i}) var<storage, ${rw ? 'read_write' : 'read'}> ${name}: array<${t}>;\n`;
}

/** `fn ld_<name>(i: i32) -> f32|i32` reading element i of a storage (f16 unpacked from u32 words). */
export function loader(name: string, dt: DType): string {
  if (dt === 'f16') {
    return `fn ld_${name}(i: i32) -> f32 { let w = unpack2x16float(${name}[u32(i) >> 1u]); return select(w.x, w.y, (i & 1) == 1); }\n`;
  }
  return `fn ld_${name}(i: i32) -> ${ctype(dt)} { return ${name}[i]; }\n`;
}

/** Convert an expression of compute type `from` to `to` (float to i32 truncates toward zero). */
export function conv(expr: string, from: 'f32' | 'i32', to: 'f32' | 'i32'): string {
  if (from === to) return expr;
  return to === 'f32' ? `f32(${expr})` : `i32(${expr})`;
}

/**
 * Source offsets of up to 3 strided inputs for flat output index `i`.
 * rank1 = true: shape was coalesced to one dim (offset + i * stride).
 */
export function offsetsFn(rank: RankKind): string {
  if (rank === 'c' || rank === 'v4') {
    return `
fn offs(i: u32) -> vec3<i32> { return vec3<i32>(pi(2u), pi(3u), pi(4u)) + vec3<i32>(i32(i)); }
`;
  }
  if (rank === 1) {
    return /* wgsl */ `
fn offs(i: u32) -> vec3<i32> {
  let c = i32(i);
  return vec3<i32>(pi(2u) + c * pi(16u), pi(3u) + c * pi(24u), pi(4u) + c * pi(32u));
}
`;
  }
  if (rank === 2) {
    return /* wgsl */ `
fn offs(i: u32) -> vec3<i32> {
  let s1 = pu(9u);
  let c0 = i32(i / s1);
  let c1 = i32(i % s1);
  return vec3<i32>(pi(2u) + c0 * pi(16u) + c1 * pi(17u), pi(3u) + c0 * pi(24u) + c1 * pi(25u),
                   pi(4u) + c0 * pi(32u) + c1 * pi(33u));
}
`;
  }
  if (rank === 'r') {
    // ROWS_MAIN sets the row's base offsets once; per element only the inner dim's stride is applied
    return /* wgsl */ `
var<private> rowBase: vec3<i32>;
var<private> rowStep: vec3<i32>;
var<private> rowStart: u32;
fn offs(i: u32) -> vec3<i32> { return rowBase + i32(i - rowStart) * rowStep; }
${outerOffs('rowOffs', 1)}`;
  }
  return outerOffs('offs', 0);
}

/** `fn name(i)`: offsets of flat index i over all dims but the last `skip` (rank is word 1). */
function outerOffs(name: string, skip: number): string {
  // counting e down from the rank keeps the loop bound from wrapping when rank <= skip
  return /* wgsl */ `
fn ${name}(i: u32) -> vec3<i32> {
  var o = vec3<i32>(pi(2u), pi(3u), pi(4u));
  var rem = i;
  for (var e = pu(1u); e > ${skip + 1}u; e--) {
    let d = e - ${skip + 1}u;
    let s = pu(8u + d);
    let c = i32(rem % s);
    rem = rem / s;
    o += c * vec3<i32>(pi(16u + d), pi(24u + d), pi(32u + d));
  }
  return o + i32(rem) * vec3<i32>(pi(16u), pi(24u), pi(32u));
}
`;
}

/** Elements of a row that one thread of a segmented kernel walks (amortising its offset computation). */
export const ROWS_SEG = 32;

/**
 * Entry of a segmented kernel: rows of `rowLen` items (WGSL expressions, like `rows` and `seg`)
 * are cut into segments of `seg`, one per thread (grid-stride), and the kernel's
 * `fn segment(row: u32, j0: u32, j1: u32)` walks items j0..j1 of its row. lavapipe runs integer
 * division per lane in scalar code, so computing a row's offsets once per segment instead of a
 * div/mod chain per item made strided copies and short-row reductions 3-8x cheaper.
 */
export function segmentedMain(rowLen: string, rows: string, seg: string): string {
  return /* wgsl */ `
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let rowLen = ${rowLen};
  let seg = ${seg};
  let segs = (rowLen + seg - 1u) / seg;
  let total = (${rows}) * segs;
  let step = nwg.x * nwg.y * ${WG}u;
  for (var it = (wid.y * nwg.x + wid.x) * ${WG}u + li; it < total; it += step) {
    let row = it / segs;
    let j0 = (it - row * segs) * seg;
    segment(row, j0, min(j0 + seg, rowLen));
  }
}
`;
}

/** Threads of a segmented kernel over `rows` rows of `rowLen` items. */
export function segmentedThreads(rows: number, rowLen: number, seg = ROWS_SEG): number {
  return rows * Math.ceil(rowLen / seg);
}

/**
 * Entry of the 'r' (rows) variant: segments of the innermost dim; the row's base offsets are
 * computed once per segment, then each element steps by the inner strides.
 */
const INNER = 'pu(8u + pu(1u) - 1u)';
const ROWS_MAIN = /* wgsl */ `
fn segment(row: u32, j0: u32, j1: u32) {
  let last = pu(1u) - 1u;
  rowStep = vec3<i32>(pi(16u + last), pi(24u + last), pi(32u + last));
  rowStart = row * pu(8u + last);
  rowBase = rowOffs(row);
  for (var j = j0; j < j1; j++) { body(rowStart + j); }
}
${segmentedMain(INNER, `pu(0u) / ${INNER}`, `${ROWS_SEG}u`)}
fn body(gi: u32) {`;

/** Entry of a strided kernel of kind `rank`: the body follows, as after MAIN_1D. */
export function stridedMain(rank: RankKind): string {
  return rank === 'r' ? ROWS_MAIN : MAIN_1D;
}

/** Innermost dims at least this long run the rows variant (shorter rows would idle most lanes). */
export const ROWS_MIN_INNER = 8;

/**
 * Kernel variant of a coalesced layout: 'c' all unit strides, 1 / 2 / 'n' by rank, 'r' for rank
 * >= 2 with a long innermost dim (unless `rows` is false: kernels that handle two elements per
 * thread); 'v4' (chosen by the caller for unary/binary) is 'c' with vec4 loads when sizes and
 * offsets are multiples of 4.
 */
export type RankKind = 'c' | 1 | 2 | 'n' | 'r' | 'v4';
export function rankKind(shape: readonly number[], strides: readonly (readonly number[])[], rows = true): RankKind {
  if (shape.length <= 1) return strides.every((s) => s[0] === 1) ? 'c' : 1;
  if (rows && shape[shape.length - 1]! >= ROWS_MIN_INNER) return 'r';
  return shape.length === 2 ? 2 : 'n';
}

/** erf by Abramowitz-Stegun 7.1.26, as the contract requires. */
export const ERF = /* wgsl */ `
fn erf_(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * z);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-z * z);
  return select(y, -y, x < 0.0);
}
`;
