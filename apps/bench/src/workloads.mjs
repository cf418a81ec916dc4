// Our side of the speed benchmarks, one implementation shared by `block` (src/block.mjs) and `perf`
// (src/perf-worker.mjs): each function times one workload on one backend and returns its figure.
//   matmulGflops    f32 M x K x N matmul, GFLOP/s (backend contract: upload / matmul / flush / sync)
//   dispatchMs      ms per dispatch in a batched pass: a chain of dependent adds, then one read
//   blockStepMs     the MoE FFN block training step (ENGINEERING.md's configuration), median ms
//   trainTokensPerSec  LM training tokens/s of stories260K or llama-512x8 with a trainer method
// Every timed region ends when the backend's work has finished (sync or a read).
import { AdamW, captureStep, createCpuBackend, createWebGPUBackend, crossEntropy, Generator, mseLoss, randn, scope, mean, add, mul, tensor } from '@moegraph/tensor-webgpu';
import { Linear, SwiGLU, loadGGUF, randomLlama, LLAMA_512X8 } from '@moegraph/llm';
import { stories260KPath } from '@moegraph/llm/node';
import { MixLoRAFFN, linearRouter } from '@moegraph/lora';
import { graphRouter } from '@moegraph/graph-router';
import { LowRankGRU, RecurrentFFN, gruHiddenSize } from '@moegraph/recurrent-router';

/** The MoE FFN block: d 256, frozen SwiGLU FFN 1024, 8 LoRA experts r 4 on gate/up/down, top-2. */
export const BLOCK = { D: 256, FF: 1024, N: 8, R: 4, K: 2 };
export const ROUTERS = ['linear', 'gcn', 'gru'];
/** Batch and sequence length of the LM training workloads (as packages/lora/bench/adapters.mjs). */
export const LM_MODELS = { stories260K: { batch: 4, seq: 64 }, 'llama-512x8': { batch: 4, seq: 128 } };

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** 'cpu' or 'webgpu'; the cpu backend reads its thread count from MOEGRAPH_THREADS when it supports threads. */
export async function createBackend(name) {
  if (name === 'cpu') return createCpuBackend();
  if (name === 'webgpu') return createWebGPUBackend();
  throw new Error(`unknown backend '${name}' (expected cpu or webgpu)`);
}

function freeAll(tensors) {
  for (const t of tensors) {
    t.grad?.dispose();
    t.dispose();
  }
}

/** Median ms of `steps` calls of `step()` (an async function) after `warmup` untimed calls. */
async function medianMs(step, steps, warmup) {
  const times = [];
  for (let i = 0; i < steps + warmup; i++) {
    const t0 = performance.now();
    await step();
    if (i >= warmup) times.push(performance.now() - t0);
  }
  return median(times);
}

/** The body of a training step: `before()`, zeroGrad, `loss()`, backward, AdamW; returns the loss. */
function stepBody(opt, loss, before) {
  before();
  opt.zeroGrad();
  const v = loss();
  v.backward();
  opt.step();
  return v;
}

/** One training step inside a scope; resolves when the loss is read. */
async function trainStep(opt, loss, before = () => {}) {
  const l = scope(() => stepBody(opt, loss, before).detach());
  await l.item(); // the step's GPU work is finished when its loss is read
  l.dispose();
}

// ------------------------------------------------------------------ kernels

/** A contiguous view of backend storage (the Backend contract's operand). */
const view = (storage, shape) => ({ storage, shape, strides: shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1)), offset: 0 });
function randomF32(n, seed) {
  const g = new Generator(seed);
  return Float32Array.from({ length: n }, () => g.normal());
}

/**
 * GFLOP/s of an f32 [M,K] x [K,N] matmul: median over `repeats` timed batches of `inner` matmuls.
 * By default `inner` makes a batch last about 150 ms (2 to 100 products): on a GPU two products of
 * 4096^3 took 46 ms where ten took 4.8 ms each (H100), the rest being submit and sync latency.
 */
export async function matmulGflops(backend, [M, K, N], { repeats = 5, inner } = {}) {
  const a = backend.upload(randomF32(M * K, 1), 'f32');
  const b = backend.upload(randomF32(K * N, 2), 'f32');
  const batch = async (n) => {
    const outs = [];
    for (let i = 0; i < n; i++) outs.push(backend.matmul(view(a, [1, M, K]), view(b, [1, K, N])));
    backend.flush();
    await backend.sync();
    for (const o of outs) backend.release(o);
  };
  if (inner === undefined) {
    await batch(2);
    const t0 = performance.now();
    await batch(2);
    inner = Math.max(2, Math.min(100, Math.round(150 / ((performance.now() - t0) / 2))));
  }
  const ms = await medianMs(() => batch(inner), repeats, 1);
  backend.release(a);
  backend.release(b);
  backend.flush();
  return (2 * M * K * N * inner) / (ms * 1e6);
}

/** ms per dispatch in steady state: `len` dependent adds of `n` floats recorded in one pass, then a 1-element read. */
export async function dispatchMs(backend, { len = 500, n = 256, repeats = 5 } = {}) {
  const x = backend.upload(randomF32(n, 5), 'f32');
  const one = backend.fill(n, 'f32', 1);
  const ms = await medianMs(async () => {
    const outs = [];
    let cur = x;
    for (let i = 0; i < len; i++) outs.push((cur = backend.binary('add', view(cur, [n]), view(one, [n]))));
    await backend.read([view(cur, [1])]);
    for (const o of outs) backend.release(o);
    backend.flush();
    // Ten untimed chains (about 0.3 s): the first several in a process still pay JIT compilation and
    // Dawn/driver allocations warming up (a 1-chain warm-up measured 57-73 us/dispatch, steady state 33-36).
  }, repeats, 10);
  backend.release(x);
  backend.release(one);
  backend.flush();
  return ms / len;
}

