/** Parameter initialisers, seeded through the runtime's Generator. */
import { tensor, type Backend, type Generator, type Tensor } from '@moegraph/tensor-webgpu';

/** PyTorch's kaiming_uniform_(a = sqrt(5)) for a weight with `fanIn` inputs: U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
export function kaimingUniform(shape: number[], fanIn: number, g: Generator, backend: Backend, name?: string): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  const n = shape.reduce((p, d) => p * d, 1);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (g.uniform() * 2 - 1) * bound;
  return tensor(a, shape, { backend, requiresGrad: true, name });
}

export function normalInit(shape: number[], std: number, g: Generator, backend: Backend, name?: string): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = g.normal() * std;
  return tensor(a, shape, { backend, requiresGrad: true, name });
}

export function zerosParam(shape: number[], backend: Backend, name?: string): Tensor {
  return tensor(new Float32Array(shape.reduce((p, d) => p * d, 1)), shape, { backend, requiresGrad: true, name });
}
