import type { Backend } from './backend.js';
import type { TypedArray } from './dtype.js';
import { tensor } from './ops/create.js';
import type { Tensor } from './tensor.js';
import { fmtShape } from './shape.js';
import { captureUpload } from './capture/state.js';

/** Copy a tensor to another backend (a host round trip); the copy is a new leaf. */
export async function toBackend(t: Tensor, backend: Backend): Promise<Tensor> {
  const data = await t.data();
  const out = tensor(t.dtype === 'i32' ? data : Float32Array.from(data), t.shape, { dtype: t.dtype === 'f16' ? 'f32' : t.dtype, backend });
  return t.dtype === 'f16' ? out.cast('f16') : out;
}

/** Read several tensors in one round trip (one flush and one map per backend). */
export async function readAll(ts: readonly Tensor[]): Promise<TypedArray[]> {
  const out = new Array<TypedArray>(ts.length);
  const byBackend = new Map<Backend, number[]>();
  ts.forEach((t, i) => {
    const list = byBackend.get(t.backend) ?? [];
    list.push(i);
    byBackend.set(t.backend, list);
  });
  await Promise.all(
    [...byBackend].map(async ([b, idx]) => {
      const data = await b.read(idx.map((i) => ts[i]!.view('readAll')));
      idx.forEach((i, k) => (out[i] = data[k]!));
    }),
  );
  return out;
}

/**
 * Overwrite a contiguous f32 or i32 tensor's values in place from host data (its storage stays
 * the same, so a captured step that reads it sees the new values on its next run()).
 */
export function assign(t: Tensor, data: TypedArray | ArrayLike<number>): Tensor {
  const what = `assign: tensor${t.name ? ` '${t.name}'` : ''} ${fmtShape(t.shape)}`;
  if (t.dtype === 'f16') throw new Error(`${what} is f16; assign writes f32 or i32 tensors`);
  if (!t.isContiguous) throw new Error(`${what} is a strided view; assign needs a contiguous tensor`);
  if (data.length !== t.size) throw new Error(`${what} has ${t.size} elements, got ${data.length} values`);
  captureUpload('assign()');
  const be = t.backend;
  const dst = t.buffer('assign').storage;
  const tmp = be.upload(data, t.dtype);
  be.accumulate(dst, t.offset, { storage: tmp, shape: [t.size], strides: [1], offset: 0 }, 'copy');
  be.release(tmp);
  return t;
}
