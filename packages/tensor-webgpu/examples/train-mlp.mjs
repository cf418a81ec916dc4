// A small end-to-end training demo: a 2-layer MLP classifier trained with AdamW on the default
// backend (WebGPU when an adapter exists, else cpu; force one with MOEGRAPH_BACKEND=webgpu|cpu).
// Run: node packages/tensor-webgpu/examples/train-mlp.mjs  (after `npm run build`)
import { init, tensor, randn, zeros, matmul, crossEntropy, scope, stats, AdamW, Generator } from '@moegraph/tensor-webgpu';

const backend = await init();
console.log(`backend: ${backend.name}`);

// Four Gaussian blobs in 16 dimensions; the MLP learns which blob each point came from.
const gen = new Generator(0);
const n = 512, dIn = 16, hidden = 64, classes = 4;
const centres = Array.from({ length: classes }, () => Array.from({ length: dIn }, () => 0.5 * gen.normal()));
const xs = new Float32Array(n * dIn), ys = new Int32Array(n);
for (let i = 0; i < n; i++) {
  ys[i] = gen.int(classes);
  for (let j = 0; j < dIn; j++) xs[i * dIn + j] = centres[ys[i]][j] + gen.normal();
}
const x = tensor(xs, [n, dIn]);
const y = tensor(ys, [n], { dtype: 'i32' });

const w1 = randn([dIn, hidden], { generator: gen, std: Math.sqrt(2 / dIn), requiresGrad: true });
const b1 = zeros([hidden], { requiresGrad: true });
const w2 = randn([hidden, classes], { generator: gen, std: Math.sqrt(1 / hidden), requiresGrad: true });
const b2 = zeros([classes], { requiresGrad: true });
const opt = new AdamW([w1, b1, w2, b2], { lr: 0.003, weightDecay: 0 });

const t0 = performance.now();
let first, last;
for (let step = 0; step <= 200; step++) {
  const loss = scope(() => {
    opt.zeroGrad();
    const logits = x.matmul(w1).add(b1).relu().matmul(w2).add(b2);
    const l = crossEntropy(logits, y);
    l.backward();
    opt.step();
    return l.detach();
  });
  if (step % 20 === 0) {
    const v = await loss.item();
    first ??= v;
    last = v;
    console.log(`step ${String(step).padStart(3)}  loss ${v.toFixed(4)}`);
  }
  loss.dispose();
}
const ms = performance.now() - t0;
const s = stats();
console.log(`201 steps in ${(ms / 1000).toFixed(2)} s (${(ms / 201).toFixed(2)} ms/step) on ${backend.name}; live tensors ${s.liveTensors}, storages ${s.liveStorages}, pipelines ${s.pipelines}`);
if (!(last < first * 0.5)) {
  console.error(`loss did not fall enough: ${first} -> ${last}`);
  process.exit(1);
}
console.log(`loss fell from ${first.toFixed(4)} to ${last.toFixed(4)}`);
process.exit(0);
