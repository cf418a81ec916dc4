/**
 * Runtime-agnostic smoke test of the built @moegraph/tensor-webgpu (dist/): trains a 2-layer MLP
 * on a fixed regression task for 20 AdamW steps and checks that the loss fell.
 *
 *   deno run -A test/smoke/train.ts        (WebGPU via Deno's built-in navigator.gpu)
 *   bun test/smoke/train.ts                (WebGPU via the npm package bun-webgpu)
 *
 * The backend comes from init() ('auto' unless MOEGRAPH_SMOKE_BACKEND=cpu|webgpu), so this tests
 * the runtime's own adapter discovery. When it ends up on cpu, the script probes for an adapter
 * independently and reports it, so a runner can fail "adapter exists but cpu ran".
 * Last line of stdout: `SMOKE {json}`; exit code 0 iff the loss fell.
 */
// @ts-nocheck -- runs under Deno and Bun, whose globals differ; the import is the built JS.
const g = globalThis as any;
const runtime = g.Deno ? `deno ${g.Deno.version.deno}` : g.Bun ? `bun ${g.Bun.version}` : `node ${g.process?.version}`;
const env = (k: string): string | undefined => (g.Deno ? g.Deno.env.get(k) : g.process?.env?.[k]);
const exit = (code: number): never => (g.Deno ? g.Deno.exit(code) : g.process.exit(code));
// The built package; MOEGRAPH_SMOKE_MODULE points at another build (a path or URL) for debugging.
const override = env('MOEGRAPH_SMOKE_MODULE');
const moduleUrl = override
  ? (/^[a-z]+:/.test(override) ? override : `file://${override}`)
  : new URL('../../packages/tensor-webgpu/dist/index.js', import.meta.url).href;
let mg: any;

async function probeAdapter(): Promise<string | null> {
  try {
    if (!g.navigator?.gpu && g.Bun) {
      const m = await import('bun-webgpu');
      await m.setupGlobals();
    }
    const a = await g.navigator?.gpu?.requestAdapter();
    return a ? (a.info?.description || a.info?.device || 'adapter') : null;
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  mg = await import(moduleUrl);
  const want = (env('MOEGRAPH_SMOKE_BACKEND') ?? 'auto') as 'auto' | 'cpu' | 'webgpu';
  const t0 = performance.now();
  const backend = await mg.init({ backend: want });
  const tInit = performance.now() - t0;

  // Data: 64 samples x 8 features, targets y = relu(x @ teacher) from a fixed random teacher.
  const x = mg.randn([64, 8], { seed: 1 });
  const teacher = mg.randn([8, 1], { seed: 2 });
  const y = mg.noGrad(() => x.matmul(teacher).relu());
  const w1 = mg.randn([8, 16], { seed: 3, std: 0.3, requiresGrad: true });
  const w2 = mg.randn([16, 1], { seed: 4, std: 0.3, requiresGrad: true });
  const opt = new mg.AdamW([w1, w2], { lr: 0.03 });

  const losses: number[] = [];
  let liveAfterFirst = -1;
  const steps = 20;
  const t1 = performance.now();
  for (let step = 0; step < steps; step++) {
    const loss = mg.scope(() => {
      const out = x.matmul(w1).relu().matmul(w2);
      const l = mg.mseLoss(out, y);
      l.backward();
      return l;
    });
    opt.step();
    opt.zeroGrad();
    if (step === 0 || step === steps - 1 || step % 5 === 0) losses.push(await loss.item());
    loss.dispose();
    if (step === 0) liveAfterFirst = mg.stats().liveTensors;
  }
  const tTrain = performance.now() - t1;
  const first = losses[0];
  const last = losses[losses.length - 1];
  const fell = Number.isFinite(first) && Number.isFinite(last) && last < first * 0.7;
  const st = mg.stats();
  const adapter = backend.name === 'webgpu' ? 'used' : await probeAdapter();
  const report = {
    runtime,
    backend: backend.name,
    adapterAvailable: adapter !== null,
    adapter,
    losses: losses.map((v) => Number(v.toPrecision(5))),
    ok: fell,
    initMs: Math.round(tInit),
    trainMs: Math.round(tTrain),
    liveTensors: st.liveTensors,
    // Tensors still alive at the end minus after the first step: > 0 means a per-step leak.
    leakedTensors: st.liveTensors - liveAfterFirst,
  };
  console.log(`${runtime}: backend ${backend.name}, loss ${first.toPrecision(4)} -> ${last.toPrecision(4)} in ${steps} AdamW steps (${report.trainMs} ms)`);
  console.log(`SMOKE ${JSON.stringify(report)}`);
  exit(fell ? 0 : 1);
}

main().catch((e) => {
  console.error(`smoke: ${e?.stack ?? e}`);
  console.log(`SMOKE ${JSON.stringify({ runtime, ok: false, error: String(e?.message ?? e) })}`);
  exit(1);
});
