#!/usr/bin/env node
/**
 * The per-dispatch floor of raw Dawn (no moegraph code) on this adapter, by how a kernel's
 * parameters are bound: 500 dependent dispatches of a one-workgroup add in one compute pass, 128 per
 * submit, then one 16-byte read; bind groups created up front.
 *   dynamic  uniform with a dynamic offset per dispatch (what the runtime did before)
 *   static   a bind group per slot with a fixed uniform offset
 *   group1   storages in group 0, the parameter slot's own bind group as group 1 (what it does now)
 *   none     no uniform at all (the floor)
 * On lavapipe a dynamic offset makes the driver copy the descriptor set at every bind, an mmap +
 * munmap (TLB shootdown) per dispatch: `strace -f -c -e trace=munmap` counts one munmap per
 * dispatch for 'dynamic' only.
 *
 *   node bench/dispatch-floor.mjs [--rounds 3] [--only dynamic,group1]
 */
const keepAlive = setInterval(() => {}, 1 << 30); // Dawn's promises do not hold Node's event loop
const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
const ROUNDS = Number(opt('--rounds', 3));
const ONLY = opt('--only', 'dynamic,static,group1,none').split(',');
const { create, globals } = await import('webgpu');
Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter();
const device = await adapter.requestDevice();
const N = 256, LEN = 500, SLOTS = 128, C = 4 /* GPUShaderStage.COMPUTE */;

const uni = device.createBuffer({ size: 256 * SLOTS, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
const words = new Uint32Array(64 * SLOTS);
for (let i = 0; i < SLOTS; i++) words[i * 64] = N / 4;
device.queue.writeBuffer(uni, 0, words);
const bufs = Array.from({ length: LEN + 1 }, () => device.createBuffer({ size: N * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }));
const rd = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
const storageEntries = [
  { binding: 1, visibility: C, buffer: { type: 'read-only-storage' } },
  { binding: 2, visibility: C, buffer: { type: 'storage' } },
];
const io = (i) => [{ binding: 1, resource: { buffer: bufs[i] } }, { binding: 2, resource: { buffer: bufs[i + 1] } }];

/** A variant: its pipeline and, per dispatch i at slot s, the calls that bind its groups. */
function variant(kind) {
  const paramDecl = kind === 'none' ? '' : `@group(${kind === 'group1' ? 1 : 0}) @binding(0) var<uniform> p: vec4<u32>;`;
  const code = `${paramDecl}
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> o: array<vec4<f32>>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < ${kind === 'none' ? `${N / 4}u` : 'p.x'}) { o[g.x] = a[g.x] + vec4<f32>(1.0); }
}`;
  const uniformEntry = { binding: 0, visibility: C, buffer: { type: 'uniform', hasDynamicOffset: kind === 'dynamic' } };
  const g0 = device.createBindGroupLayout({ entries: kind === 'dynamic' || kind === 'static' ? [uniformEntry, ...storageEntries] : storageEntries });
  const layouts = [g0];
  if (kind === 'group1') layouts.push(device.createBindGroupLayout({ entries: [uniformEntry] }));
  const pipeline = device.createComputePipeline({ layout: device.createPipelineLayout({ bindGroupLayouts: layouts }), compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
  const param = (s) => ({ binding: 0, resource: { buffer: uni, offset: s * 256, size: 256 } });
  const groups = bufs.slice(0, LEN).map((_, i) => {
    const e = kind === 'dynamic' ? [param(0), ...io(i)] : kind === 'static' ? [param(i % SLOTS), ...io(i)] : io(i);
    return device.createBindGroup({ layout: g0, entries: e });
  });
  const slotGroups = kind === 'group1' ? Array.from({ length: SLOTS }, (_, s) => device.createBindGroup({ layout: layouts[1], entries: [param(s)] })) : [];
  const bind = (pass, i, s) => {
    if (kind === 'dynamic') pass.setBindGroup(0, groups[i], [s * 256]);
    else pass.setBindGroup(0, groups[i]);
    if (kind === 'group1') pass.setBindGroup(1, slotGroups[s]);
  };
  return { kind, pipeline, bind };
}

async function chain(v) {
  let enc = device.createCommandEncoder();
  let pass = enc.beginComputePass();
  pass.setPipeline(v.pipeline);
  for (let i = 0, s = 0; i < LEN; i++, s++) {
    if (s === SLOTS) {
      pass.end();
      device.queue.submit([enc.finish()]);
      enc = device.createCommandEncoder();
      pass = enc.beginComputePass();
      pass.setPipeline(v.pipeline);
      s = 0;
    }
    v.bind(pass, i, s);
    pass.dispatchWorkgroups(1);
  }
  pass.end();
  enc.copyBufferToBuffer(bufs[LEN], 0, rd, 0, 16);
  device.queue.submit([enc.finish()]);
  await rd.mapAsync(GPUMapMode.READ);
  rd.unmap();
}

const variants = ONLY.map(variant);
const us = Object.fromEntries(variants.map((v) => [v.kind, []]));
for (const v of variants) for (let i = 0; i < 5; i++) await chain(v); // warm up
// interleaved rounds, so machine noise hits the variants alike
for (let r = 0; r < ROUNDS; r++) {
  for (const v of variants) {
    const ts = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await chain(v);
      ts.push(performance.now() - t0);
    }
    us[v.kind].push((ts.sort((a, b) => a - b)[2] / LEN) * 1000);
  }
}
const info = adapter.info ?? {};
console.log(`raw Dawn per-dispatch floor on ${info.description || info.device || 'this adapter'}: us per dispatch, median of ${ROUNDS} rounds`);
const med = (x) => [...x].sort((a, b) => a - b)[x.length >> 1];
const ref = us.dynamic ? med(us.dynamic) : null;
for (const v of variants) {
  const m = med(us[v.kind]);
  console.log(`${v.kind.padEnd(8)} ${m.toFixed(1).padStart(7)} us${ref ? `  (${(m / ref).toFixed(2)}x dynamic)` : ''}   rounds: ${us[v.kind].map((x) => x.toFixed(1)).join(' ')}`);
}
clearInterval(keepAlive);
process.exit(0);
