/**
 * Runtime-agnostic WebGPU probe, independent of @moegraph/tensor-webgpu: finds navigator.gpu
 * (Deno built in; Bun via the npm package bun-webgpu; Node via Dawn's `webgpu` package), asks for
 * an adapter and a device, runs one compute shader and checks the result.
 *   node test/smoke/adapter.mjs | deno run -A test/smoke/adapter.mjs | bun test/smoke/adapter.mjs
 * Last line of stdout: `ADAPTER {json}`; exit code 0 iff the shader ran correctly.
 */
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
  const adapter = await g.navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('requestAdapter() returned null');
  const info = adapter.info ?? {};
  report.adapter = { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description };
  const device = await adapter.requestDevice();
  const code = `@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  if (id.x < arrayLength(&a)) { a[id.x] = a[id.x] * 2.0 + 1.0; }
}`;
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
  const n = 256;
  const buf = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(buf, 0, Float32Array.from({ length: n }, (_, i) => i));
  const rb = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }] });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bind);
  pass.dispatchWorkgroups(Math.ceil(n / 64));
  pass.end();
  enc.copyBufferToBuffer(buf, 0, rb, 0, n * 4);
  device.queue.submit([enc.finish()]);
  await rb.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(rb.getMappedRange().slice(0));
  rb.unmap();
  report.ok = out.every((v, i) => v === 2 * i + 1);
  if (!report.ok) report.error = `wrong result: ${out[0]}, ${out[1]}, ..., ${out[n - 1]}`;
} catch (e) {
  report.error = String(e?.message ?? e);
}
console.log(`${runtime}: ${report.ok ? `WebGPU adapter ok via ${report.via}: ${report.adapter?.description ?? ''}` : `no working WebGPU: ${report.error}`}`);
console.log(`ADAPTER ${JSON.stringify(report)}`);
exit(report.ok ? 0 : 1);
