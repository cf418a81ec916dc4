// The fused ops of the MoE FFN block's shapes against their unfused compositions, fwd+bwd, ms per
// call measured in the same run (the machine is shared: compare the printed ratios, not absolute ms).
//   combine   combinePairs (combineRows) vs combinePairsReference: v [T*K, d], w [T, K]
//   lora      the LoRA linear x [T, d] -> [T, ffn], x needing a gradient as inside a block:
//             reference (x W + s (xA)B), matmulAddLowRank (fused forward only), loraLinear (fused dx too)
//   block     with --block: apps/bench's MixLoRA block training step (linear router), pairs combined
//             unfused (MoELayer.fused = false) vs fused; the block's expert LoRAs are gatherMatmuls,
//             so only the combine differs
// Run: node bench/fused-ops.mjs [--backends cpu,webgpu] [--reps N] [--block]
import { add, createCpuBackend, createWebGPUBackend, Generator, loraLinear, matmul, matmulAddLowRank, mul, scope, sum, tensor } from '@moegraph/tensor-webgpu';
import { combinePairs, combinePairsReference } from '@moegraph/lora';

const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
const backends = opt('--backends', 'cpu,webgpu').split(',');
const reps = Number(opt('--reps', '10'));
// apps/bench's BLOCK: 1024 tokens, d 256, FFN 1024, 8 experts r 4, top-2.
const [T, D, FF, R, K] = [1024, 256, 1024, 4, 2];

/** Median ms of a scoped forward + backward of sum(f()), ended by reading the loss, after one warm-up call. */
async function stepMs(f, leaves) {
  const times = [];
  for (let i = 0; i <= reps; i++) {
    const t0 = performance.now();
    const l = scope(() => { const y = sum(f()); y.backward(); return y.detach(); });
    await l.item();
    l.dispose();
    for (const p of leaves) { p.grad?.dispose(); p.grad = null; }
    if (i > 0) times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[times.length >> 1];
}

function report(bn, what, rows) {
  const [, ref] = rows[0];
  for (const [name, ms] of rows) console.log(`${bn.padEnd(6)} ${what.padEnd(34)} ${name.padEnd(16)} ${ms.toFixed(2).padStart(8)} ms  ${(ref / ms).toFixed(2)}x`);
}

for (const bn of backends) {
  const be = bn === 'cpu' ? createCpuBackend() : await createWebGPUBackend();
  const g = new Generator(1);
  const rnd = (shape, std = 0.05) => tensor(Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => g.normal() * std), shape, { backend: be });
  const v = rnd([T * K, D]).requireGrad();
  const w = rnd([T, K], 0.5).requireGrad();
  report(bn, `combine v [${T * K}, ${D}] w [${T}, ${K}]`, [
    ['unfused', await stepMs(() => combinePairsReference(v, w), [v, w])],
    ['combineRows', await stepMs(() => combinePairs(v, w), [v, w])],
  ]);
  const x = rnd([T, D]).requireGrad();
  const W = rnd([D, FF]);
  const A = rnd([D, R]).requireGrad();
  const B = rnd([R, FF]).requireGrad();
  const s = 2;
  const leaves = [x, A, B];
  report(bn, `lora [${T}x${D}]@[${D}x${FF}] r ${R}`, [
    ['unfused', await stepMs(() => add(matmul(x, W), mul(matmul(matmul(x, A), B), s)), leaves)],
    ['matmulAddLowRank', await stepMs(() => matmulAddLowRank(x, W, matmul(x, A), B, s), leaves)],
    ['loraLinear', await stepMs(() => loraLinear(x, W, A, B, s), leaves)],
  ]);
  for (const t of [v, w, x, W, A, B]) t.dispose();
  if (args.includes('--block')) {
    const { blockStepMs } = await import('../../../apps/bench/src/workloads.mjs');
    const steps = Math.max(3, reps >> 1);
    report(bn, `MixLoRA block step, ${T} tokens`, [
      ['unfused', await blockStepMs(be, 'linear', { tokens: T, steps, fused: false })],
      ['combineRows', await blockStepMs(be, 'linear', { tokens: T, steps })],
    ]);
  }
  if (bn !== 'cpu') be.destroy();
}
process.exit(0);
