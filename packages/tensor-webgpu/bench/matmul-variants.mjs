#!/usr/bin/env node
/**
 * WebGPU matmul kernels by shape: the tiled kernels alone (the selection before the narrow-output
 * kernels) against the split-K and workgroup-reduced kernels and the shape-based choice, in one run.
 *
 *   node bench/matmul-variants.mjs [--repeats 5] [--only substring] [--slices 2,4,8,16] [--big]
 *
 * Shapes: the matmuls of one MoE-LoRA FFN block step (1024 tokens, d 256, SwiGLU FFN 1024, LoRA
 * r 4 on gate/up/down, 8 experts top-2: dense experts are [d, 8 * r] = 32 wide; linear router),
 * forward and backward with the operand layouts autograd produces (xᵀ and Wᵀ are transposed views,
 * not copies), plus 1024^3 as the no-regression check (--big adds 2048^3 and 4096^3, for GPUs).
 * 'tile' forces the shared-memory kernel (wgsl/tile.ts), which 'auto' picks on GPU adapters only. Every backend shares one device; each
 * timed repeat runs a calibrated number of products, then flush + sync, and the variants of a shape
 * are interleaved repeat by repeat so machine noise hits them alike. Figures are medians in ms per
 * product; ratios are tiled / variant (above 1: the variant is faster). The machine is noisy: read
 * the ratios, not the absolutes.
 */
import { createWebGPUBackend } from '../dist/index.js';

const keepAlive = setInterval(() => {}, 1 << 30); // Dawn's promises do not hold Node's event loop
const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
const REPEATS = Number(opt('--repeats', 5));
const only = opt('--only', '');
const SLICES = opt('--slices', '').split(',').filter(Boolean).map(Number);
const TARGET_MS = 150;

// [label, M, K, N, a layout, b layout]: 'n' row-major, 't' the transpose of a row-major matrix
const T = 1024, D = 256, F = 1024, R = 4, E = 8;
const SHAPES = [
  ['fwd router x@Wr', T, D, E, 'n', 'n'],
  ['fwd FFN gate/up x@W', T, D, F, 'n', 'n'],
  ['fwd FFN down h@W', T, F, D, 'n', 'n'],
  ['fwd LoRA x@A (in 256)', T, D, R, 'n', 'n'],
  ['fwd LoRA h@A (in 1024)', T, F, R, 'n', 'n'],
  ['fwd dense experts x@Aall', T, D, E * R, 'n', 'n'],
  ['fwd dense experts hw@Ball', T, E * R, F, 'n', 'n'],
  ['fwd x@v (N = 1)', T, D, 1, 'n', 'n'],
  ['bwd FFN dx g@Wᵀ (gate/up)', T, F, D, 'n', 't'],
  ['bwd FFN dx g@Wᵀ (down)', T, D, F, 'n', 't'],
  ['bwd router dW xᵀ@g', D, T, E, 't', 'n'],
  ['bwd LoRA dA xᵀ@g (in 256)', D, T, R, 't', 'n'],
  ['bwd LoRA dA hᵀ@g (in 1024)', F, T, R, 't', 'n'],
  ['bwd LoRA dB uᵀ@g (out 256)', R, T, D, 't', 'n'],
  ['bwd LoRA dB uᵀ@g (out 1024)', R, T, F, 't', 'n'],
  ['bwd LoRA du g@Bᵀ (out 1024)', T, F, R, 'n', 't'],
  ['bwd dense dAall xᵀ@g', D, T, E * R, 't', 'n'],
  ['bwd dense dBall hwᵀ@g', E * R, T, F, 't', 'n'],
  ['bwd router dx g@Wrᵀ', T, E, D, 'n', 't'],
  ['probe N = 16', T, D, 16, 'n', 'n'],
  ['probe tiny output, long K', 4, 16384, 4, 't', 'n'],
  ['probe 8 tiles, K 4096', 8, 4096, 16, 't', 'n'],
  ['probe 16 tiles, K 4096', 16, 4096, 16, 't', 'n'],
  ['1024^3', 1024, 1024, 1024, 'n', 'n'],
  ...(args.includes('--big') ? [['2048^3', 2048, 2048, 2048, 'n', 'n'], ['4096^3', 4096, 4096, 4096, 'n', 'n']] : []),
].filter((s) => s[0].includes(only));

const base = await createWebGPUBackend({ matmul: { variant: 'tiled' } });
const shared = (matmul) => createWebGPUBackend({ device: base.device, matmul });
const VARIANTS = [
  ['tiled', base],
  ['auto', await shared({ variant: 'auto' })],
  ['splitK', await shared({ variant: 'splitK' })],
  ...(await Promise.all(SLICES.map(async (s) => [`splitK/${s}`, await shared({ variant: 'splitK', slices: s })]))),
  ['wgK', await shared({ variant: 'wgK' })],
  ['tile', await shared({ variant: 'tile' })],
];
console.log(`adapter: ${base.adapterInfo?.description || '(no description)'}${base.adapterInfo?.software ? ' (software)' : ''}`);

const data = (n) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37));
/** A [rows, cols] view of storage s laid out row-major ('n') or as the transpose of [cols, rows] ('t'). */
const mat = (s, rows, cols, lay) => ({ storage: s, shape: [1, rows, cols], strides: lay === 'n' ? [0, cols, 1] : [0, 1, rows], offset: 0 });
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

async function timed(be, a, b, n) {
  const t0 = performance.now();
  const outs = [];
  for (let i = 0; i < n; i++) outs.push(be.matmul(a, b));
  be.flush();
  await be.sync();
  const ms = performance.now() - t0;
  for (const o of outs) be.release(o);
  return ms / n;
}

const name = (s) => s.padEnd(58);
console.log(`matmul variants on webgpu: ms per product (median of ${REPEATS}), ratio = tiled / variant`);
console.log(name('shape [M x K] @ [K x N]') + VARIANTS.map(([v]) => v.padStart(10) + (v === 'tiled' ? '' : ' ratio'.padStart(7))).join(''));
for (const [label, M, K, N, la, lb] of SHAPES) {
  const cases = VARIANTS.map(([v, be]) => {
    const a = be.upload(data(M * K), 'f32');
    const b = be.upload(data(K * N), 'f32');
    return { v, be, a, b, va: mat(a, M, K, la), vb: mat(b, K, N, lb), ms: [] };
  });
  for (const c of cases) await timed(c.be, c.va, c.vb, 2); // compile and warm up
  for (const c of cases) c.n = Math.max(1, Math.min(100, Math.round(TARGET_MS / (await timed(c.be, c.va, c.vb, 1)))));
  for (let r = 0; r < REPEATS; r++) for (const c of cases) c.ms.push(await timed(c.be, c.va, c.vb, c.n));
  const tiled = median(cases[0].ms);
  const cols = cases.map((c) => {
    const m = median(c.ms);
    return m.toFixed(3).padStart(10) + (c.v === 'tiled' ? '' : `${(tiled / m).toFixed(2)}x`.padStart(7));
  });
  const gf = (2 * M * K * N) / (Math.min(...cases.map((c) => median(c.ms))) * 1e6);
  console.log(name(`${label} [${M}x${K}]@[${K}x${N}]`.slice(0, 60)) + cols.join('') + `  best ${gf.toFixed(0)} GFLOP/s`);
  for (const c of cases) { c.be.release(c.a); c.be.release(c.b); }
}
for (const [, be] of VARIANTS.slice(1)) be.destroy();
base.destroy();
clearInterval(keepAlive);
process.exit(0);
