/**
 * Reductions over the trailing dims of a strided view.
 * Params: 0 nOut, 1 nRed, 2 outer rank, 3 inner rank, 4 offset, 5 segment ('seq'), 8..15 outer shape,
 * 16..23 outer strides, 24..31 inner shape, 32..39 inner strides.
 * 'seq': a thread per segment of word-5 consecutive outputs along the innermost outer dim, looping
 *   over each output's elements (many outputs). Long segments run the outer offset's div/mod chain
 *   once per segment (integer division is scalarised per lane on lavapipe, see common.ts
 *   segmentedMain); segments of 1 keep neighbouring lanes on neighbouring outputs, which wins when
 *   each output reads enough elements to amortise the division.
 * 'wg': one workgroup per output with a shared-memory tree reduction (few, large outputs).
 */
import type { ReduceOp } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import type { KernelDef } from '../pipelines.js';
import { PRELUDE, bind, ctype, loader, mainPerGroup, segmentedMain } from './common.js';

export const REDUCE_WG = 32;

function combineFns(op: ReduceOp, t: 'f32' | 'i32'): string {
  const nanA = t === 'f32' ? 'isnan_(a)' : 'false';
  const nanV = t === 'f32' ? 'isnan_(v)' : 'false';
  const cmp = op === 'max' || op === 'argmax' ? '>' : '<';
  if (op === 'sum') return '';
  // better(v at index j) than (a at index ai)? EMPTY index means no value yet; NaN wins; ties -> lowest index.
  return `
const EMPTY: u32 = 0xffffffffu;
fn better(v: ${t}, j: u32, a: ${t}, ai: u32) -> bool {
  if (ai == EMPTY) { return true; }
  let nv = ${nanV};
  let na = ${nanA};
  if (nv && na) { return j < ai; }
  if (nv) { return true; }
  if (na) { return false; }
  return v ${cmp} a || (v == a && j < ai);
}
`;
}

function offsetFns(inner1: boolean): string {
  const inner = inner1
    ? `fn innerOff(j: u32) -> i32 { return i32(j) * pi(32u); }`
    : `fn innerOff(j: u32) -> i32 {
  var o = 0; var rem = j;
  for (var k = pu(3u); k > 0u; k--) {
    let d = k - 1u; let s = pu(24u + d);
    o += i32(rem % s) * pi(32u + d); rem = rem / s;
  }
  return o;
}`;
  return `
fn outerOff(i: u32) -> i32 {
  var o = pi(4u); var rem = i;
  for (var k = pu(2u); k > 0u; k--) {
    let d = k - 1u; let s = pu(8u + d);
    o += i32(rem % s) * pi(16u + d); rem = rem / s;
  }
  return o;
}
${inner}
`;
}

export function reduceOutDType(op: ReduceOp, dt: DType): DType {
  return op === 'argmax' || op === 'argmin' ? 'i32' : dt === 'i32' ? 'i32' : 'f32';
}

export function reduceKernel(op: ReduceOp, dt: DType, mode: 'seq' | 'wg', inner1: boolean): KernelDef {
  const t = ctype(dt);
  const isArg = op === 'argmax' || op === 'argmin';
  const outT = isArg ? 'i32' : t;
  const init =
    op === 'sum' ? (t === 'f32' ? '0.0' : '0')
    : op === 'max' || op === 'argmax' ? (t === 'f32' ? '-inf_()' : 'i32(-2147483647 - 1)')
    : (t === 'f32' ? 'inf_()' : '2147483647');
  const result = isArg ? 'i32(select(ai, 0u, ai == EMPTY))' : 'a';
  const head = `${PRELUDE}${bind(1, 'X', dt)}${bind(2, 'Y', outT, true)}${loader('X', dt)}${combineFns(op, t)}${offsetFns(inner1)}`;
  const key = `reduce:${op}:${dt}:${mode}:${inner1 ? 1 : 'n'}`;
  const step =
    op === 'sum'
      ? 'a = a + v;'
      : 'if (better(v, j, a, ai)) { a = v; ai = j; }';
  if (mode === 'seq') {
    const inner = 'pu(8u + pu(2u) - 1u)';
    return {
      key,
      code: () => `${head}
fn segment(row: u32, j0: u32, j1: u32) {
  let last = pu(2u) - 1u;
  let os = pi(16u + last);
  let nRed = pu(1u);
  let g0 = row * pu(8u + last);
  var base = outerOff(g0 + j0);
  for (var q = g0 + j0; q < g0 + j1; q++) {
    var a: ${t} = ${init};
    var ai: u32 = 0xffffffffu;
    for (var j = 0u; j < nRed; j++) {
      let v = ld_X(base + innerOff(j));
      ${step}
    }
    Y[q] = ${result};
    base += os;
  }
}
${segmentedMain(inner, `pu(0u) / ${inner}`, 'pu(5u)')}`,
    };
  }
  const W = REDUCE_WG;
  const merge =
    op === 'sum'
      ? 'sv[li] = sv[li] + sv[li + s];'
      : 'if (better(sv[li + s], si[li + s], sv[li], si[li])) { sv[li] = sv[li + s]; si[li] = si[li + s]; }';
  return {
    key,
    code: () => `${head}
var<workgroup> sv: array<${t}, ${W}>;
var<workgroup> si: array<u32, ${W}>;
${mainPerGroup(W)}
  let nOut = pu(0u);
  let live = item < nOut;
  let nRed = select(0u, pu(1u), live);
  let base = select(0, outerOff(item), live);
  var a: ${t} = ${init};
  var ai: u32 = 0xffffffffu;
  for (var j = li; j < nRed; j += ${W}u) {
    let v = ld_X(base + innerOff(j));
    ${step}
  }
  sv[li] = a;
  si[li] = ai;
  workgroupBarrier();
  for (var s = ${W / 2}u; s > 0u; s = s >> 1u) {
    if (li < s) { ${merge} }
    workgroupBarrier();
  }
  if (li == 0u && live) {
    let a = sv[0];
    let ai = si[0];
    Y[item] = ${result};
  }
}`,
  };
}
