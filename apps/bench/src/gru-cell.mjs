// The GraphMoE GRU virtual node alone, fused gate kernels against the composed small ops: kernel
// dispatches (backend stats()) and median ms of forward + backward of `rounds` GRU steps at the block
// benchmark's size (1024 tokens, d 256, d_bar 25), per backend.
//   node apps/bench/src/gru-cell.mjs [--backends cpu,webgpu] [--steps 5] [--rounds 3] [--tokens 1024]
import { Generator, mul, randn, scope, sum } from '@moegraph/tensor-webgpu';
import { LowRankGRU, gruHiddenSize } from '@moegraph/recurrent-router';
import { BLOCK, createBackend, median } from './workloads.mjs';

const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
const backends = opt('--backends', 'cpu,webgpu').split(',');
const steps = Number(opt('--steps', 5));
const rounds = Number(opt('--rounds', 3));
const tokens = Number(opt('--tokens', 1024));

async function measure(backend, fused) {
  const D = BLOCK.D;
  const gru = new LowRankGRU({ dim: D, hiddenSize: gruHiddenSize(D, 0.1), wgInit: 'xavier', fused, backend, generator: new Generator(0) });
  const x = randn([tokens, D], { backend, seed: 1 });
  const ys = Array.from({ length: rounds }, (_, t) => randn([tokens, D], { backend, seed: 2 + t }));
  // One step: h_t = GRU(h_{t-1}, y_t, x); loss = sum(W_g h_T * x); backward; read the loss.
  const step = async () => {
    const loss = scope(() => {
      let h = gru.initialState(x);
      for (const y of ys) h = gru.step(h, y, x);
      const l = sum(mul(gru.project(h), x));
      l.backward();
      return l;
    });
    await loss.data();
    loss.dispose();
    for (const p of gru.parameters()) { p.grad?.dispose(); p.grad = null; }
  };
  await step();
  const d0 = backend.stats().dispatches;
  await step();
  const dispatches = backend.stats().dispatches - d0;
  const times = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await step();
    times.push(performance.now() - t0);
  }
  for (const t of [x, ...ys, ...gru.parameters()]) t.dispose();
  return { dispatches, ms: median(times) };
}

console.log(`GRU virtual node, ${rounds} rounds forward + backward, ${tokens} tokens, d ${BLOCK.D} (median of ${steps} steps)\n`);
console.log('| backend | GRU | dispatches/step | ms/step |\n|---|---|---|---|');
for (const b of backends) {
  const backend = await createBackend(b);
  for (const fused of [false, true]) {
    const r = await measure(backend, fused);
    console.log(`| ${b} | ${fused ? 'fused' : 'unfused'} | ${r.dispatches} | ${r.ms.toFixed(2)} |`);
  }
  backend.destroy();
}
process.exit(0);
