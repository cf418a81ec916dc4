import type { Backend } from './backend.js';
import type { TypedArray } from './dtype.js';
import { tensor } from './ops/create.js';
import type { Tensor } from './tensor.js';

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
