// One implementation's side of `perf` (src/perf.ts runs one child per row so that each gets its own
// environment, e.g. MOEGRAPH_THREADS=1, and a crash loses one row only). Prints one JSON line:
//   { impl, note, results: { matmul: { '1024x1024x1024': GFLOP/s }, dispatch_ms, block: { linear: ms },
//     train: { 'stories260K/mixlora': tokens/s } }, errors: { workload: message } }
//   node src/perf-worker.mjs --impl cpu|webgpu|tfjs-wasm --workloads matmul,dispatch,block,stories,llama
//        [--matmuls 1024x1024x1024,...] [--repeats N] [--steps N] [--tokens N] [--lm-steps N] [--methods mixlora,gmoe]
//        [--model stories260K.gguf]
import { createRequire } from 'node:module';
import path from 'node:path';

// Dawn's promises do not hold Node's event loop: keep it alive until process.exit().
const keepAlive = setInterval(() => {}, 1 << 30);
const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
const impl = opt('--impl', 'cpu');
const workloads = opt('--workloads', 'matmul,dispatch,block,stories,llama').split(',');
const matmuls = opt('--matmuls', '1024x1024x1024,1024x256x1024,1024x1024x256').split(',');
const repeats = Number(opt('--repeats', 5));
const steps = Number(opt('--steps', 5));
const tokens = Number(opt('--tokens', 1024));
const lmSteps = Number(opt('--lm-steps', 3));
const methods = opt('--methods', 'mixlora,gmoe').split(',');
const modelFile = opt('--model', undefined);
const errMsg = (e) => String(e?.message ?? e).split('\n')[0].slice(0, 200);
const log = (s) => process.stderr.write(`perf[${impl}${process.env.MOEGRAPH_THREADS ? ` threads=${process.env.MOEGRAPH_THREADS}` : ''}]: ${s}\n`);

const out = { impl, note: '', results: {}, errors: {} };
async function attempt(key, fn) {
  const t0 = performance.now();
  try {
    await fn();
    log(`${key} done (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    out.errors[key] = errMsg(e);
    log(`${key} failed: ${out.errors[key]}`);
  }
}

/** tfjs-core + tfjs-backend-wasm (XNNPACK, 1 thread in Node): matmul only, as packages/tensor-webgpu/bench/micro.mjs. */
async function tfjsWasm() {
  const require = createRequire(import.meta.url);
  let tf;
  try {
    tf = require('@tensorflow/tfjs-core');
    const wasm = require('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);
  } catch (e) {
    out.notInstalled = `@tensorflow/tfjs-backend-wasm: ${errMsg(e)}`;
    return;
  }
  if (!(await tf.setBackend('wasm'))) throw new Error("tf.setBackend('wasm') failed");
  out.note = 'XNNPACK, 1 thread';
  const { median } = await import('./workloads.mjs');
  if (!workloads.includes('matmul')) return;
  out.results.matmul = {};
  for (const shape of matmuls) {
    await attempt(`matmul ${shape}`, async () => {
      const [M, K, N] = shape.split('x').map(Number);
      const a = tf.randomNormal([M, K]);
      const b = tf.randomNormal([K, N]);
      const times = [];
      for (let r = 0; r < repeats + 1; r++) {
        const t0 = performance.now();
        const c = tf.matMul(a, b);
        await tf.slice(c, [0, 0], [1, 1]).data();
        if (r > 0) times.push(performance.now() - t0);
        tf.dispose(c);
      }
      tf.dispose([a, b]);
      out.results.matmul[shape] = (2 * M * K * N) / (median(times) * 1e6);
    });
  }
}

async function ours() {
  const w = await import('./workloads.mjs');
  const backend = await w.createBackend(impl);
  out.note = impl === 'cpu' ? `threads ${backend.threads ?? process.env.MOEGRAPH_THREADS ?? 'default'}` : (backend.adapterInfo?.description ?? '');
  if (workloads.includes('matmul')) {
    out.results.matmul = {};
    for (const shape of matmuls) {
      await attempt(`matmul ${shape}`, async () => {
        out.results.matmul[shape] = await w.matmulGflops(backend, shape.split('x').map(Number), { repeats });
      });
    }
  }
  if (workloads.includes('dispatch')) await attempt('dispatch', async () => (out.results.dispatch_ms = await w.dispatchMs(backend, { repeats })));
  if (workloads.includes('block')) {
    out.results.block = {};
    for (const kind of w.ROUTERS) await attempt(`block ${kind}`, async () => (out.results.block[kind] = await w.blockStepMs(backend, kind, { tokens, steps })));
  }
  out.results.train = {};
  for (const [name, shape] of Object.entries(w.LM_MODELS)) {
    if (!workloads.includes(name === 'stories260K' ? 'stories' : 'llama')) continue;
    const ms = name === 'stories260K' ? methods : ['mixlora'];
    let model;
    await attempt(`load ${name}`, async () => (model = await w.loadLM(backend, name, modelFile)));
    if (!model) continue;
    for (const m of ms) {
      await attempt(`train ${name}/${m}`, async () => (out.results.train[`${name}/${m}`] = await w.trainTokensPerSec(backend, model, m, { ...shape, steps: lmSteps })));
    }
    model.dispose();
  }
  if (impl !== 'cpu') backend.destroy();
}

try {
  if (impl === 'tfjs-wasm') await tfjsWasm();
  else if (impl === 'cpu' || impl === 'webgpu') await ours();
  else throw new Error(`unknown implementation '${impl}'`);
} catch (e) {
  out.errors.setup = errMsg(e);
}
process.stdout.write(`${JSON.stringify(out)}\n`);
clearInterval(keepAlive);
process.exit(0);
