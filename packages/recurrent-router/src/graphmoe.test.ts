/** Properties of attachGraphMoE: reduction to the base MoE, routes per round, gradients, training, save/load. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend, createWebGPUBackend, crossEntropy, Generator, noGrad, scope, tensor, type Backend, type Tensor } from '@moegraph/tensor-webgpu';
import { loadGGUF, SwiGLU, type LlamaModel } from '@moegraph/llm';
import { stories260KPath } from '@moegraph/llm/node';
import { attachers, attachMoE, loadAdapter, saveAdapter, MixLoRAFFN, type MoEMethod } from '@moegraph/lora';
import { checkGradients, expectSaveLoadRoundTrip, ids, logits, maxDiff, setParam, trainLoss } from '../../lora/src/testing/helpers.js';
import { tinyConfig, tinyModel } from '../../lora/src/testing/tiny.js';
import { attachGraphMoE, RecurrentFFN, type GraphMoEConfig } from './index.js';

let gpu: Backend;
const cpu = createCpuBackend();
const f64 = createCpuBackend({ precision: 'f64' });
beforeAll(async () => {
  gpu = await createWebGPUBackend();
});
afterAll(() => gpu?.destroy());

function randomize(params: Tensor[], seed: number, scale = 0.3): Float64Array[] {
  const g = new Generator(seed);
  return params.map((p) => {
    const v = Float64Array.from({ length: p.size }, () => g.normal() * scale);
    setParam(p, v);
    return v;
  });
}
const tiny = (b: Backend) => tinyModel(b, tinyConfig({ nLayers: 2 }));
const small = { numExperts: 4, topK: 2, r: 2, alpha: 4 };
const X = [1, 5, 9, 3, 7, 11];

/** Logits with every block's recurrent wrapper temporarily replaced by the mixture FFN it wraps. */
async function baseLogits(model: LlamaModel, x: Tensor): Promise<Float64Array> {
  const saved = model.blocks.map((b) => b.ffn);
  model.blocks.forEach((b) => (b.ffn = (b.ffn as RecurrentFFN).inner));
  try {
    return await logits(model, x);
  } finally {
    model.blocks.forEach((b, i) => (b.ffn = saved[i]!));
  }
}

describe('reduces to the base MoE', () => {
  it.each(['mixlora', 'loramoe', 'mola'] as MoEMethod[])('T = 1 is bit-identical to the base MoE (%s, trained-looking weights)', async (method) => {
    const model = await tiny(cpu);
    const x = ids(cpu, X);
    const adapter = attachGraphMoE(model, { base: { method, ...small, dropout: 0.1 }, rounds: 1, wgInit: 'xavier', seed: 5 });
    randomize(adapter.parameters(), 2);
    adapter.training = false;
    const want = await baseLogits(model, x);
    expect(maxDiff(await logits(model, x), want)).toBe(0);
    // and equal to attachMoE itself with the same seed (same base initialisation)
    adapter.detach();
    const a = attachGraphMoE(model, { base: { method, ...small }, rounds: 1, seed: 9 });
    a.training = false;
    const viaGraph = await logits(model, x);
    a.detach();
    const m = attachMoE(model, { method, ...small, dropout: 0.05, seed: 9 });
    m.training = false;
    expect(maxDiff(await logits(model, x), viaGraph)).toBe(0);
    m.detach();
    model.dispose();
  });

  it.each([
    ['cpu', 'mixlora'],
    ['cpu', 'loramoe'],
    ['cpu', 'mola'],
    ['webgpu', 'mixlora'],
  ] as const)('with W_g = 0 (initialisation) any T equals the base MoE (%s, %s)', async (bn, method) => {
    const b = bn === 'cpu' ? cpu : gpu;
    const model = await tiny(b);
    const x = ids(b, X);
    for (const rounds of [2, 3, 4]) {
      const adapter = attachGraphMoE(model, { base: { method, ...small }, rounds, seed: rounds });
      const grus = model.blocks.map((blk) => (blk.ffn as RecurrentFFN).gru);
      expect(await Promise.all(grus.map(async (g) => maxDiff(await g.Wg.data(), new Float32Array(g.Wg.size))))).toEqual(grus.map(() => 0));
      // Everything random except W_g, which stays at its zero initialisation.
      const wg = new Set(grus.map((g) => g.Wg));
      randomize(adapter.parameters().filter((p) => !wg.has(p)), 11);
      adapter.training = false;
      expect(maxDiff(await logits(model, x), await baseLogits(model, x))).toBe(0);
      adapter.detach();
    }
    model.dispose();
  });

  it('with W_g != 0 the rounds change the output and the routing', async () => {
    const model = await tiny(cpu);
    const x = ids(cpu, X);
    const adapter = attachGraphMoE(model, { base: { method: 'mixlora', ...small }, rounds: 3, wgInit: 'xavier' });
    randomize(adapter.parameters(), 4, 0.5);
    adapter.training = false;
    expect(maxDiff(await logits(model, x), await baseLogits(model, x))).toBeGreaterThan(1e-3);
    adapter.clearRoutes();
    noGrad(() => model.forward(x));
    const [r1, r2] = adapter.routes();
    expect(maxDiff(r1!.probs.dataSync(), r2!.probs.dataSync())).toBeGreaterThan(1e-4);
    adapter.detach();
    model.dispose();
  });
});

