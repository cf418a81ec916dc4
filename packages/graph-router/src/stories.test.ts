/** attachMoE with the graph router on stories260K: trains, and save/load reuses the saved graph bit-identically. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createWebGPUBackend, type Backend } from '@moegraph/tensor-webgpu';
import { loadGGUF } from '@moegraph/llm';
import { stories260KPath } from '@moegraph/llm/node';
import { attachMoE, loadAdapter, saveAdapter, type MixLoRAFFN } from '@moegraph/lora';
// Shared with the lora package's own tests (test-only helpers, not exported).
import { expectSaveLoadRoundTrip, ids, logits, maxDiff, trainLoss } from '../../lora/src/testing/helpers.js';
import { graphRouter, GraphRouter } from './index.js';

let gpu: Backend;
beforeAll(async () => {
  gpu = await createWebGPUBackend();
});
afterAll(() => gpu?.destroy());

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
  const [first, last] = await trainLoss(model, adapter, 20, (s) => tokenizer.encode(s, { addBos: true }));
  expect(last).toBeLessThan(first * 0.8);
  const { loaded, config } = await expectSaveLoadRoundTrip({ saveAdapter, loadAdapter }, model, adapter, x, before);
  const cfg = config as { moegraph: { routers: Record<string, { type: string; graphEdges: number[][] }> } };
  expect(cfg.moegraph.routers['model.layers.0.mlp']!.type).toBe('graph');
  expect(cfg.moegraph.routers['model.layers.0.mlp']!.graphEdges).toEqual(graphs[0]);
  // The saved graph is reused, not redrawn.
  expect(model.blocks.map((b) => ((b.ffn as MixLoRAFFN).router as GraphRouter).graph.edges)).toEqual(graphs);
  loaded.detach();
  model.dispose();
});
