/** End-to-end training on both backends, the leak test, and autograd semantics. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from './backend.js';
import { createCpuBackend } from './backends/cpu/index.js';
import { createWebGPUBackend } from './backends/webgpu/index.js';
import { trainBlobs, mlp, blobs, fitStep } from './testing/mlp.js';
import { AdamW } from './optim/adamw.js';
import { SGD } from './optim/sgd.js';
import { scope } from './scope.js';
import { stats } from './stats.js';
import { crossEntropy, gatherMatmul, matmul, mul, randn, sum, tensor, zeros, add } from './ops/index.js';
import { noGrad } from './engine.js';

let gpu: Backend;
const cpu = createCpuBackend();
beforeAll(async () => {
  gpu = await createWebGPUBackend();
});
afterAll(() => gpu?.destroy());
const backends = () => [cpu, gpu] as const;

describe.each(['cpu', 'webgpu'])('training on %s', (name) => {
  const be = () => (name === 'cpu' ? cpu : gpu);

  it('a 2-layer MLP classifier converges', async () => {
    const losses = await trainBlobs(be(), 150, 10);
    expect(losses[0]).toBeGreaterThan(0.5);
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.2);
  });

  it('a LoRA-adapted linear regression recovers a low-rank update', async () => {
    const b = be();
    // y = x (W0 + U V) with W0 known and frozen; learn A [8,2], B [2,8] so that A B = U V.
    const g = 7;
    const W0 = randn([8, 8], { backend: b, seed: g });
    const U = randn([8, 2], { backend: b, seed: g + 1 });
    const V = randn([2, 8], { backend: b, seed: g + 2 });
    const x = randn([128, 8], { backend: b, seed: g + 3 });
    const yTrue = noGrad(() => matmul(x, add(W0, matmul(U, V))));
    const A = randn([8, 2], { backend: b, seed: g + 4, std: 0.1, requiresGrad: true });
    const B = zeros([2, 8], { backend: b, requiresGrad: true });
    const opt = new AdamW([A, B], { lr: 0.05, weightDecay: 0 });
    const losses: number[] = [];
    for (let s = 0; s < 300; s++) {
      const l = fitStep(opt, () => {
        const y = add(matmul(x, W0), matmul(matmul(x, A), B));
        const d = y.sub(yTrue);
        return sum(mul(d, d)).div(d.size);
      });
      if (s === 0 || s === 299) losses.push(await l.item());
      l.dispose();
    }
    expect(losses[1]!).toBeLessThan(losses[0]! * 1e-3);
    opt.dispose();
    for (const t of [W0, U, V, x, yTrue, A, B]) t.dispose();
  });

  it('1000 training steps keep live tensors, storages and bytes flat', async () => {
    const b = be();
    const net = mlp(b, 8, 16, 4, 3);
    const { x, y } = blobs(b, 32, 8, 4, 4);
    const opt = new AdamW(net.params, { lr: 0.01, maxGradNorm: 1 });
    const snap: ReturnType<typeof stats>[] = [];
    for (let s = 0; s < 1000; s++) {
      const loss = fitStep(opt, () => crossEntropy(net.forward(x), y));
      if (s % 100 === 99) {
        await loss.item();
        snap.push(stats(b));
      }
      loss.dispose();
    }
    const first = snap[0]!;
    for (const s of snap) {
      expect(s.liveTensors).toBe(first.liveTensors);
      expect(s.liveStorages).toBe(first.liveStorages);
      expect(s.bytesInUse).toBe(first.bytesInUse);
      expect(s.pooledBytes).toBeLessThanOrEqual(Math.max(first.pooledBytes * 2, 1 << 20));
    }
    opt.dispose();
    for (const t of [...net.params, x, y]) {
      t.grad?.dispose();
      t.dispose();
    }
  });

  it('SGD with momentum reduces the loss', async () => {
    const b = be();
    const net = mlp(b, 8, 16, 4, 5);
    const { x, y } = blobs(b, 64, 8, 4, 6);
    const opt = new SGD(net.params, { lr: 0.05, momentum: 0.9 });
    const losses: number[] = [];
    for (let s = 0; s < 60; s++) {
      const l = fitStep(opt, () => crossEntropy(net.forward(x), y));
      if (s === 0 || s === 59) losses.push(await l.item());
      l.dispose();
    }
    expect(losses[1]!).toBeLessThan(losses[0]! * 0.5);
    opt.dispose();
  });
});

describe('autograd semantics', () => {
  it('accumulates gradients across backward calls and shares a tensor used twice', async () => {
    for (const b of backends()) {
      const w = tensor([1, 2, 3], [3], { backend: b, requiresGrad: true });
      scope(() => sum(mul(w, w)).backward());
      scope(() => sum(mul(w, 3)).backward());
      expect(Array.from(await w.grad!.data())).toEqual([5, 7, 9]);
      w.grad!.dispose();
      w.dispose();
    }
  });

  it('noGrad and detach stop recording; a consumed graph cannot be reused', () => {
    const w = tensor([1, 2], [2], { backend: cpu, requiresGrad: true });
    expect(noGrad(() => mul(w, 2)).requiresGrad).toBe(false);
    expect(mul(w.detach(), 2).requiresGrad).toBe(false);
    const l = sum(mul(w, w));
    l.backward();
    expect(() => l.backward()).toThrow(/already used/);
  });

  it('errors name the op and the shapes; use after dispose throws', () => {
    const a = zeros([2, 3], { backend: cpu });
    const b = zeros([4, 5], { backend: cpu });
    expect(() => add(a, b)).toThrow(/add: shapes \[2, 3\] and \[4, 5\] do not broadcast/);
    expect(() => matmul(a, b)).toThrow(/matmul: inner dims differ: \[2, 3\] @ \[4, 5\]/);
    expect(() => crossEntropy(a, tensor([0], [1], { backend: cpu, dtype: 'i32' }))).toThrow(/crossEntropy: targets \[1\]/);
    b.dispose();
    expect(() => add(a, b)).toThrow(/disposed/);
    expect(() => add(a, zeros([2, 3], { backend: gpu }))).toThrow(/different backends/);
  });

  it('gatherMatmul errors name the op, shapes and dtypes', () => {
    const x = zeros([2, 3, 4], { backend: cpu });
    const w = zeros([5, 4, 6], { backend: cpu });
    const idx = zeros([2, 3], { backend: cpu, dtype: 'i32' });
    expect(gatherMatmul(x, w, idx).shape).toEqual([2, 3, 6]);
    expect(() => gatherMatmul(x, w, zeros([2, 3], { backend: cpu }))).toThrow(/gatherMatmul: index tensor must be i32, got f32 \[2, 3\]/);
    expect(() => gatherMatmul(x, w, zeros([6], { backend: cpu, dtype: 'i32' }))).toThrow(/gatherMatmul: idx \[6\] must have x's leading shape \[2, 3\]/);
    expect(() => gatherMatmul(x, zeros([4, 6], { backend: cpu }), idx)).toThrow(/gatherMatmul: w must be \[e, k, n\], got \[4, 6\]/);
    expect(() => gatherMatmul(x, zeros([5, 3, 6], { backend: cpu }), idx)).toThrow(/gatherMatmul: x \[2, 3, 4\] has k = 4 but w \[5, 3, 6\] has k = 3/);
    expect(() => gatherMatmul(x, w.cast('i32'), idx)).toThrow(/gatherMatmul: dtype i32 not supported/);
    expect(() => gatherMatmul(x, w, tensor([0, 1, 2, 3, 4, 5], [2, 3], { backend: cpu, dtype: 'i32' }))).toThrow(/cpu gatherMatmul: index 5 at position 5 out of range for 5 experts/);
  });

  it('optimizers reject bad parameters clearly', () => {
    const i = tensor([1], [1], { backend: cpu, dtype: 'i32' });
    expect(() => new AdamW([i], { lr: 1 })).toThrow(/i32; trainable parameters must be f32/);
    const p = zeros([2], { backend: cpu });
    expect(() => new AdamW([p], { lr: 1 })).toThrow(/does not require grad/);
  });
});

describe('checkpoint state', () => {
  it('AdamW and Generator state round trips continue a run exactly', async () => {
    const { Generator } = await import('./random.js');
    for (const b of backends()) {
      const run = async (split: boolean) => {
        const g = new Generator(5);
        const w = randn([6, 3], { backend: b, seed: 1, requiresGrad: true });
        const x = randn([8, 6], { backend: b, seed: 2 });
        let opt = new AdamW([w], { lr: 0.05 });
        const step = () => fitStep(opt, () => sum(mul(matmul(x, w), g.uniform())));
        for (let i = 0; i < 3; i++) step().dispose();
        if (split) {
          const st = await opt.exportState();
          const gs = g.getState();
          opt.dispose();
          opt = new AdamW([w], { lr: 0.05 });
          opt.importState(st);
          g.setState(gs);
        }
        for (let i = 0; i < 3; i++) step().dispose();
        const out = Array.from(await w.data());
        opt.dispose();
        return out;
      };
      expect(await run(true)).toEqual(await run(false));
    }
  });
});
