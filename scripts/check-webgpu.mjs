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
import { probeWebGPU } from './webgpu-probe.mjs';

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
let report;
try {
  Object.assign(globalThis, webgpu.globals);
  const gpu = webgpu.create([]);
  keep.push(gpu); // must outlive the device
  report = await probeWebGPU(gpu);
} catch (e) {
  report = { ok: false, error: String(e?.message ?? e) };
}
if (report.ok) finish(0, { adapter: report.adapter, limits: report.limits, features: report.features });
else finish(1, { adapter: report.adapter, error: report.error.split('\n')[0] });
