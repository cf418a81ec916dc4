#!/usr/bin/env node
/**
 * Micro-benchmarks of @moegraph/tensor-webgpu's backends against peers, measured in one run.
 *
 *   node bench/micro.mjs [--json out.json] [--quick] [--repeats N] [--only a,b,...] [--cpu]
 *
 * Implementations (--only takes these names):
 *   cpu          our createCpuBackend({ precision: 'f32' })
 *   webgpu       our createWebGPUBackend() (Dawn's `webgpu` package in Node)
 *   tfjs-wasm    @tensorflow/tfjs-core + @tensorflow/tfjs-backend-wasm (XNNPACK, 1 thread in Node)
 *   tfjs-webgpu  @tensorflow/tfjs-backend-webgpu on a Dawn instance of the same `webgpu` package
 *
 * Figures, each the median over repeats after warm-up:
 *   matmul GFLOP/s for M x K x N = 1024x1024x1024, 1024x1024x256, 1024x256x1024
 *   ms per dispatch: a chain of 500 dependent adds of 256 floats, then one 1-element read, / 500
 *   ms per elementwise add, silu, sigmoid of 1M floats, and per row softmax of 1000 x 1000
 *   (tfjs has no fused silu: x * sigmoid(x), as a tfjs user would write it)
 * Our side uses the Backend contract (upload / matmul / binary / flush / sync / read) so op-layer
 * overhead is excluded; every timed region ends with flush + sync (ours) or a 1-element read
 * (tfjs), so GPU work is counted. The machine is noisy: read the ours/peer ratios, not absolutes.
 * --cpu times with the process's CPU time (user + system, every thread) instead of the wall
 * clock: on lavapipe (and the wasm peers) all the work runs in this process, and CPU time barely
 * moves when other jobs share the cores, so it compares builds on a busy machine (it also counts
 * the threads' spinning, so it reads higher than wall time on an idle one).
 */
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { existsSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';

// Dawn's promises do not hold Node's event loop: keep it alive until we process.exit().
const keepAlive = setInterval(() => {}, 1 << 30);

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgDir = path.resolve(here, '..');
const require = createRequire(path.join(pkgDir, 'package.json'));

// ---------------------------------------------------------------- args
const argv = process.argv.slice(2);
const opt = { json: null, quick: false, repeats: 0, only: null, cpu: false };
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--json') opt.json = argv[++i];
  else if (a.startsWith('--json=')) opt.json = a.slice(7);
  else if (a === '--quick') opt.quick = true;
  else if (a === '--repeats') opt.repeats = Number(argv[++i]);
  else if (a === '--only') opt.only = argv[++i].split(',');
  else if (a === '--cpu') opt.cpu = true;
  else if (a === '-h' || a === '--help') {
    console.log('usage: node bench/micro.mjs [--json out.json] [--quick] [--repeats N] [--only cpu,webgpu,tfjs-wasm,tfjs-webgpu] [--cpu]');
    process.exit(0);
  } else {
    console.error(`micro: unknown argument ${a}`);
    process.exit(2);
  }
}
const REPEATS = opt.repeats > 0 ? opt.repeats : opt.quick ? 3 : 7;
const TARGET_MS = opt.quick ? 60 : 200; // calibrated time of one timed repeat
const WARMUPS = 2;
const CHAIN = 500;
const CHAIN_SIZE = 256;
const ADD_SIZE = 1_000_000;
/** Elementwise figures over ADD_SIZE floats: [kind, label]; softmax runs over rows of SOFTMAX_COLS. */
const ELEMENTWISE = [['add', 'add'], ['silu', 'silu'], ['sigmoid', 'sigmoid'], ['softmax', 'row softmax (1000 cols)']];
const SOFTMAX_COLS = 1000;
const MATMULS = [
  [1024, 1024, 1024],
  [1024, 1024, 256],
  [1024, 256, 1024],
];

