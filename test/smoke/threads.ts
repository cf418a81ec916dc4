/**
 * The cpu backend's worker threads under this runtime: a 256^3 matmul (above the threading
 * threshold) on 2 threads must equal the 1-thread result bit for bit, match a float64 reference,
 * and have run tasks in workers (cpuThreadStats), so the shared-memory pool really works here.
 *
 *   deno run -A test/smoke/threads.ts        bun test/smoke/threads.ts
 * Last line of stdout: `SMOKE {json}`; exit code 0 iff all of that held.
 */
// @ts-nocheck -- runs under Deno and Bun, whose globals differ; the import is the built JS.
const g = globalThis as any;
const runtime = g.Deno ? `deno ${g.Deno.version.deno}` : g.Bun ? `bun ${g.Bun.version}` : `node ${g.process?.version}`;
const exit = (code: number): never => (g.Deno ? g.Deno.exit(code) : g.process.exit(code));
const mg = await import(new URL('../../packages/tensor-webgpu/dist/index.js', import.meta.url).href);

const n = 256;
const a = Float32Array.from({ length: n * n }, (_, i) => Math.sin(i * 0.37));
const b = Float32Array.from({ length: n * n }, (_, i) => Math.cos(i * 0.11));
const view = (storage, shape) => ({ storage, shape: [1, ...shape], strides: [0, shape[1], 1], offset: 0 });

async function product(threads: number): Promise<Float32Array> {
  const be = mg.createCpuBackend({ threads });
  const x = be.upload(a, 'f32');
  const y = be.upload(b, 'f32');
  let out = null;
  // Workers start on first use, and under Bun only once the event loop turns (as it does between
  // training steps): yield between products so the later ones find them ready.
  for (let i = 0; i < 8; i++) {
    if (out) be.release(out);
    out = be.matmul(view(x, [n, n]), view(y, [n, n]));
    await new Promise((r) => setTimeout(r, 20));
  }
  const [r] = await be.read([{ storage: out, shape: [n * n], strides: [1], offset: 0 }]);
  return r;
}

const report: Record<string, unknown> = { runtime, sharedArrayBuffer: typeof SharedArrayBuffer === 'function' };
try {
  const one = await product(1);
  const before = mg.cpuThreadStats();
  const two = await product(2);
  const after = mg.cpuThreadStats();
  let maxErr = 0;
  for (let i = 0; i < n; i += 17) {
    for (let j = 0; j < n; j += 13) {
      let ref = 0;
      for (let k = 0; k < n; k++) ref += a[i * n + k] * b[k * n + j];
      maxErr = Math.max(maxErr, Math.abs(ref - two[i * n + j]));
    }
  }
  report.identical = one.every((v, i) => Object.is(v, two[i]));
  report.maxAbsErr = maxErr;
  report.workerTasks = (after.tasks - after.callerTasks) - (before.tasks - before.callerTasks);
  report.workerDeaths = after.workerDeaths;
  report.ok = report.identical === true && maxErr < 1e-3 && (report.workerTasks as number) > 0 && after.workerDeaths === 0;
} catch (e) {
  report.error = String(e?.stack ?? e);
  report.ok = false;
}
console.log(`SMOKE ${JSON.stringify(report)}`);
exit(report.ok ? 0 : 1);
