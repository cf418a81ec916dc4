/**
 * Runtime-agnostic WebGPU probe, independent of @moegraph/tensor-webgpu: finds navigator.gpu
 * (Deno built in; Bun via the npm package bun-webgpu; Node via Dawn's `webgpu` package) and runs
 * the shared end-to-end probe on it (scripts/webgpu-probe.mjs: adapter, device, one checked dispatch).
 *   node test/smoke/adapter.mjs | deno run -A test/smoke/adapter.mjs | bun test/smoke/adapter.mjs
 * Last line of stdout: `ADAPTER {json}`; exit code 0 iff the shader ran correctly.
 */
import { probeWebGPU } from '../../scripts/webgpu-probe.mjs';

const g = globalThis;
const runtime = g.Deno ? `deno ${g.Deno.version.deno}` : g.Bun ? `bun ${g.Bun.version}` : `node ${g.process.version}`;
const exit = (code) => (g.Deno ? g.Deno.exit(code) : g.process.exit(code));
const keep = []; // Dawn: the object from create() must outlive the device
const report = { runtime, via: null, adapter: null, ok: false };

try {
  if (!g.navigator?.gpu && g.Bun) {
    const m = await import('bun-webgpu');
    await m.setupGlobals();
    report.via = 'bun-webgpu';
  } else if (!g.navigator?.gpu && !g.Deno) {
    const m = await import('webgpu');
    Object.assign(g, m.globals);
    const gpu = m.create([]);
    keep.push(gpu);
    if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
    else g.navigator = { gpu };
    report.via = 'webgpu (Dawn)';
  } else {
    report.via = 'navigator.gpu';
  }
  const probe = await probeWebGPU(g.navigator.gpu);
  report.adapter = probe.adapter ?? null;
  report.ok = probe.ok;
  if (!probe.ok) report.error = probe.error;
} catch (e) {
  report.error = String(e?.message ?? e);
}
console.log(`${runtime}: ${report.ok ? `WebGPU adapter ok via ${report.via}: ${report.adapter?.description ?? ''}` : `no working WebGPU: ${report.error}`}`);
console.log(`ADAPTER ${JSON.stringify(report)}`);
exit(report.ok ? 0 : 1);
