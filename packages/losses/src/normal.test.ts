import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend, scope, stats, tensor, type Tensor } from '@moegraph/tensor-webgpu';
import {
  expertWeightSums, NormalBalance, normalBalanceLoss, normalBalanceLossOverLayers, normalTarget, type NormalLossOptions,
} from './normal.js';
import { destroyTargets, dispose, expectClose, fixtures, makeTargets, read, type Json, type Target } from './test-helpers.js';

let targets: Target[];
beforeAll(async () => {
  targets = await makeTargets();
});
afterAll(() => destroyTargets(targets));
const target = (name: string) => targets.find((t) => t.name === name)!;
const BACKENDS = ['cpu-f64', 'cpu', 'webgpu'];

describe('normalBalanceLoss matches PyTorch', () => {
  for (const c of fixtures.normal as Json[]) {
    for (const name of BACKENDS) {
      it(`${c.name} [${name}]`, async () => {
        const tg = target(name);
        const backend = tg.backend;
        const r = scope(() => {
          const freq = tensor(c.freq, c.freq_shape, { backend, requiresGrad: true });
          const sigma = Array.isArray(c.sigma) ? tensor(c.sigma, [c.sigma.length], { backend, requiresGrad: true }) : tensor(c.sigma, [], { backend, requiresGrad: true });
          const loss = normalBalanceLoss(freq, sigma, { normalization: c.normalization, reduction: c.reduction });
          loss.backward();
          return { loss, gf: freq.grad, gs: sigma.grad };
        });
        expectClose(await read(r.loss), [c.loss], tg.rtol, 'loss');
        expectClose(await read(r.gf, c.freq.length), c.grad_freq, tg.rtol, 'dL/dfreq');
        expectClose(await read(r.gs), c.grad_sigma, tg.rtol, 'dL/dsigma');
        dispose([r.loss, r.gf, r.gs]);
      });
    }
  }
});

describe('NormalBalance windows over steps match PyTorch', () => {
  for (const c of fixtures.normal_class as Json[]) {
    for (const name of BACKENDS) {
      it(`${c.name} [${name}]`, async () => {
        const tg = target(name);
        const backend = tg.backend;
        const layers = (c.sigma_init as number[]).map((s) => new NormalBalance(c.n, { sigmaInit: s, window: c.window, decay: c.decay, backend }));
        for (const [si, st] of (c.steps as Json[]).entries()) {
          const r = scope(() => {
            const mask = st.mask ? tensor(st.mask, [c.tokens], { backend }) : undefined;
            const routes = (st.layers as Json[]).map((l) => ({
              indices: tensor(Int32Array.from(l.indices), [c.tokens, c.k], { backend }),
              weights: tensor(l.weights, [c.tokens, c.k], { backend, requiresGrad: true }),
            }));
            const loss = c.layers === 1 && c.normalization === 'per-layer'
              ? layers[0]!.loss(routes[0]!, mask)
              : normalBalanceLossOverLayers(layers, routes, { normalization: c.normalization, mask });
            loss.backward();
            return { loss, gw: routes.map((rt) => rt.weights.grad), gs: layers.map((l) => l.sigma.grad) };
          });
          const at = `step ${si}`;
          expectClose(await read(r.loss), [st.loss], tg.rtol, `${at} loss`);
          for (const [l, lay] of (st.layers as Json[]).entries()) {
            expectClose(await read(r.gw[l], lay.weights.length), lay.grad_weights, tg.rtol, `${at} layer ${l} dL/dweights`);
          }
          expectClose(await Promise.all(r.gs.map(async (g) => (await read(g))[0]!)), st.grad_sigma, tg.rtol, `${at} dL/dsigma`);
          if (st.counts) {
            for (const [l, layer] of layers.entries()) {
              const s = layer.state();
              expect(s.steps).toBe(si + 1);
              expectClose(await read(s.counts), st.counts[l], tg.rtol, `${at} layer ${l} counts`);
              s.counts!.dispose();
            }
          }
          dispose([r.loss, ...r.gw, ...r.gs]);
          for (const l of layers) l.sigma.grad = null;
        }
        layers.forEach((l) => l.dispose());
      });
    }
  }
});

const f64 = createCpuBackend({ precision: 'f64' });
const val = (t: Tensor) => Array.from(t.dataSync());
const lossOf = (freq: number[], sigma: number, opts: NormalLossOptions = {}) =>
  scope(() => val(normalBalanceLoss(tensor(freq, [freq.length], { backend: f64 }), sigma, opts))[0]!);

