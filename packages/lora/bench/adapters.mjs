// Forward and training throughput (tokens/s) per adapter method and backend, on stories260K and
// on a randomly initialised larger Llama shape. Run: npm run bench -w @moegraph/lora [-- --quick]
//   --quick            fewer steps and only the stories model
//   --backends cpu,webgpu
//   --json FILE        also write the results as JSON
//   --methods a,b      only these methods (e.g. lora)
//   --unfused          LoRA layers run their unfused reference forward (to measure the fused kernel)
import { writeFileSync } from 'node:fs';
import { AdamW, createCpuBackend, createWebGPUBackend, crossEntropy, Generator, noGrad, scope, tensor } from '@moegraph/tensor-webgpu';
import { loadGGUF, randomLlama, LLAMA_512X8 } from '@moegraph/llm';
import { stories260KPath } from '@moegraph/llm/node';
import { attachLoRA, attachMoE } from '@moegraph/lora';

const args = process.argv.slice(2);
const flag = (n) => args.includes(n);
const opt = (n, d) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
const quick = flag('--quick');
const backends = opt('--backends', 'cpu,webgpu').split(',');
const jsonOut = opt('--json', null);
const unfused = flag('--unfused');
const onlyMethods = opt('--methods', null)?.split(',') ?? null;

const METHODS = {
  base: null,
  lora: (m) => attachLoRA(m, { r: 8, alpha: 16, targets: ['q', 'k', 'v', 'o'] }),
  dora: (m) => attachLoRA(m, { method: 'dora', r: 8, alpha: 16, targets: ['q', 'k', 'v', 'o'] }),
  mixlora: (m) => attachMoE(m, { method: 'mixlora', numExperts: 8, topK: 2, r: 8, alpha: 16 }),
  mingmoe: (m) => attachMoE(m, { method: 'mingmoe', numExperts: 8, topK: 2, r: 8, alpha: 16 }),
  loramoe: (m) => attachMoE(m, { method: 'loramoe', numExperts: 8, r: 8, alpha: 16 }),
  mola: (m) => attachMoE(m, { method: 'mola', numExperts: 8, topK: 2, r: 8, alpha: 16 }),
};

async function randomLlama512(backend) {
  return { model: await randomLlama(LLAMA_512X8, { backend }), name: 'llama-512x8 (random)' };
}

async function time(fn, reps) {
  await fn(); // warm-up: pipelines compile, pools fill
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await fn();
  return (performance.now() - t0) / reps;
}

const rows = [];
for (const bname of backends) {
  const backend = bname === 'cpu' ? createCpuBackend() : await createWebGPUBackend();
  const makers = [async () => ({ ...(await loadGGUF(stories260KPath(), { backend })), name: 'stories260K' })];
  if (!quick) makers.push(() => randomLlama512(backend));
  for (const make of makers) {
    const { model, name } = await make();
    const B = 4;
    const T = name === 'stories260K' ? 64 : 128;
    const g = new Generator(1);
    const data = Int32Array.from({ length: B * (T + 1) }, () => g.int(model.config.vocabSize));
    const x = tensor(Int32Array.from({ length: B * T }, (_, i) => data[Math.floor(i / T) * (T + 1) + (i % T)]), [B, T], { dtype: 'i32', backend });
    const y = tensor(Int32Array.from({ length: B * T }, (_, i) => data[Math.floor(i / T) * (T + 1) + (i % T) + 1]), [B, T], { dtype: 'i32', backend });
    for (const [method, attach] of Object.entries(METHODS)) {
      if (onlyMethods && !onlyMethods.includes(method)) continue;
      const adapter = attach ? attach(model) : null;
      if (unfused) for (const m of adapter?.modules.values() ?? []) if (m.layer) m.layer.fused = false;
      const reps = quick ? 2 : name === 'stories260K' ? 5 : 2;
      const fwd = await time(async () => {
        const l = noGrad(() => scope(() => model.forward(x).sum()));
        await l.item();
        l.dispose();
        adapter?.clearRoutes();
      }, reps);
      let train = NaN;
      let params = 0;
      if (adapter) {
        params = adapter.numParameters();
        const opt = new AdamW(adapter.parameters(), { lr: 1e-4 });
        train = await time(async () => {
          const l = scope(() => {
            adapter.clearRoutes();
            opt.zeroGrad();
            const loss = crossEntropy(model.forward(x), y);
            loss.backward();
            opt.step();
            return loss.detach();
          });
          await l.item();
          l.dispose();
        }, reps);
        opt.dispose();
        adapter.detach();
      }
      const row = { backend: bname, model: name, method, params, tokens: B * T, forwardTokPerS: (B * T) / (fwd / 1000), trainTokPerS: (B * T) / (train / 1000) };
      rows.push(row);
      console.log(`${bname.padEnd(7)} ${name.padEnd(22)} ${method.padEnd(8)} params ${String(params).padStart(9)}  forward ${row.forwardTokPerS.toFixed(0).padStart(7)} tok/s  train ${Number.isNaN(train) ? '      -' : row.trainTokPerS.toFixed(0).padStart(7)} tok/s`);
    }
    x.dispose();
    y.dispose();
    model.dispose();
  }
  if (bname !== 'cpu') backend.destroy();
}

console.log('\n| backend | model | method | trainable params | forward tok/s | train tok/s |\n|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.backend} | ${r.model} | ${r.method} | ${r.params} | ${r.forwardTokPerS.toFixed(0)} | ${Number.isNaN(r.trainTokPerS) ? '-' : r.trainTokPerS.toFixed(0)} |`);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(rows, null, 2));
process.exit(0);
