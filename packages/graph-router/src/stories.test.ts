/** attachMoE with the graph router on stories260K: trains, and save/load reuses the saved graph bit-identically. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AdamW, createWebGPUBackend, crossEntropy, noGrad, scope, tensor, type Backend, type Tensor } from '@moegraph/tensor-webgpu';
import { loadGGUF, type LlamaModel } from '@moegraph/llm';
import { stories260KPath } from '@moegraph/llm/node';
import { attachMoE, loadAdapter, saveAdapter, type Adapter, type MixLoRAFFN } from '@moegraph/lora';
import { graphRouter, GraphRouter } from './index.js';

let gpu: Backend;
beforeAll(async () => {
  gpu = await createWebGPUBackend();
});
afterAll(() => gpu?.destroy());

const TEXT = 'Tom had a red ball. He liked to play with his ball in the garden. One day the ball went over the wall. Tom was sad.';
const ids = (b: Backend, xs: number[]) => tensor(Int32Array.from(xs), [1, xs.length], { dtype: 'i32', backend: b });
const logits = async (m: LlamaModel, x: Tensor) => Float64Array.from(await noGrad(() => scope(() => m.forward(x))).data());
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((w, v, i) => Math.max(w, Math.abs(v - b[i]!)), 0);

async function train(model: LlamaModel, adapter: Adapter, steps: number, all: number[], lr = 0.01): Promise<[number, number]> {
  const b = model.backend;
  const x = ids(b, all.slice(0, -1));
  const y = tensor(Int32Array.from(all.slice(1)), [1, all.length - 1], { dtype: 'i32', backend: b });
  const opt = new AdamW(adapter.parameters(), { lr, weightDecay: 0 });
  const out: number[] = [];
  for (let s = 0; s < steps; s++) {
    const l = scope(() => {
      adapter.clearRoutes();
      opt.zeroGrad();
      const loss = crossEntropy(model.forward(x), y);
      loss.backward();
      opt.step();
      return loss.detach();
    });
    if (s === 0 || s === steps - 1) out.push(await l.item());
    l.dispose();
  }
  adapter.clearRoutes();
  opt.dispose();
  x.dispose();
  y.dispose();
  return [out[0]!, out[1]!];
}

it('mixlora + graph router on stories260K: unchanged at init, trains, save/load round trip is bit-identical', async () => {
  const { model, tokenizer } = await loadGGUF(stories260KPath(), { backend: gpu });
  const x = ids(gpu, tokenizer.encode('Once upon a time', { addBos: true }));
  const before = await logits(model, x);
  const adapter = attachMoE(model, { method: 'mixlora', numExperts: 8, topK: 2, r: 4, alpha: 8, seed: 3, router: graphRouter({ hidden: 64 }) });
  expect(maxDiff(await logits(model, x), before)).toBeLessThan(1e-5);
  const routes = adapter.routes();
  expect(routes.length).toBe(5);
  expect(routes[0]!.probs.shape[1]).toBe(8);
  adapter.clearRoutes();
  const layers = model.blocks.map((b) => (b.ffn as MixLoRAFFN).router as GraphRouter);
  const graphs = layers.map((r) => r.graph.edges);
  for (const r of layers) expect(r.graph.twins()).toEqual([]);
  const [first, last] = await train(model, adapter, 20, tokenizer.encode(TEXT, { addBos: true }));
  expect(last).toBeLessThan(first * 0.8);
  adapter.training = false;
  const want = await logits(model, x);
  const dir = mkdtempSync(join(tmpdir(), 'moegraph-graph-router-'));
  await saveAdapter(adapter, dir);
  const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')) as { moegraph: { routers: Record<string, { type: string; graphEdges: number[][] }> } };
  expect(cfg.moegraph.routers['model.layers.0.mlp']!.type).toBe('graph');
  expect(cfg.moegraph.routers['model.layers.0.mlp']!.graphEdges).toEqual(graphs[0]);
  adapter.detach();
  expect(maxDiff(await logits(model, x), before)).toBe(0);
  const again = await loadAdapter(model, dir);
  again.training = false;
  expect(model.blocks.map((b) => ((b.ffn as MixLoRAFFN).router as GraphRouter).graph.edges)).toEqual(graphs);
  expect(maxDiff(await logits(model, x), want)).toBe(0);
  again.detach();
  model.dispose();
});