describe('Normal balance loss: properties (cpu f64)', () => {
  it('is 0 at the normalised Gaussian (any expert order) and grows as load concentrates on one expert', () => {
    for (const n of [4, 8, 16]) {
      for (const sigma of [n / 2, n / 4, 1]) {
        const g = scope(() => val(normalTarget(n, sigma, { backend: f64 })));
        expect(g.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
        const shuffled = g.map((_, i) => g[(i * 3 + 1) % n]!);
        if (n % 3 !== 0) expect(Math.abs(lossOf(shuffled, sigma, { eps: 0 }))).toBeLessThan(1e-12);
        expect(Math.abs(lossOf(g.map((x) => x * 123), sigma, { eps: 0 }))).toBeLessThan(1e-12);
        expect(Math.abs(lossOf(g, sigma))).toBeLessThan(1e-7); // the default eps shifts it by ~N eps // counts, not frequencies
        // Shift load onto the busiest expert (so the sorted order stays put and the path is a
        // straight line in sorted space, along which the KL is convex and 0 at the start).
        const top = g.indexOf(Math.max(...g));
        let prev = 0;
        for (const a of [0.05, 0.2, 0.5, 0.8, 0.95, 1]) {
          const q = g.map((x, i) => (1 - a) * x + (i === top ? a : 0));
          const l = lossOf(q, sigma);
          expect(l).toBeGreaterThan(prev);
          prev = l;
        }
      }
    }
  });

  it('dL/dsigma matches central finite differences (per-layer and global, per-layer sigmas)', () => {
    const freq = [3, 1, 0.5, 2.2, 0.1, 4, 1.5, 0.7, 2, 2, 1, 0.3, 0.9, 1.1, 0.2, 3.3];
    for (const normalization of ['per-layer', 'global'] as const) {
      for (const reduction of ['mean', 'sum'] as const) {
        const sig = [3.1, 1.4];
        const opts = { normalization, reduction };
        const at = (s: number[]) => scope(() => val(normalBalanceLoss(tensor(freq, [2, 8], { backend: f64 }), tensor(s, [2], { backend: f64 }), opts))[0]!);
        const grad = scope(() => {
          const s = tensor(sig, [2], { backend: f64, requiresGrad: true });
          normalBalanceLoss(tensor(freq, [2, 8], { backend: f64 }), s, opts).backward();
          return val(s.grad!);
        });
        const h = 1e-6;
        sig.forEach((_, k) => {
          const up = [...sig];
          const dn = [...sig];
          up[k]! += h;
          dn[k]! -= h;
          const fd = (at(up) - at(dn)) / (2 * h);
          expect(Math.abs(grad[k]! - fd), `${normalization} ${reduction} sigma ${k}: ${grad[k]} vs fd ${fd}`).toBeLessThan(1e-7 * Math.max(1, Math.abs(fd)));
        });
      }
    }
  });

  it('global normalisation equals per-layer for a single layer', () => {
    const freq = [1, 2, 3, 4, 5, 0.5, 0.2, 0.1];
    expect(lossOf(freq, 2.2, { normalization: 'global' })).toBeCloseTo(lossOf(freq, 2.2), 12);
  });
});

describe('expertWeightSums', () => {
  it('adds top-K weights per expert, masks padding, and treats null indices as dense', () => {
    const r = scope(() => {
      const idx = tensor(Int32Array.from([0, 2, 2, 1, 3, 0]), [3, 2], { backend: f64 });
      const w = tensor([0.6, 0.4, 0.7, 0.3, 0.9, 0.1], [3, 2], { backend: f64 });
      const dense = tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0, 0], [2, 4], { backend: f64 });
      return {
        sparse: val(expertWeightSums(idx, w, 4)),
        masked: val(expertWeightSums(idx, w, 4, tensor(Int32Array.from([1, 0, 1]), [3], { backend: f64 }))),
        dense: val(expertWeightSums(null, dense, 4)),
      };
    });
    expectClose(r.sparse, [0.7, 0.3, 1.1, 0.9], 1e-12, 'sparse');
    expectClose(r.masked, [0.7, 0, 0.4, 0.9], 1e-12, 'masked');
    expectClose(r.dense, [0.6, 0.7, 0.3, 0.4], 1e-12, 'dense');
  });
});

describe('NormalBalance state', () => {
  const route = (seed: number) => ({
    indices: tensor(Int32Array.from([seed % 4, (seed + 1) % 4, (seed + 2) % 4, 0]), [2, 2], { backend: f64 }),
    weights: tensor([0.6, 0.4, 0.55, 0.45], [2, 2], { backend: f64, requiresGrad: true }),
  });

  it('keeps the running history across scopes, frees the old one, and round-trips through state()', () => {
    const a = new NormalBalance(4, { window: 'running', backend: f64 });
    scope(() => void a.loss(route(0)));
    const live = stats(f64).liveTensors;
    scope(() => void a.loss(route(1)));
    expect(stats(f64).liveTensors).toBe(live); // one history tensor replaced by another
    const s = a.state();
    expect(s.steps).toBe(2);
    expectClose(val(s.counts!), [1.5, 1.0, 0.95, 0.55], 1e-12, 'running counts');
    const b = new NormalBalance(4, { window: 'running', backend: f64 });
    b.loadState(s);
    s.counts!.dispose(); // the loaded copy is independent of the caller's tensor
    const la = scope(() => val(a.loss(route(2)))[0]!);
    const lb = scope(() => val(b.loss(route(2)))[0]!);
    expect(lb).toBeCloseTo(la, 14);
    const c = new NormalBalance(4, { window: 'running', backend: f64 });
    c.loadState({ steps: 3, counts: Array.from(val(a.state().counts!)) });
    expect(val(c.state().counts!)).toEqual(val(a.state().counts!));
    expect(() => c.loadState({ steps: 1, counts: [1, 2], window: 'running' })).toThrow(/4/);
    expect(() => c.loadState({ steps: 1, counts: null, window: 'ema' })).toThrow(/window/);
    a.reset();
    expect(a.state()).toMatchObject({ steps: 0, counts: null });
    [a, b, c].forEach((x) => x.dispose());
  });

  it("'batch' keeps no history; sigma starts at N/2", () => {
    const a = new NormalBalance(8, { backend: f64 });
    expect(val(a.sigma)).toEqual([4]);
    scope(() => void a.loss({ indices: tensor(Int32Array.from([1, 5]), [1, 2], { backend: f64 }), weights: tensor([0.5, 0.5], [1, 2], { backend: f64 }) }));
    expect(a.state().counts).toBeNull();
    a.dispose();
  });
});

describe('targets without an explicit backend', () => {
  it('use the default backend for plain-number parameters', () => {
    const g = scope(() => Array.from(normalTarget(4, 2).dataSync()));
    expect(g.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
  });
});
