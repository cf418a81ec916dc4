/** Mixture-of-LoRA-experts layers: routed output vs a naive per-expert loop, gradients, training, save/load. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend, createWebGPUBackend, crossEntropy, Generator, noGrad, randn, scope, tensor, type Backend, type Tensor } from '@moegraph/tensor-webgpu';
import { loadGGUF, type Linear, type SwiGLU } from '@moegraph/llm';
import { stories260KPath } from '@moegraph/llm/node';
import { attachMoE, loadAdapter, saveAdapter, MixLoRAFFN, PluggedMoELinear, type MoEMethod } from '../index.js';
import { checkGradients, expectSaveLoadRoundTrip, ids, logits, maxDiff, setParam, trainLoss } from '../testing/helpers.js';
import { tinyConfig, tinyModel } from '../testing/tiny.js';

let gpu: Backend;
const cpu = createCpuBackend();
const f64 = createCpuBackend({ precision: 'f64' });
beforeAll(async () => {
  gpu = await createWebGPUBackend();
});
afterAll(() => gpu?.destroy());

const host = (t: Tensor) => Float64Array.from(t.dataSync());
/** y = x W for host arrays, W [in, out]. */
function mm(x: Float64Array, w: Float64Array, inF: number, outF: number): Float64Array {
  const y = new Float64Array(outF);
  for (let i = 0; i < inF; i++) for (let o = 0; o < outF; o++) y[o]! += x[i]! * w[i * outF + o]!;
  return y;
}
/** s * B_e(A_e x) from stacked A [N, in, r], B [N, r, out]. */
function expertDelta(x: Float64Array, A: Float64Array, B: Float64Array, e: number, inF: number, r: number, outF: number, s: number) {
  const h = mm(x, A.subarray(e * inF * r, (e + 1) * inF * r), inF, r);
  return mm(h, B.subarray(e * r * outF, (e + 1) * r * outF), r, outF).map((v) => v * s);
}
const silu = (v: number) => v / (1 + Math.exp(-v));

function randomizeAll(params: Tensor[], seed: number, scale = 0.3): Float64Array[] {
  const g = new Generator(seed);
  return params.map((p) => {
    const v = Float64Array.from({ length: p.size }, () => g.normal() * scale);
    setParam(p, v);
    return v;
  });
}

describe('routed experts equal a naive per-expert loop', () => {
  it('MixLoRA (fused experts, top-2)', async () => {
    const model = await tinyModel(cpu, tinyConfig({ dim: 8, ffnDim: 12 }));
    const adapter = attachMoE(model, { method: 'mixlora', numExperts: 4, topK: 2, r: 3, alpha: 6, attnLoRA: [] });
    randomizeAll(adapter.parameters(), 1);
    adapter.training = false;
    const layer = model.blocks[0]!.ffn as MixLoRAFFN;
    const base = layer.base as SwiGLU;
    const x = randn([6, 8], { backend: cpu, seed: 2 });
    const y = host(noGrad(() => layer.forward(x)));
    const idx = layer.routes[0]!.indices!.dataSync();
    const w = host(layer.routes[0]!.weights);
    const W = (l: unknown) => host((l as Linear).weight);
    const [Wg, Wu, Wd] = [W(base.gate), W(base.up), W(base.down)];
    const E = layer.experts;
    const [Ag, Bg, Au, Bu, Ad, Bd] = [E.gate!.A, E.gate!.B, E.up!.A, E.up!.B, E.down!.A, E.down!.B].map(host);
    const xs = host(x);
    const s = 2;
    for (let t = 0; t < 6; t++) {
      const xt = xs.subarray(t * 8, t * 8 + 8);
      const want = new Float64Array(8);
      for (let k = 0; k < 2; k++) {
        const e = idx[t * 2 + k]!;
        const gt = mm(xt, Wg, 8, 12).map((v, i) => v + expertDelta(xt, Ag!, Bg!, e, 8, 3, 12, s)[i]!);
        const ut = mm(xt, Wu, 8, 12).map((v, i) => v + expertDelta(xt, Au!, Bu!, e, 8, 3, 12, s)[i]!);
        const h = gt.map((v, i) => silu(v) * ut[i]!);
        const d = mm(h, Wd, 12, 8).map((v, i) => v + expertDelta(h, Ad!, Bd!, e, 12, 3, 8, s)[i]!);
        for (let i = 0; i < 8; i++) want[i]! += w[t * 2 + k]! * d[i]!;
      }
      expect(maxDiff(y.subarray(t * 8, t * 8 + 8), want)).toBeLessThan(1e-4);
    }
  });

  it.each([
    ['MoLA (plugged, top-2)', 'mola', 2],
    ['LoRAMoE (plugged, dense)', 'loramoe', 4],
  ] as const)('%s', async (_, method, K) => {
    const model = await tinyModel(cpu);
    const adapter = attachMoE(model, { method, numExperts: 4, topK: 2, r: 2, alpha: 2, targets: ['up'] });
    randomizeAll(adapter.parameters(), 3);
    adapter.training = false;
    const layer = (model.blocks[0]!.ffn as SwiGLU).up as unknown as PluggedMoELinear;
    const x = randn([5, 8], { backend: cpu, seed: 4 });
    const y = host(noGrad(() => layer.forward(x)));
    const route = layer.routes[0]!;
    const idx = route.indices ? route.indices.dataSync() : null;
    const w = host(route.weights);
    const [A, B, Wb] = [layer.experts.A, layer.experts.B, layer.base.weight].map(host);
    const xs = host(x);
    for (let t = 0; t < 5; t++) {
      const xt = xs.subarray(t * 8, t * 8 + 8);
      const want = mm(xt, Wb!, 8, 12);
      for (let k = 0; k < K; k++) {
        const e = idx ? idx[t * K + k]! : k;
        const d = expertDelta(xt, A!, B!, e, 8, 2, 12, 1);
        for (let i = 0; i < 12; i++) want[i]! += w[t * K + k]! * d[i]!;
      }
      expect(maxDiff(y.subarray(t * 12, t * 12 + 12), want)).toBeLessThan(1e-4);
    }
  });
});

