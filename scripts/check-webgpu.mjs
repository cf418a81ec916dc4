#!/usr/bin/env node
/**
 * Checks that Node can get a working WebGPU adapter through Dawn's npm package `webgpu`:
 * adapter, device, one compute dispatch and a readback. Prints the adapter and exits
 *   0  WebGPU works
 *   1  no adapter (or the device or the dispatch failed): on Debian run scripts/setup-vulkan.sh
 *   2  the `webgpu` package is not installed or does not load (run npm install)
 * Options: --quiet (print only on failure), --json (print a JSON report instead).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const quiet = process.argv.includes('--quiet');
const asJson = process.argv.includes('--json');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// Dawn's promises do not keep Node's event loop alive; this does, and bounds the wait.
const guard = setTimeout(() => finish(1, { error: 'timed out after 60 s waiting for the adapter or device' }), 60_000);

function finish(code, report) {
  clearTimeout(guard);
  if (asJson) console.log(JSON.stringify({ ok: code === 0, ...report }));
  else if (code === 0) {
    if (!quiet) {
      const a = report.adapter;
      console.log(`check-webgpu: OK ${a.description || a.device} (vendor ${a.vendor}, ${a.architecture || 'n/a'})`);
      console.log(`check-webgpu: limits maxStorageBuffersPerShaderStage=${report.limits.maxStorageBuffersPerShaderStage} ` +
        `maxStorageBufferBindingSize=${report.limits.maxStorageBufferBindingSize} maxBufferSize=${report.limits.maxBufferSize} ` +
        `maxComputeWorkgroupStorageSize=${report.limits.maxComputeWorkgroupStorageSize}; features ${report.features.join(' ')}`);
    }
  } else {
    console.error(`check-webgpu: FAILED: ${report.error}`);
    if (code === 1) console.error('check-webgpu: no working WebGPU adapter. On Debian bookworm run: bash scripts/setup-vulkan.sh (Mesa >= 25 lavapipe)');
  }
  process.exit(code);
}

let webgpu;
try {
  const require = createRequire(path.join(root, 'package.json'));
  let entry;
  try {
    entry = require.resolve('webgpu');
  } catch {
    entry = require.resolve('webgpu', { paths: [path.join(root, 'packages', 'tensor-webgpu')] });
  }
  webgpu = await import(pathToFileURL(entry).href);
} catch (e) {
  finish(2, { error: `the npm package 'webgpu' (Dawn) does not load: ${String(e?.message ?? e).split('\n')[0]}` });
}

const keep = [];
try {
  Object.assign(globalThis, webgpu.globals);
  const gpu = webgpu.create([]);
  keep.push(gpu); // must outlive the device
  const adapter = await gpu.requestAdapter();
  if (!adapter) finish(1, { error: 'navigator.gpu.requestAdapter() returned null' });
  const info = adapter.info ?? {};
  const adapterReport = { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description };
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
  const bad = out.findIndex((v, i) => v !== 2 * i + 1);
  if (bad >= 0) finish(1, { adapter: adapterReport, error: `compute check gave a[${bad}] = ${out[bad]}, expected ${2 * bad + 1}` });
  const limits = {};
  for (const k of ['maxStorageBuffersPerShaderStage', 'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup']) {
    limits[k] = adapter.limits[k];
  }
  device.destroy();
  finish(0, { adapter: adapterReport, limits, features: [...adapter.features].sort() });
} catch (e) {
  finish(1, { error: String(e?.message ?? e).split('\n')[0] });
}