// ------------------------------------------------------------------ MoE FFN block

function block(backend, kind, fused = true) {
  const { D, FF, N, R, K } = BLOCK;
  const g = new Generator(0);
  const w = (i, o, name) => randn([i, o], { backend, generator: g, std: 0.02, name });
  const base = new SwiGLU(new Linear('gate', w(D, FF)), new Linear('up', w(D, FF)), new Linear('down', w(FF, D)));
  const ctx = { layer: 0, path: 'block', inFeatures: D, numExperts: N, topK: K, backend, generator: g };
  const router = kind === 'gcn' ? graphRouter({ hidden: 256 })(ctx) : linearRouter(ctx);
  const moe = new MixLoRAFFN('block', base, router, { numExperts: N, r: R, alpha: 2 * R, dropout: 0, targets: ['gate', 'up', 'down'], generator: g });
  moe.fused = fused;
  let ffn = moe;
  let params = moe.parameters();
  if (kind === 'gru') {
    const gru = new LowRankGRU({ dim: D, hiddenSize: gruHiddenSize(D, 0.1), backend, generator: g });
    ffn = new RecurrentFFN('block', moe, gru, { rounds: 3 });
    params = [...params, ...gru.parameters()];
  }
  return { ffn, moe, params, frozen: [base.gate.weight, base.up.weight, base.down.weight] };
}

/**
 * Median ms of the block's training step (`kind`: linear | gcn | gru router) over `steps` steps
 * after 2 warm-up steps: MSE to a random target + 0.01 x mean router probability, AdamW on LoRA + router.
 * With `capture`, the step is recorded once by captureStep and replayed (eager on backends without capture).
 * `fused: false` combines the experts' pairs by the unfused reference composition (MoELayer.fused).
 */
export async function blockStepMs(backend, kind, { tokens = 1024, steps = 5, capture = false, fused = true } = {}) {
  const { ffn, moe, params, frozen } = block(backend, kind, fused);
  const x = randn([tokens, BLOCK.D], { backend, seed: 1 });
  const target = randn([tokens, BLOCK.D], { backend, seed: 2 });
  const opt = new AdamW(params, { lr: 1e-4 });
  const loss = () => {
    const y = ffn.forward(x);
    const probs = moe.routes.map((r) => mean(r.probs));
    return add(mseLoss(y, target), mul(probs.reduce((a, b) => add(a, b)), 0.01));
  };
  const before = () => moe.clearRoutes();
  const step = capture ? captureStep(() => stepBody(opt, loss, before), { backend }) : null;
  const ms = await medianMs(step ? () => step.run().item() : () => trainStep(opt, loss, before), steps, 2);
  step?.dispose();
  moe.clearRoutes();
  opt.dispose();
  freeAll([x, target, ...params, ...frozen]);
  return ms;
}

// ------------------------------------------------------------------ LM training

/** stories260K (`file`, default the shared GGUF) or a random llama-512x8. */
export async function loadLM(backend, name, file = stories260KPath()) {
  if (name === 'stories260K') return (await loadGGUF(file, { backend })).model;
  if (name === 'llama-512x8') return randomLlama(LLAMA_512X8, { backend });
  throw new Error(`unknown model '${name}' (expected ${Object.keys(LM_MODELS).join(' or ')})`);
}

/** Random next-token batch: ids [B, T] and targets [B, T] (ids shifted by one). */
export function randomBatch(backend, vocab, B, T, seed = 1) {
  const g = new Generator(seed);
  const data = Int32Array.from({ length: B * (T + 1) }, () => g.int(vocab));
  const at = (shift) => tensor(Int32Array.from({ length: B * T }, (_, i) => data[Math.floor(i / T) * (T + 1) + (i % T) + shift]), [B, T], { dtype: 'i32', backend });
  return { x: at(0), y: at(1) };
}

/**
 * Training tokens/s of `model` with `method` attached the way the trainer attaches it
 * (@moegraph/trainer's attachMethod and defaultRunConfig: its r, alpha, dropout, router, aux loss).
 * Median over `steps` steps after one warm-up step; batch x seq tokens per step.
 */
export async function trainTokensPerSec(backend, model, method, { batch, seq, steps = 3 }) {
  const { attachMethod, defaultRunConfig } = await import('@moegraph/trainer');
  const attached = attachMethod(model, defaultRunConfig({ method, seed: 0 }));
  const { adapter } = attached;
  adapter.training = true;
  const { x, y } = randomBatch(backend, model.config.vocabSize, batch, seq);
  const opt = new AdamW([...adapter.parameters(), ...attached.extraParams], { lr: 1e-4 });
  const loss = () => {
    const lm = crossEntropy(model.forward(x), y);
    const aux = attached.auxLoss(adapter.routes());
    return aux ? add(lm, aux) : lm;
  };
  const ms = await medianMs(() => trainStep(opt, loss, () => adapter.clearRoutes()), steps, 1);
  adapter.clearRoutes();
  opt.dispose();
  attached.dispose();
  x.dispose();
  y.dispose();
  return (batch * seq) / (ms / 1000);
}
