/**
 * The end-to-end WebGPU check shared by scripts/check-webgpu.mjs and test/smoke/adapter.mjs:
 * adapter, device, one compute dispatch and a readback of its result. Plain JS that touches no
 * runtime API, so it runs unchanged under Node, Deno and Bun (usage flags and map modes are
 * numbers because the GPUBufferUsage / GPUMapMode globals exist only once a binding installs them).
 */

const STORAGE = 0x80;
const COPY_SRC = 0x04;
const COPY_DST = 0x08;
const MAP_READ = 0x01;
const MAP_MODE_READ = 1;

const CODE = `@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  if (id.x < arrayLength(&a)) { a[id.x] = a[id.x] * 2.0 + 1.0; }
}`;

/** The limits worth printing: they bound what the tensor runtime can bind and allocate. */
const LIMITS = [
  'maxStorageBuffersPerShaderStage',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
];

/**
 * Probe `gpu`: a GPU object (navigator.gpu or Dawn's create() result) or an adapter it gave.
 * Never throws; resolves to { ok, adapter?, limits?, features?, error? }, where `adapter` describes
 * the adapter as soon as one was found (so a failure later still names it).
 */
export async function probeWebGPU(gpu) {
  const report = { ok: false };
  try {
    const adapter = typeof gpu.requestAdapter === 'function' ? await gpu.requestAdapter() : gpu;
    if (!adapter) throw new Error('requestAdapter() returned null');
    const info = adapter.info ?? {};
    report.adapter = { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description };
    const device = await adapter.requestDevice();
    const bad = await runDoubling(device, 256);
    if (bad) {
      report.error = bad;
      return report;
    }
    report.limits = {};
    for (const k of LIMITS) report.limits[k] = adapter.limits[k];
    report.features = [...adapter.features].sort();
    device.destroy();
    report.ok = true;
  } catch (e) {
    report.error = String(e?.message ?? e);
  }
  return report;
}

/** Run a[i] = 2 a[i] + 1 over a = 0..n-1 on `device`; resolves to null, or what came back wrong. */
async function runDoubling(device, n) {
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: CODE }), entryPoint: 'main' } });
  const buf = device.createBuffer({ size: n * 4, usage: STORAGE | COPY_SRC | COPY_DST });
  device.queue.writeBuffer(buf, 0, Float32Array.from({ length: n }, (_, i) => i));
  const rb = device.createBuffer({ size: n * 4, usage: MAP_READ | COPY_DST });
  const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }] });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bind);
  pass.dispatchWorkgroups(Math.ceil(n / 64));
  pass.end();
  enc.copyBufferToBuffer(buf, 0, rb, 0, n * 4);
  device.queue.submit([enc.finish()]);
  await rb.mapAsync(MAP_MODE_READ);
  const out = new Float32Array(rb.getMappedRange().slice(0));
  rb.unmap();
  const bad = out.findIndex((v, i) => v !== 2 * i + 1);
  return bad < 0 ? null : `compute check gave a[${bad}] = ${out[bad]}, expected ${2 * bad + 1}`;
}
