/** captureStep: replays equal eager steps bit for bit, inputs are honoured, memory stays flat, and unreplayable steps are refused. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../backend.js';
import { createCpuBackend } from '../backends/cpu/index.js';
import { createWebGPUBackend } from '../backends/webgpu/index.js';
import { AdamW } from '../optim/adamw.js';
import type { Optimizer } from '../optim/optimizer.js';
import { SGD } from '../optim/sgd.js';
import { crossEntropy, dropout, matmul, mseLoss, randn, tensor, zeros, add } from '../ops/index.js';
import { Generator } from '../random.js';
import { scope } from '../scope.js';
import { stats } from '../stats.js';
import type { Tensor } from '../tensor.js';
import { mlp } from '../testing/mlp.js';
import { readAll } from '../transfer.js';
import { captureStep, type CaptureOptions } from './step.js';

let gpu: Backend;
const cpu = createCpuBackend();
beforeAll(async () => {
  gpu = await createWebGPUBackend();
});
afterAll(() => gpu?.destroy());

/** A model, its optimizer, the input tensors a step reads, fresh host data for them, and the step. */
interface Setup {
  params: Tensor[];
  opt: Optimizer;
  inputs: Tensor[];
  data: (g: Generator) => ArrayLike<number>[];
  step: () => Tensor;
  free: Tensor[];
}

function trainStep(opt: Optimizer, loss: () => Tensor): () => Tensor {
  return () => {
    opt.zeroGrad();
    const l = loss();
    l.backward();
    opt.step();
    return l;
  };
}

const normals = (g: Generator, n: number) => Float32Array.from({ length: n }, () => g.normal());

/** The MLP classifier with AdamW and gradient clipping (the clip factor is computed and bound on the device). */
function mlpSetup(b: Backend): Setup {
  const net = mlp(b, 8, 16, 4, 3);
  const x = zeros([32, 8], { backend: b });
  const y = zeros([32], { backend: b, dtype: 'i32' });
  const opt = new AdamW(net.params, { lr: 0.02, maxGradNorm: 1 });
  const data = (g: Generator) => [normals(g, 32 * 8), Int32Array.from({ length: 32 }, () => g.int(4))];
  return { params: net.params, opt, inputs: [x, y], data, step: trainStep(opt, () => crossEntropy(net.forward(x), y)), free: [x, y] };
}

/** A LoRA linear y = x W0 + x A B (W0 frozen) regressed with SGD, momentum and weight decay. */
function loraSetup(b: Backend): Setup {
  const W0 = randn([8, 8], { backend: b, seed: 1 });
  const A = randn([8, 2], { backend: b, seed: 2, std: 0.1, requiresGrad: true, name: 'A' });
  const B = zeros([2, 8], { backend: b, requiresGrad: true, name: 'B' });
  const x = zeros([16, 8], { backend: b });
  const t = zeros([16, 8], { backend: b });
  const opt = new SGD([A, B], { lr: 0.05, momentum: 0.9, weightDecay: 1e-3 });
  const data = (g: Generator) => [normals(g, 16 * 8), normals(g, 16 * 8)];
  const step = trainStep(opt, () => mseLoss(add(matmul(x, W0), matmul(matmul(x, A), B)), t));
  return { params: [A, B], opt, inputs: [x, t], data, step, free: [W0, x, t] };
}

/**
 * Train `steps` steps with new input data and a decaying learning rate every step, eagerly or
 * through captureStep; returns every step's loss and the final parameters.
 */
async function train(b: Backend, make: (b: Backend) => Setup, steps: number, captured: boolean, opts: CaptureOptions = {}) {
  const s = make(b);
  const g = new Generator(9);
  const step = captured ? captureStep(s.step, { backend: b, ...opts }) : null;
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    s.data(g).forEach((d, k) => s.inputs[k]!.assign(d));
    s.opt.lr *= 0.9;
    if (step) losses.push(await step.run().item());
    else {
      const l = scope(s.step);
      losses.push(await l.item());
      l.dispose();
    }
  }
  const params = (await readAll(s.params)).map((p) => Array.from(p));
  const replaying = step?.replaying ?? false;
  step?.dispose();
  s.opt.dispose();
  for (const t of [...s.params, ...s.free]) t.dispose();
  return { losses, params, replaying };
}

