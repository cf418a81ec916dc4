/** Plumbing shared by every op: output construction, graph recording, operands, broadcasting. */
import type { Backend, Storage, View } from '../backend.js';
import type { DType } from '../dtype.js';
import { constantStorage, getBackend, isGradEnabled } from '../engine.js';
import { contiguousStrides, fmtShape, shapesEqual, type Shape } from '../shape.js';
import { Tensor, type TensorLike } from '../tensor.js';

export type GradFn = (g: Tensor) => (Tensor | null)[];

/** Record `out` as produced by `op` from `inputs` when any input needs a gradient. */
export function record(out: Tensor, op: string, inputs: Tensor[], backward: GradFn): Tensor {
  if (isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out._node = { op, inputs, backward };
  }
  return out;
}

/** Wrap a fresh storage from a kernel as the op's output. */
export function output(op: string, s: Storage, shape: Shape, inputs: Tensor[], backward?: GradFn): Tensor {
  const out = Tensor.fromStorage(s, shape);
  return backward ? record(out, op, inputs, backward) : out;
}

/** The one backend all tensor operands live on; mixing backends is an error naming the op. */
export function backendOf(op: string, ...xs: TensorLike[]): Backend {
  let b: Backend | null = null;
  for (const x of xs) {
    if (!(x instanceof Tensor)) continue;
    const xb = x.backend;
    if (b && xb !== b) throw new Error(`${op}: operands live on different backends (${b.name} and ${xb.name}); move one with toBackend()`);
    b = xb;
  }
  return b ?? getBackend();
}

/** A scalar as a rank-0 view of a cached constant storage. */
export function scalarView(b: Backend, v: number, dtype: DType): View {
  return { storage: constantStorage(b, v, dtype), shape: [], strides: [], offset: 0 };
}

export function operandView(op: string, x: TensorLike, b: Backend, dtype: DType): View {
  return x instanceof Tensor ? x.view(op) : scalarView(b, x, dtype);
}

/** View `v` broadcast to `shape` (leading size-1 dims added, stride 0 where it repeats). */
export function expandView(op: string, v: View, shape: Shape): View {
  const r = shape.length;
  const off = r - v.shape.length;
  if (off < 0) throw new Error(`${op}: cannot broadcast ${fmtShape(v.shape)} to ${fmtShape(shape)}`);
  const strides = new Array<number>(r).fill(0);
  for (let i = 0; i < v.shape.length; i++) {
    const d = v.shape[i]!;
    if (d === shape[off + i]) strides[off + i] = d === 1 ? 0 : v.strides[i]!;
    else if (d === 1) strides[off + i] = 0;
    else throw new Error(`${op}: cannot broadcast ${fmtShape(v.shape)} to ${fmtShape(shape)}`);
  }
  return { storage: v.storage, shape: [...shape], strides, offset: v.offset };
}

/** Sum a broadcast gradient back to the shape of the input it flows to. */
export function sumToShape(g: Tensor, shape: Shape, sum: (t: Tensor, axes: number[], keep: boolean) => Tensor): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  let r = sum(g, axes, true);
  if (lead > 0 || !shapesEqual(r.shape, shape)) {
    const v = r.viewAs(shape, contiguousStrides(shape));
    r.dispose();
    r = v;
  }
  return r;
}

/** f16 is storage-only: promote it to f32 before math (cast records its own gradient). */
export function requireDType(op: string, t: Tensor, allowed: readonly DType[]): void {
  if (!allowed.includes(t.dtype)) {
    throw new Error(`${op}: dtype ${t.dtype} not supported (expects ${allowed.join(' or ')}), tensor ${fmtShape(t.shape)}`);
  }
}

/** Run `fn` on contiguous storages of `ts` (a kernel's operands), disposing the copies made for it. */
export function onStorages<T>(op: string, ts: Tensor[], fn: (s: Storage[]) => T): T {
  const cs = ts.map((t) => t.contiguous());
  try {
    return fn(cs.map((c) => c.view(op).storage));
  } finally {
    cs.forEach((c, i) => { if (c !== ts[i]) c.dispose(); });
  }
}