// ---------------------------------------------------------------- helpers
const wall = () => performance.now();
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
/** The clock of the timed regions (ms): wall, or this process's CPU time with --cpu. */
const now = opt.cpu ? cpuMs : wall;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
function randomF32(n, seed) {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}
const contiguousStrides = (shape) => {
  const st = new Array(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { st[i] = acc; acc *= shape[i]; }
  return st;
};
const view = (storage, shape) => ({ storage, shape, strides: contiguousStrides(shape), offset: 0 });
const errMsg = (e) => String(e?.message ?? e).split('\n')[0].slice(0, 160);

/**
 * A case: { units, run(inner) -> Promise<any>, cleanup?(result), dispose?() }.
 * run(inner) performs `inner` repetitions of `units` operations and waits for completion.
 * Returns the median milliseconds per unit.
 */
async function measure(c) {
  for (let w = 0; w < WARMUPS; w++) c.cleanup?.(await c.run(1));
  let t0 = now();
  c.cleanup?.(await c.run(1));
  const one = Math.max(now() - t0, 1e-3);
  const inner = Math.max(1, Math.min(200, Math.round(TARGET_MS / one)));
  const samples = [];
  for (let r = 0; r < REPEATS; r++) {
    t0 = now();
    const res = await c.run(inner);
    const dt = now() - t0;
    c.cleanup?.(res);
    samples.push(dt / inner / c.units);
  }
  return median(samples);
}

/**
 * The run of the dispatch-latency case, shared by every implementation: each repetition applies
 * `add` `len` times, each on the previous result, then awaits `readOne(last, outs)`, which reads one
 * element (pushing onto `outs` anything it allocates, so cleanup frees it with the rest).
 */
function chainRun(len, x, add, readOne) {
  return {
    units: len,
    async run(inner) {
      const outs = [];
      for (let r = 0; r < inner; r++) {
        let cur = x;
        for (let i = 0; i < len; i++) {
          cur = add(cur);
          outs.push(cur);
        }
        await readOne(cur, outs);
      }
      return outs;
    },
  };
}

// ---------------------------------------------------------------- our backends
let oursModule = null;
let oursModuleError = null;
async function loadOurs() {
  if (oursModule || oursModuleError) return oursModule;
  // MOEGRAPH_BENCH_MODULE overrides the module (e.g. to bench another build of the package).
  const dist = process.env.MOEGRAPH_BENCH_MODULE ? path.resolve(process.env.MOEGRAPH_BENCH_MODULE) : path.join(pkgDir, 'dist', 'index.js');
  if (!existsSync(dist)) {
    oursModuleError = `${dist} not found (npm run build -w @moegraph/tensor-webgpu)`;
    return null;
  }
  try {
    oursModule = await import(pathToFileURL(dist).href);
  } catch (e) {
    oursModuleError = `import failed: ${errMsg(e)}`;
  }
  return oursModule;
}

function oursImpl(kind) {
  let be = null;
  return {
    name: kind,
    label: `ours ${kind}`,
    async setup() {
      const m = await loadOurs();
      if (!m) throw new Error(oursModuleError);
      if (kind === 'cpu') {
        be = m.createCpuBackend({ precision: 'f32' });
      } else {
        if (m.webgpuAvailable && !(await m.webgpuAvailable())) throw new Error('webgpuAvailable() is false: no WebGPU adapter');
        be = await m.createWebGPUBackend();
      }
      return kind === 'cpu' ? 'createCpuBackend({ precision: f32 })' : 'createWebGPUBackend()';
    },
    async select() {},
    matmul(M, K, N) {
      const a = be.upload(randomF32(M * K, 1), 'f32');
      const b = be.upload(randomF32(K * N, 2), 'f32');
      const va = view(a, [1, M, K]);
      const vb = view(b, [1, K, N]);
      return {
        units: 1,
        async run(inner) {
          const outs = [];
          for (let i = 0; i < inner; i++) outs.push(be.matmul(va, vb));
          be.flush();
          await be.sync();
          return outs;
        },
        cleanup(outs) { for (const o of outs) be.release(o); },
        dispose() { be.release(a); be.release(b); be.flush(); },
      };
    },
    elementwise(kind, n) {
      const a = be.upload(randomF32(n, 3), 'f32');
      const b = be.upload(randomF32(n, 4), 'f32');
      const va = view(a, [n]);
      const vb = view(b, [n]);
      const rows = n / SOFTMAX_COLS;
      const op = {
        add: () => be.binary('add', va, vb),
        silu: () => be.unary('silu', va),
        sigmoid: () => be.unary('sigmoid', va),
        softmax: () => be.softmax(a, rows, SOFTMAX_COLS, false),
      }[kind];
      return {
        units: 1,
        async run(inner) {
          const outs = [];
          for (let i = 0; i < inner; i++) outs.push(op());
          be.flush();
          await be.sync();
          return outs;
        },
        cleanup(outs) { for (const o of outs) be.release(o); },
        dispose() { be.release(a); be.release(b); be.flush(); },
      };
    },
    chain(len, n) {
      const x = be.upload(randomF32(n, 5), 'f32');
      const one = be.fill(n, 'f32', 1);
      const vone = view(one, [n]);
      return {
        ...chainRun(len, x, (cur) => be.binary('add', view(cur, [n]), vone), (cur) => be.read([view(cur, [1])])),
        cleanup(outs) { for (const o of outs) be.release(o); be.flush(); },
        dispose() { be.release(x); be.release(one); be.flush(); },
      };
    },
    info() {
      const s = be?.stats?.();
      return s ? { dispatches: s.dispatches, submits: s.submits, pipelines: s.pipelines } : {};
    },
    teardown() { try { be?.destroy(); } catch {} },
  };
}

// ---------------------------------------------------------------- tfjs peers
let tf = null;
function loadTf() {
  if (!tf) {
    // Node resolution picks tfjs-core's CommonJS node build; both backends register on this engine.
    tf = require('@tensorflow/tfjs-core');
  }
  return tf;
}

let dawnForTfjs = null; // keep the object from create() alive for the life of the device
function tfjsImpl(kind) {
  const backendName = kind === 'tfjs-wasm' ? 'wasm' : 'webgpu';
  let adapterDesc = '';
  return {
    name: kind,
    label: kind,
    async setup() {
      const t = loadTf();
      if (backendName === 'wasm') {
        const wasm = require('@tensorflow/tfjs-backend-wasm');
        const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
        wasm.setWasmPaths(dist);
      } else {
        // tfjs-backend-webgpu registers itself at import time only if navigator.gpu exists.
        if (!globalThis.navigator?.gpu) {
          let webgpu;
          try {
            webgpu = await import('webgpu');
          } catch (e) {
            throw new Error(`the 'webgpu' (Dawn) package does not load: ${errMsg(e)}`);
          }
          Object.assign(globalThis, webgpu.globals);
          dawnForTfjs = webgpu.create([]);
          if (globalThis.navigator) Object.defineProperty(globalThis.navigator, 'gpu', { value: dawnForTfjs, configurable: true });
          else globalThis.navigator = { gpu: dawnForTfjs };
        }
        const adapter = await globalThis.navigator.gpu.requestAdapter();
        if (!adapter) throw new Error('navigator.gpu.requestAdapter() returned null');
        adapterDesc = adapter.info?.description ?? '';
        try {
          require('@tensorflow/tfjs-backend-webgpu');
        } catch (e) {
          throw new Error(`@tensorflow/tfjs-backend-webgpu not installed: ${errMsg(e)}`);
        }
      }
      // tfjs-webgpu runs ops on inputs under 1000 elements on the CPU (WEBGPU_CPU_FORWARD): turn
      // that off so the dispatch figure measures GPU dispatches.
      if (backendName === 'webgpu') t.env().set('WEBGPU_CPU_FORWARD', false);
      const ok = await t.setBackend(backendName);
      if (!ok || t.getBackend() !== backendName) throw new Error(`tf.setBackend('${backendName}') failed`);
      return backendName === 'webgpu' ? `Dawn: ${adapterDesc}` : 'XNNPACK, 1 thread';
    },
    async select() {
      if (tf.getBackend() !== backendName) await tf.setBackend(backendName);
    },
    matmul(M, K, N) {
      const a = tf.tensor2d(randomF32(M * K, 1), [M, K]);
      const b = tf.tensor2d(randomF32(K * N, 2), [K, N]);
      return {
        units: 1,
        async run(inner) {
          const outs = [];
          for (let i = 0; i < inner; i++) outs.push(tf.matMul(a, b));
          const s = tf.slice(outs[outs.length - 1], [0, 0], [1, 1]);
          outs.push(s);
          await s.data();
          return outs;
        },
        cleanup(outs) { tf.dispose(outs); },
        dispose() { tf.dispose([a, b]); },
      };
    },
    elementwise(kind, n) {
      const a = tf.tensor1d(randomF32(n, 3));
      const b = tf.tensor1d(randomF32(n, 4));
      const a2 = tf.reshape(a, [n / SOFTMAX_COLS, SOFTMAX_COLS]);
      const op = {
        add: () => tf.add(a, b),
        silu: () => tf.mul(a, tf.sigmoid(a)),
        sigmoid: () => tf.sigmoid(a),
        softmax: () => tf.reshape(tf.softmax(a2), [n]),
      }[kind];
      return {
        units: 1,
        async run(inner) {
          const outs = [];
          for (let i = 0; i < inner; i++) outs.push(tf.tidy(op));
          const s = tf.slice(outs[outs.length - 1], [0], [1]);
          outs.push(s);
          await s.data();
          return outs;
        },
        cleanup(outs) { tf.dispose(outs); },
        dispose() { tf.dispose([a, b, a2]); },
      };
    },
    chain(len, n) {
      const x = tf.tensor1d(randomF32(n, 5));
      const one = tf.ones([n]);
      const readOne = (cur, outs) => {
        const s = tf.slice(cur, [0], [1]);
        outs.push(s);
        return s.data();
      };
      return {
        ...chainRun(len, x, (cur) => tf.add(cur, one), readOne),
        cleanup(outs) { tf.dispose(outs); },
        dispose() { tf.dispose([x, one]); },
      };
    },
    info() { return {}; },
    teardown() {},
  };
}

// ---------------------------------------------------------------- run
const ALL = ['cpu', 'webgpu', 'tfjs-wasm', 'tfjs-webgpu'];
const wanted = opt.only ?? ALL;
for (const w of wanted) if (!ALL.includes(w)) { console.error(`micro: unknown implementation ${w}`); process.exit(2); }
const impls = wanted.map((k) => (k.startsWith('tfjs') ? tfjsImpl(k) : oursImpl(k)));

const metrics = [
  ...MATMULS.map(([M, K, N]) => ({
    key: `matmul_${M}x${K}x${N}`,
    label: `matmul ${M}x${K}x${N} GFLOP/s`,
    higherIsBetter: true,
    make: (impl) => impl.matmul(M, K, N),
    convert: (ms) => (2 * M * K * N) / (ms * 1e6),
  })),
  {
    key: 'dispatch_ms',
    label: `ms/dispatch (chain of ${CHAIN} adds)`,
    higherIsBetter: false,
    make: (impl) => impl.chain(CHAIN, CHAIN_SIZE),
    convert: (ms) => ms,
  },
  ...ELEMENTWISE.map(([kind, label]) => ({
    key: `${kind}_1M_ms`,
    label: `ms per ${label} of 1M floats`,
    higherIsBetter: false,
    make: (impl) => impl.elementwise(kind, ADD_SIZE),
    convert: (ms) => (ms * 1e6) / ADD_SIZE,
  })),
];

const status = {}; // impl name -> { ok, note | reason }
for (const impl of impls) {
  try {
    const note = await impl.setup();
    status[impl.name] = { ok: true, note };
  } catch (e) {
    status[impl.name] = { ok: false, reason: errMsg(e) };
  }
}

const results = {}; // impl -> metric key -> value | null
const errors = {}; // impl -> metric key -> reason
const t0All = wall();
for (const m of metrics) {
  for (const impl of impls) {
    results[impl.name] ??= {};
    if (!status[impl.name].ok) { results[impl.name][m.key] = null; continue; }
    let c = null;
    try {
      await impl.select();
      c = m.make(impl);
      results[impl.name][m.key] = m.convert(await measure(c));
    } catch (e) {
      results[impl.name][m.key] = null;
      (errors[impl.name] ??= {})[m.key] = errMsg(e);
    } finally {
      try { c?.dispose?.(); } catch {}
    }
  }
  process.stderr.write(`micro: ${m.key} done (${((wall() - t0All) / 1000).toFixed(1)} s)\n`);
}

// ---------------------------------------------------------------- report
const fmt = (v) => (v == null ? 'n/a' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(4));
const ratio = (a, b) => (a == null || b == null || b === 0 ? null : a / b);
const fmtRatio = (r) => (r == null ? 'n/a' : `${r.toFixed(2)}x`);
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
const peers = impls.filter((i) => i.name.startsWith('tfjs'));
const ours = impls.filter((i) => !i.name.startsWith('tfjs'));

console.log(`\nmoegraph micro-bench  node ${process.version}  ${os.cpus()[0]?.model ?? ''} x${os.cpus().length}  repeats ${REPEATS}  clock ${opt.cpu ? 'process CPU time' : 'wall'}`);
for (const impl of impls) {
  const s = status[impl.name];
  console.log(`  ${pad(impl.label, 14)} ${s.ok ? `ok   ${s.note ?? ''}` : `n/a  ${s.reason}`}`);
}
const ratios = {};
for (const o of ours) {
  console.log(`\n== ours: ${o.name}${status[o.name].ok ? '' : ` (n/a: ${status[o.name].reason})`}`);
  const cols = [pad('figure', 36), lpad('ours', 10)];
  for (const p of peers) cols.push(lpad(p.name, 12), lpad(`ours/${p.name}`, 17));
  cols.push('  better');
  console.log(cols.join(' '));
  ratios[o.name] = {};
  for (const m of metrics) {
    const ov = results[o.name][m.key];
    const row = [pad(m.label, 36), lpad(fmt(ov), 10)];
    ratios[o.name][m.key] = {};
    for (const p of peers) {
      const pv = results[p.name][m.key];
      const r = ratio(ov, pv);
      ratios[o.name][m.key][p.name] = r;
      row.push(lpad(fmt(pv), 12), lpad(fmtRatio(r), 17));
    }
    row.push(m.higherIsBetter ? '  higher' : '  lower');
    console.log(row.join(' '));
  }
}
for (const [name, errs] of Object.entries(errors)) {
  for (const [k, e] of Object.entries(errs)) console.log(`  error ${name} ${k}: ${e}`);
}
if (peers.length) {
  for (const p of peers) if (!status[p.name].ok) console.log(`  ${p.name}: n/a (${status[p.name].reason})`);
}

if (opt.json) {
  const out = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: `${os.cpus()[0]?.model ?? ''} x${os.cpus().length}`,
    repeats: REPEATS,
    clock: opt.cpu ? 'process CPU time (user + system)' : 'wall',
    units: {
      matmul: 'GFLOP/s (higher is better)',
      dispatch_ms: `ms per dispatch, chain of ${CHAIN} adds of ${CHAIN_SIZE} floats + 1 read (lower is better)`,
      ...Object.fromEntries(ELEMENTWISE.map(([kind, label]) => [`${kind}_1M_ms`, `ms per ${label} of 1M f32 (lower is better)`])),
    },
    implementations: Object.fromEntries(impls.map((i) => [i.name, { ...status[i.name], ...(status[i.name].ok ? i.info() : {}) }])),
    results,
    ratios,
    errors,
  };
  const file = path.resolve(process.cwd(), opt.json);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  console.log(`\nwrote ${file}`);
}

for (const impl of impls) impl.teardown();
clearInterval(keepAlive);
process.exit(0);
