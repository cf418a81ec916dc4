// Training step of one MoE FFN block (ENGINEERING.md's configuration): 1024 tokens, d 256, frozen
// SwiGLU FFN 1024, 8 LoRA experts r 4 on gate/up/down, top-2, AdamW on LoRA + router, with the
// linear, GCN (GMoE) and 3-round GRU (GraphMoE) routers, per backend; the GCN/linear and
// GRU/linear ratios; and the PyTorch peer (peers/moe_block.py, Debian's python3-torch) in the same run.
// --capture adds rows with the step recorded once by captureStep and replayed (backends with capture only).
//   node apps/bench/src/block.mjs [--backends cpu,webgpu] [--steps 5] [--tokens 1024] [--capture] [--no-peer] [--json out.json]
import { spawnSync } from 'node:child_process';
import { writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BLOCK, ROUTERS, blockStepMs, createBackend } from './workloads.mjs';

const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
const backends = opt('--backends', 'cpu,webgpu').split(',');
const steps = Number(opt('--steps', 5));
const T = Number(opt('--tokens', 1024));
const jsonOut = opt('--json', null);
const withCapture = args.includes('--capture');
const { D, FF, N, R, K } = BLOCK;

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
  const backend = await createBackend(b);
  results[b] = {};
  for (const kind of ROUTERS) {
    results[b][kind] = await blockStepMs(backend, kind, { tokens: T, steps });
    console.error(`block: ${b} ${kind} ${results[b][kind].toFixed(1)} ms/step`);
  }
  if (withCapture && backend.capture) {
    const row = (results[`${b} captured`] = {});
    for (const kind of ROUTERS) {
      row[kind] = await blockStepMs(backend, kind, { tokens: T, steps, capture: true });
      console.error(`block: ${b} ${kind} captured ${row[kind].toFixed(1)} ms/step`);
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
else if (torch) {
  console.log(`\npytorch peer: matmul ${torch.matmul_gflops.toFixed(1)} GFLOP/s at 512^3 (under 10 means the generic BLAS: apt-get install libopenblas0-pthread)`);
  console.log('\n| ours / pytorch | linear | GCN | GRU |\n|---|---|---|---|');
  for (const [b, r] of Object.entries(results)) {
    if (b.startsWith('pytorch')) continue;
    console.log(`| ${b} | ${(r.linear / torch.linear).toFixed(2)}x | ${(r.gcn / torch.gcn).toFixed(2)}x | ${(r.gru / torch.gru).toFixed(2)}x |`);
  }
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ tokens: T, steps, results, torch }, null, 2));
process.exit(0);
