/** The router itself: fast path == general path, finite-difference gradients, describe/rebuild, options. */
import { describe, expect, it } from 'vitest';
import { createCpuBackend, Generator, mul, noGrad, randn, scope, sum, tensor, type Tensor } from '@moegraph/tensor-webgpu';
import { routerTypes, type RouterContext } from '@moegraph/lora';
import { GraphRouter, graphRouter, REFERENCE_GRAPH_ROUTER, type GraphRouterOptions } from './gcn-router.js';
import './index.js';
import { relErr } from './testing/util.js';
import { checkGradients, setParam as setValues } from '../../lora/src/testing/helpers.js';

const f64 = createCpuBackend({ precision: 'f64' });
const ctx = (seed = 1, N = 6, K = 2, d = 10): RouterContext => ({ layer: 0, path: 'model.layers.0.mlp', inFeatures: d, numExperts: N, topK: K, backend: f64, generator: new Generator(seed) });
const make = (o: GraphRouterOptions, c = ctx()) => graphRouter({ hidden: 8, edges: { rule: 'density', beta: 0.4 }, ...o })(c) as GraphRouter;

/** Random values well away from ties so top-K is stable under finite differences. */
function randomize(r: GraphRouter, seed: number, scale = 0.5) {
  const g = new Generator(seed);
  for (const p of r.parameters()) setValues(p, Float64Array.from({ length: p.size }, () => g.normal() * scale));
}

function lossOf(r: GraphRouter, x: Tensor, C1: Tensor, C2: Tensor): Tensor {
  const res = r.route(x);
  return sum(mul(res.probs, C1)).add(sum(mul(res.weights, C2)));
}

describe('fast paths (fused and factored) equal the general path', () => {
  it.each([
    [1, 'none', 'fixed'], [2, 'none', 'fixed'], [3, 'none', 'fixed'], [1, 'silu', 'fixed'], [2, 'silu', 'fixed'],
    [2, 'none', 'learnable'], [3, 'silu', 'learnable'],
  ] as const)('layers %i, last %s, adjacency %s: logits and every gradient', (layers, last, adjacency) => {
    for (const fast of ['auto', 'factored'] as const) agree(fast, layers, last, adjacency);
  });
});

function agree(fast: 'auto' | 'factored', layers: number, last: 'none' | 'silu', adjacency: 'fixed' | 'learnable'): void {
  const [a, b] = ([fast, 'general'] as const).map((path) => make({ layers, lastActivation: last, adjacency, path }));
  randomize(a!, 5);
  randomize(b!, 5);
  const x = randn([7, 10], { backend: f64, seed: 2 });
  const C1 = randn([7, 6], { backend: f64, seed: 3 });
  const C2 = randn([7, 2], { backend: f64, seed: 4 });
  const la = scope(() => a!.logits(x).detach());
  const lb = scope(() => b!.logits(x).detach());
  expect(relErr(la.dataSync(), lb.dataSync())).toBeLessThan(1e-12);
  scope(() => lossOf(a!, x, C1, C2).backward());
  scope(() => lossOf(b!, x, C1, C2).backward());
  a!.parameters().forEach((p, i) => expect(relErr(p.grad!.dataSync(), b!.parameters()[i]!.grad!.dataSync()), `${fast} ${p.name}`).toBeLessThan(1e-12));
}

describe('gradients vs finite differences (f64 cpu)', () => {
  it.each([
    ['gat', { conv: 'gat' }], ['gat, 3 layers, silu last', { conv: 'gat', layers: 3, lastActivation: 'silu' }],
    ['sage', { conv: 'sage' }], ['sage, learnable adjacency', { conv: 'sage', adjacency: 'learnable' }],
    ['gcn, learnable adjacency', { adjacency: 'learnable' }], ['gcn, learnable, silu last', { adjacency: 'learnable', lastActivation: 'silu' }],
    ['gcn (fast path)', {}],
  ] as [string, GraphRouterOptions][])('%s', (_, o) => {
    const r = make(o);
    randomize(r, 11);
    if (r.adjLogits) setValues(r.adjLogits, Float64Array.from({ length: r.adjLogits.size }, (_, i) => Math.sin(i * 1.7)));
    const x = randn([5, 10], { backend: f64, seed: 2, requiresGrad: true });
    const C1 = randn([5, 6], { backend: f64, seed: 3 });
    const C2 = randn([5, 2], { backend: f64, seed: 4 });
    scope(() => lossOf(r, x, C1, C2).backward());
    const params = [x, ...r.parameters()];
    if (r.adjLogits) expect(Math.max(...Array.from(r.adjLogits.grad!.dataSync(), Math.abs))).toBeGreaterThan(0);
    const f = () => noGrad(() => scope(() => lossOf(r, x, C1, C2).dataSync()[0]!));
    expect(checkGradients(params, params.map((p) => Float64Array.from(p.dataSync())), f, 1e-6, 8)).toEqual([]);
  });
});

