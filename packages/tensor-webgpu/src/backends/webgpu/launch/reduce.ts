/** Launch of the reduction kernels (wgsl/reduce.ts) over the trailing dims of a strided view. */
import type { ReduceOp, Storage, View } from '../../../backend.js';
import { numel } from '../../../shape.js';
import { grid, grid1D, type WebGPURuntime } from '../runtime.js';
import { checkRank, coalesce } from '../strided.js';
import { ROWS_SEG, segmentedThreads } from '../wgsl/common.js';
import { reduceKernel, reduceOutDType } from '../wgsl/reduce.js';

export function reduce(rt: WebGPURuntime, op: ReduceOp, x: View, reduceDims: number): Storage {
  const s = rt.view(x, `reduce ${op}`);
  const rank = x.shape.length;
  if (!Number.isInteger(reduceDims) || reduceDims < 0 || reduceDims > rank) {
    throw new Error(`webgpu: reduce ${op}: reduceDims ${reduceDims} invalid for rank ${rank}`);
  }
  const outer = x.shape.slice(0, rank - reduceDims);
  const inner = x.shape.slice(rank - reduceDims);
  const nOut = numel(outer);
  const nRed = numel(inner);
  const Lo = coalesce(outer, [x.strides.slice(0, rank - reduceDims)], [x.offset]);
  const Li = coalesce(inner, [x.strides.slice(rank - reduceDims)], [0]);
  checkRank(`reduce ${op}`, Lo.shape.length);
  checkRank(`reduce ${op}`, Li.shape.length);
  const out = rt.alloc(nOut, reduceOutDType(op, s.dtype));
  if (nOut === 0) return out;
  // thread per output when outputs are many or short (workgroup barriers are costly on lavapipe)
  const seq = nRed <= 64 || nOut >= 512;
  const innerOut = Lo.shape[Lo.shape.length - 1]!;
  // see wgsl/reduce.ts: a thread per 32 outputs pays off when each output reads few elements
  const seg = nRed >= 64 ? 1 : ROWS_SEG;
  const k = reduceKernel(op, s.dtype, seq ? 'seq' : 'wg', Li.shape.length === 1);
  rt.dispatch(k, [s, out], (p) => {
    p.u(0, nOut);
    p.u(1, nRed);
    p.u(2, Lo.shape.length);
    p.u(3, Li.shape.length);
    p.i(4, x.offset);
    p.u(5, seg);
    for (let d = 0; d < Lo.shape.length; d++) {
      p.u(8 + d, Lo.shape[d]!);
      p.i(16 + d, Lo.strides[0]![d]!);
    }
    for (let d = 0; d < Li.shape.length; d++) {
      p.u(24 + d, Li.shape[d]!);
      p.i(32 + d, Li.strides[0]![d]!);
    }
  }, seq ? grid1D(segmentedThreads(nOut / innerOut, innerOut, seg)) : grid(nOut));
  return out;
}
