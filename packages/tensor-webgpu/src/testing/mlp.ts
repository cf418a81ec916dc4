/** A tiny 2-layer MLP on a fixed synthetic task, used by the training, leak and runtime smoke tests. */
import type { Backend } from '../backend.js';
import { AdamW } from '../optim/adamw.js';
import type { Optimizer } from '../optim/optimizer.js';
import { Generator } from '../random.js';
import { scope } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { crossEntropy, matmul, relu, add, randn, tensor, zeros } from '../ops/index.js';

export interface Mlp {
  params: Tensor[];
  forward(x: Tensor): Tensor;
}

export function mlp(backend: Backend, dIn: number, hidden: number, dOut: number, seed: number): Mlp {
  const g = new Generator(seed);
  const w1 = randn([dIn, hidden], { backend, generator: g, std: Math.sqrt(2 / dIn), requiresGrad: true, name: 'w1' });
  const b1 = zeros([hidden], { backend, requiresGrad: true, name: 'b1' });
  const w2 = randn([hidden, dOut], { backend, generator: g, std: Math.sqrt(1 / hidden), requiresGrad: true, name: 'w2' });
  const b2 = zeros([dOut], { backend, requiresGrad: true, name: 'b2' });
  return { params: [w1, b1, w2, b2], forward: (x) => add(matmul(relu(add(matmul(x, w1), b1)), w2), b2) };
}

/** Points in dIn dims labelled by which of `classes` random centres is nearest: learnable, not trivial. */
export function blobs(backend: Backend, n: number, dIn: number, classes: number, seed: number): { x: Tensor; y: Tensor } {
  const g = new Generator(seed);
  const centres = Array.from({ length: classes }, () => Array.from({ length: dIn }, () => g.normal() * 2));
  const x = new Float32Array(n * dIn);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = g.int(classes);
    y[i] = c;
    for (let j = 0; j < dIn; j++) x[i * dIn + j] = centres[c]![j]! + g.normal();
  }
  return { x: tensor(x, [n, dIn], { backend }), y: tensor(y, [n], { backend, dtype: 'i32' }) };
}

/** One optimisation step in a scope: zero grads, loss, backward, update; returns the detached loss. */
export function fitStep(opt: Optimizer, loss: () => Tensor): Tensor {
  return scope(() => {
    opt.zeroGrad();
    const l = loss();
    l.backward();
    opt.step();
    return l.detach();
  });
}

/** Train for `steps`; returns the loss every `every` steps (read back asynchronously). */
export async function trainBlobs(backend: Backend, steps: number, every = 10, seed = 1): Promise<number[]> {
  const net = mlp(backend, 8, 32, 4, seed);
  const { x, y } = blobs(backend, 64, 8, 4, seed + 1);
  const opt = new AdamW(net.params, { lr: 0.01, weightDecay: 0 });
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const loss = fitStep(opt, () => crossEntropy(net.forward(x), y));
    if (s % every === 0 || s === steps - 1) losses.push(await loss.item());
    loss.dispose();
  }
  opt.dispose();
  for (const t of [...net.params, x, y]) {
    t.grad?.dispose();
    t.dispose();
  }
  return losses;
}
