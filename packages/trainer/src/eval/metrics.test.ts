/** Expert load and router entropy against hand-computed values, on cpu and webgpu. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend, createWebGPUBackend, scope, stats, tensor, type Backend } from '@moegraph/tensor-webgpu';
import { expertLoad, loadShare, RouteStats, routerEntropy, routesByLayer, type RouteLike } from './metrics.js';

let gpu: Backend;
const cpu = createCpuBackend();
beforeAll(async () => {
  gpu = await createWebGPUBackend();
});
afterAll(() => gpu?.destroy());

// Three tokens, four experts, top-2.
const P = [
  [0.5, 0.25, 0.25, 0],
  [0.1, 0.2, 0.3, 0.4],
  [1, 0, 0, 0],
];
const I = [
  [0, 1],
  [3, 2],
  [0, 1],
];
const H0 = 1.5 * Math.LN2; // -(.5 ln .5 + 2 * .25 ln .25); the 0 contributes 0
const H1 = -(0.1 * Math.log(0.1) + 0.2 * Math.log(0.2) + 0.3 * Math.log(0.3) + 0.4 * Math.log(0.4));
const H2 = 0; // one-hot

describe.each(['cpu', 'webgpu'])('routing metrics on %s', (name) => {
  const be = () => (name === 'cpu' ? cpu : gpu);
  const route = (dense = false): RouteLike => ({
    probs: tensor(new Float32Array(P.flat()), [3, 4], { backend: be() }),
    indices: dense ? null : tensor(new Int32Array(I.flat()), [3, 2], { dtype: 'i32', backend: be() }),
  });
  const free = (r: RouteLike) => {
    r.probs.dispose();
    r.indices?.dispose();
  };

  it('top-K load: selections 2, 2, 1, 1 of 6', async () => {
    const r = route();
    const [l] = await expertLoad([{ path: 'model.layers.0.mlp', routes: [r] }], 4);
    expect(l!.layer).toBe('model.layers.0.mlp');
    [1 / 3, 1 / 3, 1 / 6, 1 / 6].forEach((s, i) => expect(l!.share[i]).toBeCloseTo(s, 6));
    expect(l!.std).toBeCloseTo(1 / 12, 6); // deviations +-1/12 from the mean 1/4
    // A mask drops token 2: selections 1, 1, 1, 1 -> uniform, std 0.
    const [m] = await expertLoad([{ path: 'x', routes: [r] }], 4, [1, 1, 0]);
    m!.share.forEach((s) => expect(s).toBeCloseTo(0.25, 6));
    expect(m!.std).toBeCloseTo(0, 6);
    await expect(expertLoad([{ path: 'x', routes: [r] }], 8)).rejects.toThrow("layer 'x' route 0: probs has 4 experts, expected 8");
    await expect(expertLoad([{ path: 'x', routes: [r] }], 4, [1, 1])).rejects.toThrow('mask has 2 entries for 3 routed tokens');
    free(r);
  });

  it('dense load uses the probabilities: column sums 1.6, .45, .55, .4 of 3', async () => {
    const r = route(true);
    const [l] = await expertLoad([{ path: 'd', routes: [r] }]);
    [1.6 / 3, 0.45 / 3, 0.55 / 3, 0.4 / 3].forEach((s, i) => expect(l!.share[i]).toBeCloseTo(s, 6));
    expect(l!.std).toBeCloseTo(loadShare([1.6, 0.45, 0.55, 0.4]).std, 6);
    free(r);
  });

  it('entropy: mean over tokens of -sum p log p (0 log 0 = 0)', async () => {
    const r = route();
    expect(await routerEntropy([r])).toBeCloseTo((H0 + H1 + H2) / 3, 5);
    expect(await routerEntropy([r], [1, 1, 0])).toBeCloseTo((H0 + H1) / 2, 5);
    expect(await routerEntropy([r, r])).toBeCloseTo((H0 + H1 + H2) / 3, 5);
    free(r);
  });

  it('RouteStats accumulates across batches whose routes are disposed by their scope', async () => {
    const live = stats(be()).liveTensors;
    const acc = new RouteStats(4);
    for (let b = 0; b < 3; b++) {
      scope(() => {
        const adapter = { modules: new Map([['l0', { routes: [route()] }], ['l1', { routes: [route(true)] }], ['lora', {}]]) };
        acc.add(routesByLayer(adapter), b === 2 ? [1, 1, 0] : undefined);
      });
    }
    const s = await acc.summary();
    expect(s.expertLoad.map((l) => l.layer)).toEqual(['l0', 'l1']);
    // l0: 2 x (2, 2, 1, 1) + (1, 1, 1, 1) = (5, 5, 3, 3) of 16.
    [5 / 16, 5 / 16, 3 / 16, 3 / 16].forEach((v, i) => expect(s.expertLoad[0]!.share[i]).toBeCloseTo(v, 6));
    // l1 dense: 2 x column sums + rows 0-1 = (3.2 + .6, .9 + .45, 1.1 + .55, .8 + .4) of 8.
    [3.8 / 8, 1.35 / 8, 1.65 / 8, 1.2 / 8].forEach((v, i) => expect(s.expertLoad[1]!.share[i]).toBeCloseTo(v, 5));
    // Both layers: 2 full batches (3 tokens) + 1 masked (2 tokens) each -> 16 tokens.
    expect(s.tokens).toBe(16);
    expect(s.routerEntropy!).toBeCloseTo((2 * 2 * (H0 + H1 + H2) + 2 * (H0 + H1)) / 16, 5);
    acc.dispose();
    expect(stats(be()).liveTensors).toBe(live); // totals freed, batch routes freed by their scopes
    expect((await new RouteStats().summary()).routerEntropy).toBeNull();
  });
});
