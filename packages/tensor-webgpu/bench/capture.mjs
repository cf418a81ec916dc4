#!/usr/bin/env node
/**
 * Eager steps against captureStep replays of the same training step, in one run on one backend.
 *
 *   node bench/capture.mjs [--backend webgpu|cpu] [--rows 64] [--dim 64] [--layers 4] [--steps 40] [--repeats 5]
 *
 * The step: an MLP of `layers` dim x dim linear + relu layers on `rows` rows, cross-entropy, AdamW.
 * Each repeat runs `steps` steps back to back (new inputs written with assign() before each) and
 * then reads the last loss, so GPU work is counted; ms/step = that time / steps. "host" is the time
 * spent in JavaScript issuing the steps (eager: the step function; replay: run()). Medians over
 * repeats. The machine is shared and noisy: read the eager/replay ratio, not absolutes.
 */
import { AdamW, assign, captureStep, createCpuBackend, createWebGPUBackend, crossEntropy, Generator, matmul, add, relu, randn, scope, zeros } from '../dist/index.js';

const keepAlive = setInterval(() => {}, 1 << 30); // Dawn's promises do not hold Node's event loop
const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
const kind = opt('--backend', 'webgpu');
const rows = Number(opt('--rows', 64)), dim = Number(opt('--dim', 64)), layers = Number(opt('--layers', 4));
const steps = Number(opt('--steps', 40)), repeats = Number(opt('--repeats', 5));
const backend = kind === 'cpu' ? createCpuBackend() : await createWebGPUBackend();

function model() {
  const g = new Generator(1);
  const ws = Array.from({ length: layers }, () => randn([dim, dim], { backend, generator: g, std: Math.sqrt(2 / dim), requiresGrad: true }));
  const bs = Array.from({ length: layers }, () => zeros([dim], { backend, requiresGrad: true }));
  const x = zeros([rows, dim], { backend });
  const y = zeros([rows], { backend, dtype: 'i32' });
  const opt = new AdamW([...ws, ...bs], { lr: 1e-3 });
  const body = () => {
    opt.zeroGrad();
    let h = x;
    ws.forEach((w, i) => (h = i + 1 < layers ? relu(add(matmul(h, w), bs[i])) : add(matmul(h, w), bs[i])));
    const loss = crossEntropy(h, y);
    loss.backward();
    opt.step();
    return loss;
  };
  return { body, x, y, free: () => { opt.dispose(); for (const t of [...ws, ...bs, x, y]) t.dispose(); } };
}

/** A model stepped eagerly or by captureStep; `once(n)` times n steps back to back. */
function trainer(captured) {
  const m = model();
  const g = new Generator(2);
  const xs = Float32Array.from({ length: rows * dim }, () => g.normal());
  const ys = Int32Array.from({ length: rows }, () => g.int(dim));
  const step = captured ? captureStep(m.body, { backend }) : null;
  const run = () => (step ? step.run() : scope(m.body));
  const once = async (n) => {
    let host = 0, last = null;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      assign(m.x, xs);
      assign(m.y, ys);
      if (last && !step) last.dispose();
      const h0 = performance.now();
      last = run();
      host += performance.now() - h0;
    }
    await last.item();
    if (!step) last.dispose();
    return { total: (performance.now() - t0) / n, host: host / n };
  };
  return { once, free: () => { step?.dispose(); m.free(); } };
}

// Eager and replayed repeats alternate so that both see the same machine load.
const ts = [trainer(false), trainer(true)];
for (const t of ts) await t.once(3); // warm-up: pipelines compile, the capture records
const rs = [[], []];
for (let r = 0; r < repeats; r++) for (let k = 0; k < 2; k++) rs[k].push(await ts[k].once(steps));
ts.forEach((t) => t.free());
const med = (a, k) => a.map((x) => x[k]).sort((x, y) => x - y)[Math.floor(a.length / 2)];
const [eager, replay] = rs.map((a) => ({ total: med(a, 'total'), host: med(a, 'host') }));
console.log(`captureStep on ${kind}: MLP ${layers} x [${dim}, ${dim}], ${rows} rows, AdamW; median of ${repeats} x ${steps} steps`);
console.log('| | ms/step | host ms/step |\n|---|---|---|');
console.log(`| eager | ${eager.total.toFixed(2)} | ${eager.host.toFixed(2)} |`);
console.log(`| replay | ${replay.total.toFixed(2)} | ${replay.host.toFixed(2)} |`);
console.log(`| eager / replay | ${(eager.total / replay.total).toFixed(2)}x | ${(eager.host / replay.host).toFixed(2)}x |`);
clearInterval(keepAlive);
process.exit(0);
