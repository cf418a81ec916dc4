import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend, scope, stats, tensor, type Tensor } from '@moegraph/tensor-webgpu';
import { PoissonDistinction, poissonDistinctionLoss, poissonTarget, type PoissonLossOptions } from './poisson.js';
import { destroyTargets, dispose, expectClose, fixtures, makeTargets, read, type Json, type Target } from './test-helpers.js';

let targets: Target[];
beforeAll(async () => {
  targets = await makeTargets();
});
afterAll(() => destroyTargets(targets));

describe('Poisson distinction loss matches PyTorch', () => {
  for (const c of fixtures.poisson as Json[]) {
    for (const name of ['cpu-f64', 'cpu', 'webgpu']) {
      it(`${c.name} [${name}]`, async () => {
        const tg = targets.find((t) => t.name === name)!;
        const backend = tg.backend;
        const r = scope(() => {
          const probs = tensor(c.probs, c.shape, { backend, requiresGrad: true });
          const lam = tensor(c.lam, [], { backend, requiresGrad: true });
          const mask = c.mask ? tensor(c.mask, [c.mask.length], { backend }) : undefined;
          const loss = poissonDistinctionLoss(probs, lam, { form: c.form, clamp: c.clamp, eps: c.eps, mask });
          loss.backward();
          return { loss, gp: probs.grad, gl: lam.grad };
        });
        expectClose(await read(r.loss), [c.loss], tg.rtol, 'loss');
        expectClose(await read(r.gp, c.probs.length), c.grad_probs, tg.rtol, 'dL/dprobs');
        expectClose(await read(r.gl), [c.grad_lam], tg.rtol, 'dL/dlambda');
        dispose([r.loss, r.gp, r.gl]);
      });
    }
  }
});

const f64 = createCpuBackend({ precision: 'f64' });
const val = (t: Tensor) => Array.from(t.dataSync());

/** Loss as a function of lambda alone, on the f64 cpu backend. */
function lossAt(probs: number[], n: number, lam: number, opts: PoissonLossOptions): number {
  return scope(() => val(poissonDistinctionLoss(tensor(probs, [probs.length / n, n], { backend: f64 }), tensor(lam, [], { backend: f64 }), opts))[0]!);
}

function permutedRows(p: number[], rows: number): number[] {
  const n = p.length;
  const out: number[] = [];
  for (let r = 0; r < rows; r++) for (let i = 0; i < n; i++) out.push(p[(i + 2 * r + 1) % n]!);
  return out;
}