describe('options, parameters, describe', () => {
  it('X is saved but not trained; savedTensors names every tensor', () => {
    const r = make({ conv: 'sage', adjacency: 'learnable' });
    expect(r.parameters()).not.toContain(r.X);
    expect(r.X.requiresGrad).toBe(false);
    expect(r.savedTensors('p').map((s) => s.name)).toEqual([
      'p.x', 'p.w_in', 'p.w_s', 'p.gnn.0.weight', 'p.gnn.0.neigh', 'p.gnn.1.weight', 'p.gnn.1.neigh', 'p.proj', 'p.adj_logits',
    ]);
    expect(make({ conv: 'gat', layers: 1 }).savedTensors('q').map((s) => s.name)).toEqual(['q.x', 'q.w_in', 'q.w_s', 'q.gnn.0.weight', 'q.gnn.0.att', 'q.proj']);
  });

  it('paper defaults: hidden 256, 2 layers, density 0.1, no last activation, gain 1', () => {
    const r = graphRouter()(ctx(1, 8, 2, 16)) as GraphRouter;
    const d = r.describe();
    expect(d).toMatchObject({ type: 'graph', hidden: 256, layers: 2, conv: 'gcn', adjacency: 'fixed', lastActivation: 'none', inputGain: 1, edges: { rule: 'density', beta: 0.1 } });
    expect((d.graphEdges as unknown[]).length).toBe(3);
    expect(r.graph.twins()).toEqual([]);
  });

  it('describe() rebuilds the same router through routerTypes.graph (graph reused, not redrawn)', () => {
    for (const o of [{}, { conv: 'gat' }, { edges: { rule: 'cosine', threshold: 0.1 } }, { ...REFERENCE_GRAPH_ROUTER, hidden: 8 }] as GraphRouterOptions[]) {
      const r = make(o, ctx(9));
      const saved = JSON.parse(JSON.stringify(r.describe())) as Record<string, unknown>;
      const again = routerTypes.graph!(saved)(ctx(123)) as GraphRouter;
      expect(again.graph.edges).toEqual(r.graph.edges);
      expect(again.describe()).toEqual(r.describe());
    }
    // A drawn graph differs with the seed, so the rebuild really reuses the saved edge list.
    const seeds = new Set([1, 2, 3, 4, 5, 6].map((s) => JSON.stringify(make({}, ctx(s)).graph.edges)));
    expect(seeds.size).toBeGreaterThan(1);
    expect(() => routerTypes.graph!(make({}).describe())(ctx(1, 5))).toThrow(/saved numExperts 6 differs/);
  });

  it("reference evalGraph 'recompute': the cosine graph is rebuilt from trained weights only when gradients are off", () => {
    const r = make({ ...REFERENCE_GRAPH_ROUTER, hidden: 8 });
    const x = randn([4, 10], { backend: f64, seed: 2 });
    const train = () => scope(() => r.adjacency().hat.detach());
    const evalA = () => noGrad(() => scope(() => r.adjacency().hat.detach()));
    expect(relErr(evalA().dataSync(), train().dataSync())).toBeLessThan(1e-6); // at init they agree (A_hat stored as f32)
    setValues(r.wS, Float64Array.from({ length: r.wS.size }, (_, i) => Math.cos(i * 0.37)));
    expect(relErr(evalA().dataSync(), train().dataSync())).toBeGreaterThan(0.01);
    expect(noGrad(() => scope(() => r.route(x).probs.detach())).shape).toEqual([4, 6]);
    expect(() => make({ evalGraph: 'recompute' })).toThrow(/cosine/);
    expect(() => make({ conv: 'gat', adjacency: 'learnable' })).toThrow(/does not apply/);
  });

  it('routes [B, S, d] inputs and returns renormalised top-K', () => {
    const r = make({});
    const x = randn([2, 3, 10], { backend: f64, seed: 2 });
    const res = scope(() => {
      const o = r.route(x);
      return [o.probs.detach(), o.weights.detach(), o.indices!.detach()];
    });
    expect(res.map((t) => t.shape)).toEqual([[2, 3, 6], [2, 3, 2], [2, 3, 2]]);
    const w = res[1]!.dataSync();
    for (let t = 0; t < 6; t++) expect(w[2 * t]! + w[2 * t + 1]!).toBeCloseTo(1, 12);
    void tensor;
  });
});
