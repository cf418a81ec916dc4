// The fused ops of the MoE FFN block's shapes against their unfused compositions, fwd+bwd (backward
// from a fixed random upstream gradient), ms per call measured in the same run (the machine is shared: compare the printed ratios, not absolute ms).
//   combine   combinePairs (combineRows) vs combinePairsReference: v [T*K, d], w [T, K]
//   lora      the LoRA linear x [T, d] -> [T, ffn], x needing a gradient as inside a block:
//             reference (x W + s (xA)B), matmulAddLowRank (fused forward only), loraLinear (fused dx too)
//   block     with --block: apps/bench's MixLoRA block training step (linear router), pairs combined
//             unfused (MoELayer.fused = false) vs fused; the block's expert LoRAs are gatherMatmuls,
//             so only the combine differs
// Run: node bench/fused-ops.mjs [--backends cpu,webgpu] [--reps N] [--block]
import { add, createCpuBackend, createWebGPUBackend, Generator, loraLinear, matmul, matmulAddLowRank, mul, scope, tensor } from '@moegraph/tensor-webgpu';
import { combinePairs, combinePairsReference } from '@moegraph/lora';

const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
const backends = opt('--backends', 'cpu,webgpu').split(',');
const reps = Number(opt('--reps', '10'));
// apps/bench's BLOCK: 1024 tokens, d 256, FFN 1024, 8 experts r 4, top-2.
const [T, D, FF, R, K] = [1024, 256, 1024, 4, 2];

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** One scoped forward + backward of f() with upstream gradient gy, ended when the backend is idle; ms. */
async function stepOnce(f, gy, leaves) {
  const be = gy.backend;
  const t0 = performance.now();
  scope(() => f().backward(gy));
  be.flush();
  await be.sync();
  const ms = performance.now() - t0;
  for (const p of leaves) { p.grad?.dispose(); p.grad = null; }
  return ms;
}

/**
 * [name, median ms] per variant ([name, async () => ms]); the variants take turns, round after
 * round, so drift in the shared machine's speed hits all of them alike. The first round warms up.
 */
async function interleaved(variants, rounds) {
  const times = variants.map(() => []);
  for (let i = 0; i <= rounds; i++) {
    for (const [k, [, run]] of variants.entries()) {
      const ms = await run();
      if (i > 0) times[k].push(ms);
    }
  }
  return variants.map(([name], k) => [name, median(times[k])]);
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
  const gy = rnd([T, D]);
  report(bn, `combine v [${T * K}, ${D}] w [${T}, ${K}]`, await interleaved([
    ['unfused', () => stepOnce(() => combinePairsReference(v, w), gy, [v, w])],
    ['combineRows', () => stepOnce(() => combinePairs(v, w), gy, [v, w])],
  ], reps));
  const x = rnd([T, D]).requireGrad();
  const W = rnd([D, FF]);
  const A = rnd([D, R]).requireGrad();
  const B = rnd([R, FF]).requireGrad();
  const s = 2;
  const leaves = [x, A, B];
  const gl = rnd([T, FF]);
  report(bn, `lora [${T}x${D}]@[${D}x${FF}] r ${R}`, await interleaved([
    ['unfused', () => stepOnce(() => add(matmul(x, W), mul(matmul(matmul(x, A), B), s)), gl, leaves)],
    ['matmulAddLowRank', () => stepOnce(() => matmulAddLowRank(x, W, matmul(x, A), B, s), gl, leaves)],
    ['loraLinear', () => stepOnce(() => loraLinear(x, W, A, B, s), gl, leaves)],
  ], reps));
  for (const t of [v, w, gy, x, W, A, B, gl]) t.dispose();
  if (args.includes('--block')) {
    const { blockStepMs } = await import('../../../apps/bench/src/workloads.mjs');
    // Each call builds the block and returns its median step over 3 steps (after 2 warm-up steps).
    report(bn, `MixLoRA block step, ${T} tokens`, await interleaved([
      ['unfused', () => blockStepMs(be, 'linear', { tokens: T, steps: 3, fused: false })],
      ['combineRows', () => blockStepMs(be, 'linear', { tokens: T, steps: 3 })],
    ], Math.max(3, reps >> 2)));
  }
  if (bn !== 'cpu') be.destroy();
}
process.exit(0);
