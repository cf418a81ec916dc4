/** The router against an independent PyTorch implementation (fixtures/make_fixtures.py -> fixtures/gcn.json). */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend, createWebGPUBackend, Generator, mul, scope, sum, tensor, type Backend, type Tensor } from '@moegraph/tensor-webgpu';
import { GraphRouter } from './gcn-router.js';
import { cosineEdges, ExpertGraph } from './graph.js';
import { relErr } from './testing/util.js';
import { setParam as setValues } from '../../lora/src/testing/helpers.js';

interface Fixture {
  name: string; N: number; K: number; d: number; hidden: number; layers: number; last: 'none' | 'silu'; T: number;
  rule: { rule: string; threshold?: number }; edges: [number, number][];
  x: number[]; X: number[]; w_in: number[]; w_s: number[]; w: number[][]; f: number[]; a_hat: number[];
  logits: number[]; probs: number[]; topk_idx: number[]; topk_w: number[]; c1: number[]; c2: number[];
  grad_probs: Record<string, number[]>; grad_weights: Record<string, number[]>;
}
const { configs } = JSON.parse(readFileSync(new URL('../fixtures/gcn.json', import.meta.url), 'utf8')) as { configs: Fixture[] };

let gpu: Backend;
const cpu = createCpuBackend();
beforeAll(async () => {
  gpu = await createWebGPUBackend();
});
afterAll(() => gpu?.destroy());

const silu = (v: number) => v / (1 + Math.exp(-v));
const TOL = 1e-5;

describe.each(configs.map((c) => [c.name, c] as const))('%s', (_, c) => {
  it('the graph: edges (cosine rule recomputed here) and A_hat', () => {
    if (c.rule.rule === 'cosine') {
      const v = new Float64Array(c.N * c.hidden);
      for (let i = 0; i < c.N; i++) for (let k = 0; k < c.hidden; k++) {
        let s = 0;
        for (let j = 0; j < c.d; j++) s += c.X[i * c.d + j]! * c.w_s[j * c.hidden + k]!;
        v[i * c.hidden + k] = silu(s);
      }
      expect(cosineEdges(v, c.N, c.hidden, c.rule.threshold!)).toEqual(c.edges);
    }
    const G = new ExpertGraph(c.N, c.edges);
    expect(relErr(G.normalized, c.a_hat)).toBeLessThan(1e-14);
    // The explicit graphs are twin-free; the cosine rule (kept as drawn) may not be: N8's has twins (5, 7).
    if (c.rule.rule === 'explicit') expect(G.twins()).toEqual([]);
  });

  it.each([
    ['cpu', 'auto'], ['cpu', 'factored'], ['cpu', 'general'], ['webgpu', 'auto'], ['webgpu', 'factored'], ['webgpu', 'general'],
  ] as const)('matches on %s (%s path): logits, probs, top-K, gradients', async (bn, path) => {
    const b = bn === 'cpu' ? cpu : gpu;
    const r = new GraphRouter(c.d, c.N, c.K, b, new Generator(0), { hidden: c.hidden, layers: c.layers, lastActivation: c.last, graphEdges: c.edges, path });
    setValues(r.X, c.X);
    setValues(r.wIn, c.w_in);
    setValues(r.wS, c.w_s);
    r.gnn.forEach((p, l) => setValues(p.w, c.w[l]!));
    setValues(r.proj, c.f);
    const x = tensor(Float32Array.from(c.x), [c.T, c.d], { backend: b, requiresGrad: true });
    const named: [string, Tensor][] = [['x', x], ['w_in', r.wIn], ['w_s', r.wS], ...r.gnn.map((p, l) => [`w${l}`, p.w] as [string, Tensor]), ['f', r.proj]];
    const c1 = tensor(Float32Array.from(c.c1), [c.T, c.N], { backend: b });
    const c2 = tensor(Float32Array.from(c.c2), [c.T, c.K], { backend: b });
    for (const [which, C, want] of [['probs', c1, c.grad_probs], ['weights', c2, c.grad_weights]] as const) {
      for (const [, t] of named) { t.grad?.dispose(); t.grad = null; }
      const out = scope(() => {
        const res = r.route(x);
        sum(mul(which === 'probs' ? res.probs : res.weights, C)).backward();
        return [res.logits, res.probs, res.indices ?? res.logits, res.weights].map((t) => t.detach());
      });
      const [logits, probs, idx, weights] = await Promise.all(out.map((t) => t.data()));
      expect(relErr(logits!, c.logits)).toBeLessThan(TOL);
      expect(relErr(probs!, c.probs)).toBeLessThan(TOL);
      if (c.K < c.N) expect(Array.from(idx!)).toEqual(c.topk_idx);
      expect(relErr(weights!, c.topk_w)).toBeLessThan(TOL);
      for (const [n, t] of named) {
        const g = await t.grad!.data();
        expect(relErr(g, want[n]!), `${which} grad of ${n}`).toBeLessThan(TOL);
      }
      out.forEach((t) => t.dispose());
    }
  });
});