describe('Poisson distinction loss: properties (cpu f64)', () => {
  it('is ~0 when the sorted router distribution equals the normalised pmf, larger otherwise', () => {
    // For lambda <= 2 the pmf over ranks 1..N is itself descending (p_2 / p_1 = lambda / 2), so
    // the sorted router distribution can equal it exactly.
    for (const n of [4, 8]) {
      for (const lam of [0.7, 1.5, 1.99]) {
        const p = scope(() => val(poissonTarget(n, lam, f64)));
        expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
        const rows = permutedRows(p, 3); // the same distribution, experts in other orders
        const atTarget = lossAt(rows, n, lam, {});
        expect(Math.abs(atTarget)).toBeLessThan(1e-8);
        expect(Math.abs(lossAt(rows, n, lam, { form: 'abs-log' }))).toBeLessThan(1e-8);
        const uniform = new Array<number>(n).fill(1 / n);
        expect(lossAt(uniform, n, lam, {})).toBeGreaterThan(atTarget + 1e-3);
        // Mixing towards uniform or towards a one-hot moves away from the target and raises the KL.
        const oneHot = Array.from({ length: n }, (_, i) => (i === 0 ? 1 : 0));
        for (const other of [uniform, oneHot]) {
          let prev = atTarget;
          for (const a of [0.1, 0.3, 0.6]) {
            const mix = p.map((x, i) => (1 - a) * x + a * other[i]!);
            const l = lossAt(mix, n, lam, {});
            expect(l).toBeGreaterThan(prev);
            prev = l;
          }
        }
      }
    }
  });

  it('for lambda > 2 the pmf is not descending, so no router distribution reaches 0', () => {
    const n = 8;
    const p = scope(() => val(poissonTarget(n, 3, f64)));
    expect(p[1]!).toBeGreaterThan(p[0]!);
    const sorted = [...p].sort((a, b) => b - a);
    const l = lossAt(sorted, n, 3, {});
    expect(l).toBeGreaterThan(1e-3);
  });

  it('the target equals the normalised Poisson pmf', () => {
    const n = 8;
    const lam = 2.3;
    const pmf = Array.from({ length: n }, (_, k) => {
      const i = k + 1;
      let f = 1;
      for (let j = 2; j <= i; j++) f *= j;
      return (Math.exp(-lam) * lam ** i) / f;
    });
    const z = pmf.reduce((a, b) => a + b, 0);
    const got = scope(() => val(poissonTarget(n, lam, f64)));
    got.forEach((g, i) => expect(g).toBeCloseTo(pmf[i]! / z, 14));
  });

  it('dL/dlambda matches central finite differences (both forms, clamp inside and outside)', () => {
    const n = 8;
    const probs = [0.31, 0.02, 0.2, 0.05, 0.1, 0.12, 0.08, 0.12, 0.05, 0.4, 0.1, 0.15, 0.03, 0.07, 0.11, 0.09];
    const cases: [number, PoissonLossOptions][] = [
      [1.5, {}],
      [0.6, {}],
      [2.8, { form: 'abs-log' }],
      [1.2, { clamp: [1, 2] }],
      [1.7, { form: 'abs-log', clamp: [1, 2] }],
      [2.5, { clamp: [1, 2] }],
    ];
    for (const [lam, opts] of cases) {
      const g = scope(() => {
        const l = tensor(lam, [], { backend: f64, requiresGrad: true });
        poissonDistinctionLoss(tensor(probs, [2, n], { backend: f64 }), l, opts).backward();
        return val(l.grad!)[0]!;
      });
      const h = 1e-6;
      const fd = (lossAt(probs, n, lam + h, opts) - lossAt(probs, n, lam - h, opts)) / (2 * h);
      expect(Math.abs(g - fd), `lambda ${lam} ${JSON.stringify(opts)}: autograd ${g} vs fd ${fd}`).toBeLessThan(1e-7 * Math.max(1, Math.abs(fd)));
      if (opts.clamp && (lam < opts.clamp[0] || lam > opts.clamp[1])) expect(Math.abs(g)).toBe(0);
    }
  });
});

describe('PoissonDistinction', () => {
  it('holds a learnable lambda (init 1.5) that survives scopes and trains', () => {
    const layer = new PoissonDistinction({ backend: f64 });
    expect(layer.parameters()).toEqual([layer.lambda]);
    expect(val(layer.lambda)[0]).toBe(1.5);
    const probs = tensor([0.7, 0.2, 0.05, 0.05], [1, 4], { backend: f64 });
    const g = scope(() => {
      layer.loss(probs).backward();
      return val(layer.lambda.grad!)[0]!;
    });
    // A peaked distribution is matched by a smaller lambda, so the gradient is positive.
    expect(g).toBeGreaterThan(0);
    expect(layer.lambda.isDisposed).toBe(false);
    const t = scope(() => val(layer.target(4)));
    expect(t.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    layer.dispose();
    probs.dispose();
  });

  it('leaves no tensors behind inside a scope', () => {
    const probs = tensor([0.5, 0.3, 0.2, 0.1, 0.6, 0.3], [2, 3], { backend: f64, requiresGrad: true });
    const run = () => scope(() => {
      poissonDistinctionLoss(probs, 1.5, { clamp: [1, 2], form: 'abs-log' }).backward();
      probs.grad?.dispose();
      probs.grad = null;
    });
    run(); // warm the per-backend constant tables
    const before = stats(f64).liveTensors;
    run();
    run();
    expect(stats(f64).liveTensors).toBe(before);
    probs.dispose();
  });
});
