// Training step of one MoE FFN block (ENGINEERING.md's configuration): 1024 tokens, d 256, frozen
// SwiGLU FFN 1024, 8 LoRA experts r 4 on gate/up/down, top-2, AdamW on LoRA + router, with the
// linear, GCN (GMoE) and 3-round GRU (GraphMoE) routers, per backend; the GCN/linear and
// GRU/linear ratios; and the PyTorch peer (peers/moe_block.py, Debian's python3-torch) in the same run.
//   node apps/bench/src/block.mjs [--backends cpu,webgpu] [--steps 5] [--tokens 1024] [--no-peer] [--json out.json] [--capture]
// --capture also times each step replayed by captureStep (recorded once, no op-layer work per step).
import { spawnSync } from 'node:child_process';
import { writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AdamW, captureStep, createCpuBackend, createWebGPUBackend, Generator, mseLoss, randn, scope, mean, add, mul } from '@moegraph/tensor-webgpu';
import { Linear, SwiGLU } from '@moegraph/llm';
import { MixLoRAFFN, linearRouter } from '@moegraph/lora';
import { graphRouter } from '@moegraph/graph-router';
import { LowRankGRU, RecurrentFFN, gruHiddenSize } from '@moegraph/recurrent-router';

const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
const backends = opt('--backends', 'cpu,webgpu').split(',');
const steps = Number(opt('--steps', 5));
const T = Number(opt('--tokens', 1024));
const jsonOut = opt('--json', null);
const withCapture = args.includes('--capture');
const D = 256, FF = 1024, N = 8, R = 4, K = 2;

function block(backend, kind) {
  const g = new Generator(0);
  const w = (i, o, name) => randn([i, o], { backend, generator: g, std: 0.02, name });
  const base = new SwiGLU(new Linear('gate', w(D, FF)), new Linear('up', w(D, FF)), new Linear('down', w(FF, D)));
  const ctx = { layer: 0, path: 'block', inFeatures: D, numExperts: N, topK: K, backend, generator: g };
  const router = kind === 'gcn' ? graphRouter({ hidden: 256 })(ctx) : linearRouter(ctx);
  const moe = new MixLoRAFFN('block', base, router, { numExperts: N, r: R, alpha: 2 * R, dropout: 0, targets: ['gate', 'up', 'down'], generator: g });
  let ffn = moe;
  let params = moe.parameters();
  if (kind === 'gru') {
    const gru = new LowRankGRU({ dim: D, hiddenSize: gruHiddenSize(D, 0.1), backend, generator: g });
    ffn = new RecurrentFFN('block', moe, gru, { rounds: 3 });
    params = [...params, ...gru.parameters()];
  }
  return { ffn, moe, params, frozen: [base.gate.weight, base.up.weight, base.down.weight] };
}

/** One block with its data and optimizer; `once()` runs a step and reads its loss. */
function trainer(backend, kind, captured) {
  const { ffn, moe, params, frozen } = block(backend, kind);
  const x = randn([T, D], { backend, seed: 1 });
  const target = randn([T, D], { backend, seed: 2 });
  const opt = new AdamW(params, { lr: 1e-4 });
  const body = () => {
    moe.clearRoutes();
    opt.zeroGrad();
    const y = ffn.forward(x);
    const probs = moe.routes.map((r) => mean(r.probs));
    const loss = add(mseLoss(y, target), mul(probs.reduce((a, b) => add(a, b)), 0.01));
    loss.backward();
    opt.step();
    return loss;
  };
  const step = captured ? captureStep(body, { backend }) : null;
  return {
    async once() {
      const t0 = performance.now();
      const l = step ? step.run() : scope(body);
      const host = performance.now() - t0;
      await l.item(); // the step's GPU work is finished when its loss is read
      if (!step) l.dispose();
      return { total: performance.now() - t0, host };
    },
    free() {
      step?.dispose();
      moe.clearRoutes();
      opt.dispose();
      for (const t of [x, target, ...params, ...frozen]) {
        t.grad?.dispose();
        t.dispose();
      }
    },
  };
}