describe('gradients match central finite differences (float64, tiny model)', () => {
  it.each(['mixlora', 'loramoe', 'mola'] as const)('%s', async (method) => {
    const model = await tinyModel(f64);
    const adapter = attachMoE(model, { method, numExperts: 3, topK: 2, r: 2, alpha: 4, seed: 7 });
    const params = adapter.parameters();
    const values = randomizeAll(params, 8);
    adapter.training = false;
    const x = ids(f64, [1, 5, 9, 3, 7]);
    const y = tensor(Int32Array.from([5, 9, 3, 7, 2]), [1, 5], { dtype: 'i32', backend: f64 });
    const lossOf = () => noGrad(() => scope(() => crossEntropy(model.forward(x), y).dataSync()[0]!));
    scope(() => crossEntropy(model.forward(x), y).backward());
    expect(checkGradients(params, values, lossOf)).toEqual([]);
  });
});

describe.each(['mixlora', 'mingmoe', 'loramoe', 'mola'] as MoEMethod[])('%s on stories260K', (method) => {
  it('changes nothing at initialisation, trains, exposes routes, and round-trips through save/load', async () => {
    const { model, tokenizer } = await loadGGUF(stories260KPath(), { backend: gpu });
    const x = ids(gpu, tokenizer.encode('Once upon a time', { addBos: true }));
    const before = await logits(model, x);
    const numExperts = method === 'mola' ? [2, 2, 4, 4, 4] : 4;
    const adapter = attachMoE(model, { method, numExperts, topK: 2, r: 4, alpha: 8, seed: 3 });
    expect(maxDiff(await logits(model, x), before)).toBeLessThan(1e-5);
    const routes = adapter.routes();
    const perForward = method === 'mixlora' || method === 'mingmoe' ? 5 : method === 'loramoe' ? 15 : 35;
    expect(routes.length).toBe(perForward);
    expect(routes[0]!.probs.shape[1]).toBe(method === 'mola' ? 2 : 4);
    adapter.clearRoutes();
    const [first, last] = await trainLoss(model, adapter, 30, (s) => tokenizer.encode(s, { addBos: true }));
    expect(last).toBeLessThan(first * 0.8);
    const { loaded } = await expectSaveLoadRoundTrip({ saveAdapter, loadAdapter }, model, adapter, x, before);
    loaded.detach();
    model.dispose();
  });
});

it('counts trainable parameters per method', async () => {
  const { model } = await loadGGUF(stories260KPath(), { backend: cpu });
  const d = 64;
  const f = 172;
  const mix = attachMoE(model, { method: 'mixlora', numExperts: 8, topK: 2, r: 2, alpha: 4, attnLoRA: [] });
  // Per layer: router d*N + N experts x r*(d+f) for gate, up and r*(f+d) for down.
  expect(mix.numParameters()).toBe(5 * (d * 8 + 8 * 3 * 2 * (d + f)));
  mix.detach();
  const lm = attachMoE(model, { method: 'loramoe', numExperts: 4, r: 2, alpha: 4 });
  // One router per linear, sized by that linear's input (d for gate/up, f for down).
  expect(lm.numParameters()).toBe(5 * (2 * d * 4 + f * 4 + 3 * 4 * 2 * (d + f)));
  lm.detach();
  model.dispose();
});
