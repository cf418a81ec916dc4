/** Properties of the expert graph: determinism, density, A_hat, twins. */
import { describe, expect, it } from 'vitest';
import { Generator } from '@moegraph/tensor-webgpu';
import { buildGraph, drawDensityEdges, ExpertGraph, findTwins } from './graph.js';

describe('expert graph', () => {
  it('the same seed gives the same graph; another seed another one', () => {
    const a = buildGraph({ numExperts: 16, edges: { rule: 'density', beta: 0.2 }, seed: 7 });
    const b = buildGraph({ numExperts: 16, edges: { rule: 'density', beta: 0.2 }, seed: 7 });
    const c = buildGraph({ numExperts: 16, edges: { rule: 'density', beta: 0.2 }, seed: 8 });
    expect(a.edges).toEqual(b.edges);
    expect(c.edges).not.toEqual(a.edges);
  });

  it.each([[4, 0.1], [8, 0.1], [8, 0.4], [12, 0.6], [16, 0.8], [32, 0.1]])('N=%i beta=%f: round(beta N(N-1)/2) distinct pairs', (N, beta) => {
    const g = new Generator(3);
    for (let k = 0; k < 5; k++) {
      const e = drawDensityEdges(N, beta, g);
      expect(e.length).toBe(Math.round((beta * N * (N - 1)) / 2));
      expect(new Set(e.map(([i, j]) => `${i},${j}`)).size).toBe(e.length);
      for (const [i, j] of e) expect(0 <= i && i < j && j < N).toBe(true);
    }
  });

  it('A_hat = D^-1/2 (A + I) D^-1/2 with the input node joined to every expert', () => {
    const G = new ExpertGraph(4, [[0, 1], [1, 2]]);
    const M = 5;
    const deg = [3, 4, 3, 2, 5]; // self loop + neighbours (input node 4 joined to all)
    const A = G.normalized;
    for (let i = 0; i < M; i++) for (let j = 0; j < M; j++) {
      const adj = i === j || G.adjacency[i * M + j] === 1 ? 1 : 0;
      expect(A[i * M + j]).toBeCloseTo(adj / Math.sqrt(deg[i]! * deg[j]!), 14);
    }
    // Symmetric; the input row reaches every expert.
    for (let i = 0; i < M; i++) for (let j = 0; j < M; j++) expect(A[i * M + j]).toBe(A[j * M + i]);
    for (let i = 0; i < 4; i++) expect(A[4 * M + i]).toBeGreaterThan(0);
  });

  it("finds the SPEC's twins: two experts joined only to each other and the input", () => {
    const G = new ExpertGraph(8, [[2, 5], [0, 1], [1, 3]]);
    expect(G.twins()).toEqual([[2, 5]]);
    const M = 9;
    // Self weight = neighbour weight = 1/3 in both rows.
    expect(G.normalized[2 * M + 2]).toBeCloseTo(1 / 3, 14);
    expect(G.normalized[2 * M + 5]).toBeCloseTo(1 / 3, 14);
    // Isolated experts (only joined to the input) are symmetric but not twins; a path is not either.
    expect(new ExpertGraph(4, []).twins()).toEqual([]);
    expect(findTwins(new ExpertGraph(3, [[0, 1], [1, 2], [0, 2]]).normalized, 3)).toEqual([[0, 1], [0, 2], [1, 2]]);
  });

  it("'redraw' (default) yields a twin-free graph where the plain draw has twins; 'keep' keeps the plain draw", () => {
    let withTwins = 0;
    for (let seed = 0; seed < 40; seed++) {
      const plain = buildGraph({ numExperts: 8, seed, twins: 'keep' });
      const G = buildGraph({ numExperts: 8, seed });
      expect(G.twins()).toEqual([]);
      expect(G.edges.length).toBe(3);
      if (plain.twins().length) {
        withTwins++;
        expect(G.attempts).toBeGreaterThan(1);
        expect(G.edges).not.toEqual(plain.edges);
      } else {
        expect(G.edges).toEqual(plain.edges);
      }
    }
    expect(withTwins).toBeGreaterThan(0);
  });

  it('gives up with a clear error, and refuses to redraw deterministic rules', () => {
    // N = 2, beta = 1: the only graph joins the two experts, which are then twins.
    expect(() => buildGraph({ numExperts: 2, edges: { rule: 'density', beta: 1 }, maxAttempts: 5 })).toThrow(/twin experts \(0, 1\).*Gave up after 5 draws/);
    expect(() => buildGraph({ numExperts: 2, edges: { rule: 'density', beta: 1 }, twins: 'error' })).toThrow(/twin experts/);
    expect(() => buildGraph({ numExperts: 4, edges: { rule: 'explicit', edges: [[0, 1]] }, twins: 'redraw' })).toThrow(/deterministic and cannot be redrawn/);
    expect(buildGraph({ numExperts: 4, edges: { rule: 'explicit', edges: [[1, 0], [0, 1], [2, 2]] } }).edges).toEqual([[0, 1]]);
    expect(() => buildGraph({ numExperts: 4, edges: { rule: 'explicit', edges: [[0, 4]] } })).toThrow(/not a pair of experts/);
  });
});

describe('graphSeed', () => {
  it('varies only the graph: same weights, different edges', async () => {
    const { createCpuBackend } = await import('@moegraph/tensor-webgpu');
    const { GraphRouter } = await import('./gcn-router.js');
    const backend = createCpuBackend();
    const make = (graphSeed?: number) =>
      new GraphRouter(16, 8, 2, backend, new Generator(3), { hidden: 8, edges: { rule: 'density', beta: 0.3 }, graphSeed });
    const a = make(undefined);
    const b = make(1);
    const c = make(2);
    expect(Array.from(b.wIn.dataSync())).toEqual(Array.from(a.wIn.dataSync()));
    const edges = (r: { describe(): Record<string, unknown> }) => JSON.stringify(r.describe().graphEdges);
    expect(new Set([edges(a), edges(b), edges(c)]).size).toBeGreaterThan(1);
  });
});
