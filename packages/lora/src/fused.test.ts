/**
 * The LoRA and DoRA linears' fused paths against their unfused reference compositions (`fused =
 * false`): output and the gradients of x, A, B (and DoRA's magnitude). Without dropout LoRA runs
 * loraLinear (fused input gradient) and DoRA scales it; with dropout LoRA runs matmulAddLowRank on
 * the dropped input, replayed from the same generator state so both paths draw the same mask.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend, createWebGPUBackend, Generator, mul, sum, tensor, type Backend, type Tensor } from '@moegraph/tensor-webgpu';
import { Linear } from '@moegraph/llm';
import { DoRALinear, LoRALinear } from './lora.js';

let gpu: Backend;
beforeAll(async () => {
  gpu = await createWebGPUBackend();
});
afterAll(() => gpu?.destroy());

const randn = (be: Backend, shape: number[], g: Generator) =>
  tensor(Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => g.normal()), shape, { backend: be });

/** Output and the gradients of x and every parameter for one forward/backward, from generator state `state`. */
async function pass(layer: LoRALinear, x: Tensor, weights: Tensor, g: Generator, state: number): Promise<Float32Array[]> {
  const leaves = [x, ...layer.parameters()];
  for (const p of leaves) {
    p.grad?.dispose();
    p.grad = null;
  }
  g.setState(state);
  const y = layer.forward(x);
  sum(mul(y, weights)).backward();
  const out = (await Promise.all([y, ...leaves.map((p) => p.grad!)].map((t) => t.data()))) as Float32Array[];
  y.dispose();
  return out;
}

const cases: [string, boolean, number][] = [
  ['lora', false, 0], ['lora', true, 0], ['lora', true, 0.3], ['dora', false, 0], ['dora', true, 0], ['dora', true, 0.3],
];

describe.each(['cpu', 'webgpu'])('LoRA linears on %s', (bn) => {
  it.each(cases)('%s fused forward and gradients match the reference (bias: %s, dropout %f)', async (method, withBias, p) => {
    const be = bn === 'cpu' ? createCpuBackend() : gpu;
    const g = new Generator(3);
    const [inF, outF, r] = [24, 18, 3];
    const base = new Linear('l', randn(be, [inF, outF], g), withBias ? randn(be, [outF], g) : null);
    const opts = { r, alpha: 6, dropout: p, generator: g };
    const layer = method === 'dora' ? new DoRALinear('l', base, opts) : new LoRALinear('l', base, opts);
    layer.B.assign(Float32Array.from({ length: r * outF }, () => g.normal()));
    const x = randn(be, [2, 5, inF], g).requireGrad();
    const weights = randn(be, [2, 5, outF], g);
    const state = g.getState();
    const fused = await pass(layer, x, weights, g, state);
    layer.fused = false;
    const ref = await pass(layer, x, weights, g, state);
    expect(fused.length).toBe(method === 'dora' ? 5 : 4);
    fused.forEach((a, k) => {
      const scale = Math.max(1, ...Array.from(ref[k]!, Math.abs));
      const err = Math.max(...Array.from(a, (v, i) => Math.abs(v - ref[k]![i]!)));
      expect(err / scale, `output ${k} (0 y, 1 dx, 2 dA, 3 dB, 4 dm)`).toBeLessThan(1e-5);
    });
  });
});