/**
 * Median ms/step, eager (and, with --capture, replayed by captureStep: its steps alternate with the
 * eager ones so that both see the same machine load), plus the JavaScript time issuing each step.
 */
async function timeStep(backend, kind) {
  const modes = withCapture && backend.name !== 'cpu' ? [false, true] : [false];
  const ts = modes.map((c) => trainer(backend, kind, c));
  const runs = ts.map(() => []);
  for (let i = 0; i < steps + 2; i++) {
    for (let k = 0; k < ts.length; k++) {
      const r = await ts[k].once();
      if (i >= 2) runs[k].push(r);
    }
  }
  ts.forEach((t) => t.free());
  const median = (a) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)];
  return runs.map((rs) => ({ total: median(rs.map((r) => r.total)), host: median(rs.map((r) => r.host)) }));
}

function peer() {
  const script = fileURLToPath(new URL('../peers/moe_block.py', import.meta.url));
  if (args.includes('--no-peer') || !existsSync('/usr/bin/python3')) return null;
  const r = spawnSync('/usr/bin/python3', [script, '--threads', '1', '--steps', String(steps), '--tokens', String(T)], {
    encoding: 'utf8', env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' }, timeout: 900_000,
  });
  if (r.status !== 0) return { error: (r.stderr || r.stdout || 'failed').trim().split('\n').pop() };
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const results = {};
for (const b of backends) {
  const backend = b === 'cpu' ? createCpuBackend() : await createWebGPUBackend();
  results[b] = {};
  for (const kind of ['linear', 'gcn', 'gru']) {
    const [eager, captured] = await timeStep(backend, kind);
    results[b][kind] = eager.total;
    console.error(`block: ${b} ${kind} ${eager.total.toFixed(1)} ms/step (JavaScript issuing it ${eager.host.toFixed(1)} ms)`);
    if (captured) {
      (results[`${b} captured`] ??= {})[kind] = captured.total;
      console.error(`block: ${b} ${kind} captured ${captured.total.toFixed(1)} ms/step (JavaScript ${captured.host.toFixed(1)} ms); ` +
        `eager/captured ${(eager.total / captured.total).toFixed(2)}x, JavaScript ${(eager.host / captured.host).toFixed(2)}x`);
    }
  }
  if (b !== 'cpu') backend.destroy();
}
const torch = peer();
if (torch && !torch.error) results['pytorch (1 thread)'] = { linear: torch.linear, gcn: torch.gcn, gru: torch.gru };

console.log(`\nMoE FFN block training step: ${T} tokens, d ${D}, FFN ${FF}, ${N} experts r ${R}, top-${K} (median of ${steps} steps, ms)\n`);
console.log('| backend | linear | GCN | GRU (3 rounds) | GCN/linear | GRU/linear |\n|---|---|---|---|---|---|');
for (const [b, r] of Object.entries(results)) {
  console.log(`| ${b} | ${r.linear.toFixed(1)} | ${r.gcn.toFixed(1)} | ${r.gru.toFixed(1)} | ${(r.gcn / r.linear).toFixed(2)}x | ${(r.gru / r.linear).toFixed(2)}x |`);
}
if (torch?.error) console.log(`\npytorch peer: n/a (${torch.error})`);
else if (torch) console.log(`\npytorch peer: matmul ${torch.matmul_gflops.toFixed(1)} GFLOP/s at 512^3 (under 10 means the generic BLAS: apt-get install libopenblas0-pthread)`);
else if (torch) {
  console.log('\n| ours / pytorch | linear | GCN | GRU |\n|---|---|---|---|');
  for (const b of backends) {
    const r = results[b];
    console.log(`| ${b} | ${(r.linear / torch.linear).toFixed(2)}x | ${(r.gcn / torch.gcn).toFixed(2)}x | ${(r.gru / torch.gru).toFixed(2)}x |`);
  }
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ tokens: T, steps, results, torch }, null, 2));
process.exit(0);
