// Training step of the GCN router alone (block.mjs's configuration: 1024 tokens, d 256, 8 experts,
// hidden 256): logits, a fixed random-weighted sum, backward; median ms and dispatches per step.
//   node apps/bench/src/gcn-router.mjs [--backends cpu,webgpu] [--steps 5] [--tokens 1024] [--path auto,general]
import { Generator, randn, scope, sum, mul, stats } from '@moegraph/tensor-webgpu';
import { graphRouter } from '@moegraph/graph-router';
import { BLOCK, createBackend, median } from './workloads.mjs';

const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
const steps = Number(opt('--steps', 5));
const T = Number(opt('--tokens', 1024));
const { D, N, K } = BLOCK;

for (const b of opt('--backends', 'cpu,webgpu').split(',')) {
  const backend = await createBackend(b);
  for (const path of opt('--path', 'auto').split(',')) {
    const ctx = { layer: 0, path: 'bench', inFeatures: D, numExperts: N, topK: K, backend, generator: new Generator(0) };
    const router = graphRouter({ hidden: 256, path })(ctx);
    const x = randn([T, D], { backend, seed: 1 });
    const c = randn([T, N], { backend, seed: 2 });
    const times = [];
    let disp = 0;
    for (let i = 0; i < steps + 2; i++) {
      const d0 = stats(backend).dispatches;
      const t0 = performance.now();
      const l = scope(() => {
        const v = sum(mul(router.logits(x), c));
        v.backward();
        return v.detach();
      });
      await l.data();
      if (i >= 2) times.push(performance.now() - t0);
      disp = stats(backend).dispatches - d0;
      l.dispose();
      for (const p of router.parameters()) { p.grad?.dispose(); p.grad = null; }
    }
    console.log(`gcn router ${b} path ${path}: ${median(times).toFixed(1)} ms/step, ${disp} dispatches/step`);
  }
  if (b !== 'cpu') backend.destroy();
}
process.exit(0);
