/** The LoRA linear's fused forward (one matmulAddLowRank) against its unfused reference composition. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend, createWebGPUBackend, Generator, mul, sum, tensor, type Backend, type Tensor } from '@moegraph/tensor-webgpu';
import { Linear } from '@moegraph/llm';
import { LoRALinear } from './lora.js';

let gpu: Backend;
beforeAll(async () => {
  gpu = await createWebGPUBackend();
});
afterAll(() => gpu?.destroy());

const randn = (be: Backend, shape: number[], g: Generator) =>
  tensor(Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => g.normal()), shape, { backend: be });

/** Output and the A, B gradients of one forward/backward, with B random so every path carries signal. */
async function pass(layer: LoRALinear, x: Tensor, weights: Tensor): Promise<Float32Array[]> {
  layer.A.grad?.dispose();
  layer.B.grad?.dispose();
  layer.A.grad = null;
  layer.B.grad = null;
  const y = layer.forward(x);
  sum(mul(y, weights)).backward();
  const out = (await Promise.all([y.data(), layer.A.grad!.data(), layer.B.grad!.data()])) as Float32Array[];
  y.dispose();
  return out;
}

describe.each(['cpu', 'webgpu'])('LoRALinear on %s', (bn) => {
  it.each([[false], [true]])('fused forward and gradients match the reference (bias: %s)', async (withBias) => {
    const be = bn === 'cpu' ? createCpuBackend() : gpu;
    const g = new Generator(3);
    const [inF, outF, r] = [24, 18, 3];
    const base = new Linear('l', randn(be, [inF, outF], g), withBias ? randn(be, [outF], g) : null);
    const layer = new LoRALinear('l', base, { r, alpha: 6, generator: g });
    layer.B.assign(Float32Array.from({ length: r * outF }, () => g.normal()));
    const x = randn(be, [2, 5, inF], g);
    const weights = randn(be, [2, 5, outF], g);
    const fused = await pass(layer, x, weights);
    layer.fused = false;
    const ref = await pass(layer, x, weights);
    fused.forEach((a, k) => {
      const err = Math.max(...Array.from(a, (v, i) => Math.abs(v - ref[k]![i]!)));
      expect(err, `output ${k} (0 y, 1 dA, 2 dB)`).toBeLessThan(1e-4);
    });
  });
});