describe.each(['webgpu', 'cpu'])('captureStep on %s', (name) => {
  const be = () => (name === 'cpu' ? cpu : gpu);

  it.each([
    ['an MLP with AdamW and clipping', mlpSetup],
    ['a LoRA linear with SGD momentum', loraSetup],
  ] as const)('replays equal eager steps bit for bit: %s', async (_, make) => {
    const eager = await train(be(), make, 8, false);
    const replay = await train(be(), make, 8, true);
    expect(replay.replaying).toBe(name === 'webgpu');
    expect(replay.losses).toEqual(eager.losses);
    expect(replay.params).toEqual(eager.params);
    expect(new Set(replay.losses).size).toBe(8); // every step saw new data and updated weights
  });

  it('keeps storages and tensors flat over 200 replays, and dispose frees everything', async () => {
    const b = be();
    const s = mlpSetup(b);
    scope(s.step).dispose(); // creates the cached constants the step uses
    const before = stats(b);
    const step = captureStep(s.step, { backend: b });
    const first = step.run();
    const during = stats(b);
    let last = first;
    for (let i = 0; i < 200; i++) last = step.run();
    expect(last === first).toBe(name === 'webgpu'); // replays overwrite the captured outputs
    await last.item();
    const after = stats(b);
    expect([after.liveStorages, after.bytesInUse, after.liveTensors]).toEqual([during.liveStorages, during.bytesInUse, during.liveTensors]);
    if (name === 'webgpu') {
      expect(after.dispatches - during.dispatches).toBe(200 * (during.dispatches - before.dispatches));
      expect(after.pooledBytes).toBe(during.pooledBytes);
    }
    step.dispose();
    const end = stats(b);
    expect([end.liveStorages, end.bytesInUse, end.liveTensors]).toEqual([before.liveStorages, before.bytesInUse, before.liveTensors]);
    expect(end.pooledBytes).toBeGreaterThanOrEqual(before.pooledBytes); // the held buffers went back to the pool
    expect(() => step.run()).toThrow(/after dispose/);
    s.opt.dispose();
    for (const t of [...s.params, ...s.free]) t.dispose();
  });

  it('replays host uploads it was allowed to record, as constants', async () => {
    const withConst = (b: Backend): Setup => {
      const s = mlpSetup(b);
      const inner = s.step;
      s.step = () => add(inner(), tensor([0.5], [], { backend: b }).detach());
      return s;
    };
    const eager = await train(be(), withConst, 4, false);
    expect((await train(be(), withConst, 4, true, { allowUploads: true })).losses).toEqual(eager.losses);
  });

  describe('refuses a step a replay would get wrong', () => {
    const refuse = async (body: (x: Tensor, w: Tensor) => unknown, message: RegExp, cleanup = () => {}) => {
      const b = be();
      const x = randn([4, 3], { backend: b, seed: 1 });
      const w = randn([3, 2], { backend: b, seed: 2, requiresGrad: true });
      const opt = new AdamW([w], { lr: 0.1 });
      const live = stats(b).liveStorages;
      const step = captureStep(() => body(x, w), { backend: b });
      // a refused capture frees what it made, and a retry is refused again rather than run eagerly
      for (let attempt = 0; attempt < 2; attempt++) {
        expect(() => step.run()).toThrow(message);
        cleanup();
        expect(stats(b).liveStorages).toBe(live);
      }
      step.dispose();
      opt.dispose();
      for (const t of [x, w]) t.dispose();
    };

    it('an async step (awaits a readback)', async () => {
      await refuse(async (x, w) => (await matmul(x, w).sum().item()) > 0, /returned a Promise/);
    });
    it('a readback started inside the step', async () => {
      let pending: Promise<unknown> | null = null;
      await refuse((x, w) => {
        const y = matmul(x, w);
        pending = y.data();
        return y;
      }, /tensor\.data\(\).*read outputs after run\(\)/);
      await pending;
    });
    it('dropout drawing its seed from a host generator', async () => {
      const g = new Generator(1);
      await refuse((x, w) => dropout(matmul(x, w), 0.5, { generator: g }), /host random draw/);
    });
    it('host data uploaded inside the step', async () => {
      await refuse((x, w) => add(matmul(x, w), tensor([1, 2], [2], { backend: be() })), /tensor\(\[2\]\) uploads host data.*assign\(\)/);
    });
    it('a gradient created by the first backward', async () => {
      const fresh = randn([3, 1], { backend: be(), seed: 3, requiresGrad: true, name: 'fresh' });
      await refuse((x) => {
        const l = matmul(x, fresh).sum();
        l.backward();
        return l;
      }, /\.grad of leaf 'fresh' \[3, 1\].*Create the optimizer/, () => fresh.grad?.dispose());
      fresh.dispose();
    });
    it('a capture inside a step being captured', async () => {
      await refuse((x, w) => captureStep(() => matmul(x, w), { backend: be() }).run(), /inside another step/);
    });
  });

  it('refuses to replay after an input it reads was replaced (disposed)', async () => {
    const s = mlpSetup(be());
    const step = captureStep(s.step, { backend: be() });
    step.run();
    s.inputs[0]!.dispose();
    expect(() => step.run()).toThrow(name === 'webgpu' ? /storage of 256 elements.*was released.*assign\(\)/ : /was disposed/);
    step.dispose();
    s.opt.dispose();
    for (const t of [...s.params, ...s.free]) t.dispose();
  });
});