describe('routes', () => {
  it.each([
    ['mixlora', true, 1],
    ['mixlora', false, 1],
    ['loramoe', true, 3],
    ['mola', true, 3],
  ] as const)('adapter.routes() holds T routes per FFN mixture layer per forward (%s, shared router %s)', async (method, sharedRouter, perLayer) => {
    const model = await tiny(cpu);
    const x = ids(cpu, X);
    for (const rounds of [1, 2, 3]) {
      const adapter = attachGraphMoE(model, { base: { method, ...small, attnLoRA: [], targets: ['gate', 'up', 'down'] }, rounds, sharedRouter });
      adapter.clearRoutes();
      await logits(model, x);
      const routes = adapter.routes();
      expect(routes.length).toBe(model.blocks.length * perLayer * rounds);
      for (const r of routes) expect(r.probs.shape).toEqual([X.length, 4]);
      // one forward more, T more routes per layer; clearRoutes() forgets them
      await logits(model, x);
      expect(adapter.routes().length).toBe(2 * model.blocks.length * perLayer * rounds);
      adapter.clearRoutes();
      expect(adapter.routes().length).toBe(0);
      adapter.detach();
      expect(model.blocks.every((b) => b.ffn instanceof SwiGLU)).toBe(true);
    }
    model.dispose();
  });

  it('unshared routers: rounds 2..T use their own routers (copies of round 1 at start)', async () => {
    const model = await tiny(cpu);
    const x = ids(cpu, X);
    const a = attachGraphMoE(model, { base: { method: 'mixlora', ...small }, rounds: 3, sharedRouter: false, wgInit: 'xavier', seed: 1 });
    a.training = false;
    const ffn = model.blocks[0]!.ffn as RecurrentFFN;
    const inner = ffn.inner as MixLoRAFFN;
    const own = inner.router;
    expect(ffn.roundRouters!.length).toBe(1);
    expect(ffn.roundRouters![0]!.length).toBe(2);
    for (const r of ffn.roundRouters![0]!) expect(maxDiff(r.parameters()[0]!.dataSync(), own.parameters()[0]!.dataSync())).toBe(0);
    const unshared = await logits(model, x);
    expect(inner.router).toBe(own); // restored after the forward
    const nUnshared = a.numParameters();
    a.detach();
    const b = attachGraphMoE(model, { base: { method: 'mixlora', ...small }, rounds: 3, wgInit: 'xavier', seed: 1 });
    b.training = false;
    // copies of the round-1 router route exactly as the shared router does
    expect(maxDiff(await logits(model, x), unshared)).toBe(0);
    // per-round routers are parameters of their own: (T - 1) per layer, d x N each
    expect(nUnshared - b.numParameters()).toBe(2 * 2 * 8 * 4);
    b.detach();
    model.dispose();
  });
});

describe('gradients match central finite differences (float64, tiny model)', () => {
  it.each([
    ['mixlora', { candidateActivation: 'tanh', candidateInput: 'y' }],
    ['mixlora', { candidateActivation: 'sigmoid', candidateInput: 'x', sharedRouter: false }],
    ['loramoe', { candidateActivation: 'tanh', candidateInput: 'x' }],
    ['mola', { candidateActivation: 'sigmoid', candidateInput: 'y' }],
  ] as [MoEMethod, GraphMoEConfig][])('%s %o', async (method, opts) => {
    const model = await tinyModel(f64);
    const adapter = attachGraphMoE(model, { base: { method, numExperts: 3, topK: 2, r: 2, alpha: 4 }, rounds: 3, hiddenSize: 3, seed: 7, ...opts });
    const params = adapter.parameters();
    const values = randomize(params, 8);
    adapter.training = false;
    const x = ids(f64, [1, 5, 9, 3, 7]);
    const y = tensor(Int32Array.from([5, 9, 3, 7, 2]), [1, 5], { dtype: 'i32', backend: f64 });
    const lossOf = () => noGrad(() => scope(() => crossEntropy(model.forward(x), y).dataSync()[0]!));
    scope(() => crossEntropy(model.forward(x), y).backward());
    const gru = (model.blocks[0]!.ffn as RecurrentFFN).gru;
    for (const p of gru.parameters()) expect(maxDiff(p.grad!.dataSync(), new Float64Array(p.size))).toBeGreaterThan(0);
    expect(checkGradients(params, values, lossOf)).toEqual([]);
    model.dispose();
  });
});

