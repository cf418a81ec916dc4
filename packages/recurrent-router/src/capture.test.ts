/** A GraphMoE block step (MixLoRA experts, linear router, 3 GRU rounds, AdamW) replayed by captureStep equals eager steps bit for bit. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AdamW, add, captureStep, createCpuBackend, createWebGPUBackend, Generator, mean, mseLoss, mul, randn, readAll, scope, zeros, type Backend,
} from '@moegraph/tensor-webgpu';
import { Linear, SwiGLU } from '@moegraph/llm';
import { MixLoRAFFN, linearRouter } from '@moegraph/lora';
import { LowRankGRU, RecurrentFFN, gruHiddenSize } from './index.js';

let gpu: Backend;
const cpu = createCpuBackend();
beforeAll(async () => {
  gpu = await createWebGPUBackend();
});
afterAll(() => gpu?.destroy());

const T = 24, D = 16, FF = 32, N = 4;

function block(backend: Backend) {
  const g = new Generator(0);
  const w = (i: number, o: number) => randn([i, o], { backend, generator: g, std: 0.2 });
  const frozen = [w(D, FF), w(D, FF), w(FF, D)];
  const base = new SwiGLU(new Linear('gate', frozen[0]!), new Linear('up', frozen[1]!), new Linear('down', frozen[2]!));
  const ctx = { layer: 0, path: 'block', inFeatures: D, numExperts: N, topK: 2, backend, generator: g };
  const moe = new MixLoRAFFN('block', base, linearRouter(ctx), { numExperts: N, r: 2, alpha: 4, dropout: 0, targets: ['gate', 'up', 'down'], generator: g });
  const gru = new LowRankGRU({ dim: D, hiddenSize: gruHiddenSize(D, 0.25), backend, generator: g, wgInit: 'xavier' });
  const ffn = new RecurrentFFN('block', moe, gru, { rounds: 3 });
  const params = [...moe.parameters(), ...gru.parameters()];
  const x = zeros([T, D], { backend });
  const target = zeros([T, D], { backend });
  const opt = new AdamW(params, { lr: 0.01 });
  const step = () => {
    moe.clearRoutes();
    opt.zeroGrad();
    const y = ffn.forward(x);
    const aux = moe.routes.map((r) => mean(r.probs)).reduce((a, b) => add(a, b));
    const loss = add(mseLoss(y, target), mul(aux, 0.01));
    loss.backward();
    opt.step();
    return loss;
  };
  const free = () => {
    moe.clearRoutes();
    opt.dispose();
    for (const t of [x, target, ...params, ...frozen]) t.dispose();
  };
  return { x, target, params, step, free };
}

async function train(b: Backend, steps: number, captured: boolean) {
  const m = block(b);
  const g = new Generator(4);
  const cap = captured ? captureStep(m.step, { backend: b }) : null;
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    m.x.assign(Float32Array.from({ length: T * D }, () => g.normal()));
    m.target.assign(Float32Array.from({ length: T * D }, () => g.normal()));
    if (cap) losses.push(await cap.run().item());
    else {
      const l = scope(m.step);
      losses.push(await l.item());
      l.dispose();
    }
  }
  const params = (await readAll(m.params)).map((p) => Array.from(p));
  const replaying = cap?.replaying ?? false;
  cap?.dispose();
  m.free();
  return { losses, params, replaying };
}

describe.each(['webgpu', 'cpu'])('captureStep of a recurrent-router block on %s', (name) => {
  it('replays 6 steps equal to 6 eager steps bit for bit', async () => {
    const b = name === 'cpu' ? cpu : gpu;
    const eager = await train(b, 6, false);
    const replay = await train(b, 6, true);
    expect(replay.replaying).toBe(name === 'webgpu');
    expect(replay.losses).toEqual(eager.losses);
    expect(replay.params).toEqual(eager.params);
    expect(new Set(replay.losses).size).toBe(6);
  });
});
