import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend, scope, softmax, tensor, type Tensor } from '@moegraph/tensor-webgpu';
import {
  loadBalanceLossFromRoutes, mixtralLoadBalanceLoss, routerZLoss, routerZLossFromRoutes, switchLoadBalanceLoss,
} from './balance.js';
import { destroyTargets, dispose, expectClose, fixtures, makeTargets, read, type Json, type Target } from './test-helpers.js';

let targets: Target[];
beforeAll(async () => {
  targets = await makeTargets();
});
afterAll(() => destroyTargets(targets));
const BACKENDS = ['cpu-f64', 'cpu', 'webgpu'];

describe('load balance and z-loss match PyTorch', () => {
  for (const c of fixtures.balance as Json[]) {
    for (const kind of ['mixtral', 'switch', 'zloss'] as const) {
      for (const name of BACKENDS) {
        it(`${c.name} ${kind} [${name}]`, async () => {
          const tg = targets.find((t) => t.name === name)!;
          const backend = tg.backend;
          const r = scope(() => {
            const logits = tensor(c.logits, [c.tokens, c.n], { backend, requiresGrad: true });
            const mask = c.mask ? tensor(Int32Array.from(c.mask), [c.tokens], { backend }) : undefined;
            const opts = { coef: c.coef, mask };
            const loss =
              kind === 'mixtral'
                ? mixtralLoadBalanceLoss(softmax(logits), tensor(Int32Array.from(c.indices), [c.tokens, c.k], { backend }), opts)
                : kind === 'switch'
                  ? switchLoadBalanceLoss(softmax(logits), opts)
                  : routerZLoss(logits, opts);
            loss.backward();
            return { loss, g: logits.grad };
          });
          expectClose(await read(r.loss), [c[kind].loss], tg.rtol, 'loss');
          expectClose(await read(r.g, c.logits.length), c[kind].grad_logits, tg.rtol, 'dL/dlogits');
          dispose([r.loss, r.g]);
        });
      }
    }
  }

  for (const c of fixtures.routes as Json[]) {
    for (const kind of ['mixtral', 'switch', 'zloss'] as const) {
      for (const name of BACKENDS) {
        it(`${c.name} ${kind} from routes [${name}]`, async () => {
          const tg = targets.find((t) => t.name === name)!;
          const backend = tg.backend;
          const r = scope(() => {
            const logits = (c.logits as number[][]).map((l) => tensor(l, [c.tokens, c.n], { backend, requiresGrad: true }));
            const routes = logits.map((l, i) => {
              const probs = softmax(l);
              return { logits: l, probs, indices: tensor(Int32Array.from(c.indices[i]), [c.tokens, c.k], { backend }), weights: probs };
            });
            const mask = c.mask ? tensor(c.mask, [c.tokens], { backend }) : undefined;
            const loss = kind === 'zloss' ? routerZLossFromRoutes(routes, { coef: c.coef, mask }) : loadBalanceLossFromRoutes(routes, { kind, coef: c.coef, mask });
            loss.backward();
            return { loss, gs: logits.map((l) => l.grad) };
          });
          expectClose(await read(r.loss), [c[kind].loss], tg.rtol, 'loss');
          for (const [i, g] of r.gs.entries()) expectClose(await read(g, c.tokens * c.n), c[kind].grad_logits[i], tg.rtol, `layer ${i} dL/dlogits`);
          dispose([r.loss, ...r.gs]);
        });
      }
    }
  }
});

const f64 = createCpuBackend({ precision: 'f64' });
const val = (t: Tensor) => Array.from(t.dataSync());

describe('load balance: properties (cpu f64)', () => {
  it('Mixtral aux equals K (Switch: 1) at perfect balance, more when load concentrates', () => {
    for (const n of [4, 8]) {
      for (const k of [1, 2, 3]) {
        const tokens = 2 * n;
        // Uniform probabilities and choices that give every expert the same count.
        const probs = new Array<number>(tokens * n).fill(1 / n);
        const idx = Int32Array.from({ length: tokens * k }, (_, j) => (Math.floor(j / k) + (j % k)) % n);
        const [mix, sw] = scope(() => {
          const p = tensor(probs, [tokens, n], { backend: f64 });
          return [val(mixtralLoadBalanceLoss(p, tensor(idx, [tokens, k], { backend: f64 })))[0]!, val(switchLoadBalanceLoss(p))[0]!];
        });
        expect(mix).toBeCloseTo(k, 12);
        expect(sw).toBeCloseTo(1, 12); // argmax of a tie is expert 0 for every token, but P is uniform
        // Everyone prefers expert 0 and picks it: the loss exceeds K.
        const skew = Array.from({ length: tokens * n }, (_, j) => (j % n === 0 ? 0.5 : 0.5 / (n - 1)));
        const chosen = Int32Array.from({ length: tokens * k }, (_, j) => j % k);
        const worse = scope(() => val(mixtralLoadBalanceLoss(tensor(skew, [tokens, n], { backend: f64 }), tensor(chosen, [tokens, k], { backend: f64 })))[0]!);
        expect(worse).toBeGreaterThan(k);
      }
    }
  });

  it('masked tokens change nothing; coef scales', () => {
    const r = scope(() => {
      const logits = tensor([1, 2, 0.5, -1, 0.3, 0.2, 2, 1, 3, -2, 0, 0], [3, 4], { backend: f64 });
      const idx = tensor(Int32Array.from([1, 0, 0, 1, 0, 2]), [3, 2], { backend: f64 });
      const two = (x: Tensor) => x.narrow(0, 0, 2);
      const mask = tensor([1, 1, 0], [3], { backend: f64 });
      return [
        val(mixtralLoadBalanceLoss(softmax(logits), idx, { mask }))[0]!,
        val(mixtralLoadBalanceLoss(softmax(two(logits)), two(idx)))[0]!,
        val(routerZLoss(logits, { mask, coef: 0.5 }))[0]!,
        val(routerZLoss(two(logits)))[0]! * 0.5,
      ];
    });
    expect(r[0]).toBeCloseTo(r[1]!, 12);
    expect(r[2]).toBeCloseTo(r[3]!, 12);
  });

  it('dense routes (no indices) are refused for Mixtral, layers with different N are refused', () => {
    const p = tensor([0.5, 0.5], [1, 2], { backend: f64 });
    const dense = { probs: p, indices: null, weights: p };
    expect(() => loadBalanceLossFromRoutes([dense])).toThrow(/dense/);
    expect(scope(() => val(loadBalanceLossFromRoutes([dense], { kind: 'switch' }))[0])).toBeCloseTo(1, 12);
    const q = tensor([0.2, 0.3, 0.5], [1, 3], { backend: f64 });
    expect(() => loadBalanceLossFromRoutes([dense, { probs: q, indices: null, weights: q }], { kind: 'switch' })).toThrow(/expert counts/);
  });
});