it('GRU sizes, trainable parameter count and saved tensor names', async () => {
  const { model } = await loadGGUF(stories260KPath(), { backend: cpu });
  const d = 64;
  const f = 172;
  const a = attachGraphMoE(model, { base: { attnLoRA: [], r: 2, alpha: 4 } });
  const db = 6; // int(0.1 * 64)
  const gru = (model.blocks[0]!.ffn as RecurrentFFN).gru;
  expect(gru.hiddenSize).toBe(db);
  expect(gru.Wz.shape).toEqual([db + d, db]);
  expect(gru.Wg.shape).toEqual([db, d]);
  // base MixLoRA (8 experts) + per layer 3 (d_bar + d) x d_bar + b_o + W_g
  expect(a.numParameters()).toBe(5 * (d * 8 + 8 * 3 * 2 * (d + f)) + 5 * (3 * (db + d) * db + db + db * d));
  const names = a.savedTensors().map((s) => s.name);
  expect(names).toContain('base_model.model.model.layers.0.mlp.gru.W_z.weight');
  expect(names).toContain('base_model.model.model.layers.4.mlp.gru.W_g.weight');
  expect(names).toContain('base_model.model.model.layers.4.mlp.gru.W_o.bias');
  expect(new Set(names).size).toBe(names.length);
  const m = a.config.moegraph as Record<string, unknown>;
  expect(m.method).toBe('graphmoe');
  expect(m.baseMethod).toBe('mixlora');
  expect(m.graphmoe).toMatchObject({ rounds: 3, hiddenScale: 0.1, hiddenSize: 6, candidateActivation: 'tanh', candidateInput: 'y', h0: 'zeros', sharedRouter: true, wgInit: 'zeros', seed: 0 });
  expect(m.baseMoE).toMatchObject({ method: 'mixlora', numExperts: [8, 8, 8, 8, 8], topK: 2, r: 2, alpha: 4, dropout: 0.05 });
  expect(typeof attachers.graphmoe).toBe('function');
  a.detach();
  expect(model.blocks.every((b) => b.ffn instanceof SwiGLU)).toBe(true);
  model.dispose();
});

describe.each(['cpu', 'webgpu'] as const)('stories260K on %s', (bn) => {
  it('trains, and round-trips through save/load bit-identically', async () => {
    const b = bn === 'cpu' ? cpu : gpu;
    const { model, tokenizer } = await loadGGUF(stories260KPath(), { backend: b });
    const x = ids(b, tokenizer.encode('Once upon a time', { addBos: true }));
    const before = await logits(model, x);
    const adapter = attachGraphMoE(model, { base: { numExperts: 4, r: 4, alpha: 8 }, rounds: 3, seed: 3 });
    adapter.training = false;
    expect(maxDiff(await logits(model, x), before)).toBeLessThan(1e-5); // B = 0 and W_g = 0 at start
    expect(adapter.routes().length).toBe(5 * 3);
    adapter.clearRoutes();
    adapter.training = true;
    const [first, last] = await trainLoss(model, adapter, 20, (s) => tokenizer.encode(s, { addBos: true }));
    expect(last).toBeLessThan(first * 0.85);
    // the GRU learned something (W_g left zero)
    const wg = (model.blocks[0]!.ffn as RecurrentFFN).gru.Wg;
    expect(maxDiff(await wg.data(), new Float32Array(wg.size))).toBeGreaterThan(0);
    const { loaded, config } = await expectSaveLoadRoundTrip({ saveAdapter, loadAdapter }, model, adapter, x, before);
    expect(config.moegraph.method).toBe('graphmoe');
    loaded.detach();
    model.dispose();
  });
});

it('save/load round trip with unshared routers and a LoRAMoE base (cpu, tiny)', async () => {
  const model = await tiny(cpu);
  const x = ids(cpu, X);
  const before = await logits(model, x);
  const a = attachGraphMoE(model, { base: { method: 'loramoe', ...small }, rounds: 2, sharedRouter: false, candidateActivation: 'sigmoid', candidateInput: 'x', hiddenScale: 0.5, seed: 4 });
  randomize(a.parameters(), 6);
  a.training = false;
  const n = a.numParameters();
  const names = a.savedTensors().map((s) => s.name);
  expect(names).toContain('base_model.model.model.layers.1.mlp.down_proj.router_round2.weight');
  const { loaded } = await expectSaveLoadRoundTrip({ saveAdapter, loadAdapter }, model, a, x, before);
  expect(loaded.numParameters()).toBe(n);
  loaded.detach();
  model.dispose();
});

it('rejects bad options with clear errors', async () => {
  const model = await tiny(cpu);
  expect(() => attachGraphMoE(model, { rounds: 0 })).toThrow(/rounds/);
  expect(model.blocks.every((b) => b.ffn instanceof SwiGLU)).toBe(true);
  expect(() => attachGraphMoE(model, { base: small, candidateActivation: 'relu' as never })).toThrow(/candidateActivation/);
  expect(model.blocks.every((b) => b.ffn instanceof SwiGLU)).toBe(true);
  model.dispose();
});
