/**
 * WebGPU kernels checked against the cpu backend (an independent implementation of backend.ts)
 * and, for bit-exact rules, against random.ts directly. These tests never skip: without a GPU
 * adapter createWebGPUBackend throws its clear error and the suite fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, BinaryOp, ReduceOp, Storage, UnaryOp, View } from '../../backend.js';
import { f16BitsToF32, f32ToF16Bits, type DType } from '../../dtype.js';
import { dropoutKeep, dropoutThreshold, Generator, hash32 } from '../../random.js';
import { contiguousStrides } from '../../shape.js';
import { createCpuBackend } from '../cpu/index.js';
import { createWebGPUBackend, webgpuAvailable, WebGPUBackend, type MatmulTuning } from './index.js';
import { pickNarrow } from './launch/narrow.js';

let gpu: WebGPUBackend;
let cpu: Backend;

beforeAll(async () => {
  gpu = (await createWebGPUBackend()) as WebGPUBackend;
  cpu = createCpuBackend();
});

afterAll(() => {
  gpu?.destroy();
});

function view(storage: Storage, shape: number[], strides = contiguousStrides(shape), offset = 0): View {
  return { storage, shape, strides, offset };
}
const full = (s: Storage): View => view(s, [s.size]);

function rand(n: number, seed = 1, scale = 1): number[] {
  const g = new Generator(seed);
  return Array.from({ length: n }, () => (g.uniform() * 2 - 1) * scale);
}
function randInt(n: number, lo: number, hi: number, seed = 2): number[] {
  const g = new Generator(seed);
  return Array.from({ length: n }, () => lo + g.int(hi - lo));
}

interface Tol {
  rtol?: number;
  atol?: number;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tol: Tol = {}): void {
  const rtol = tol.rtol ?? 1e-5;
  const atol = tol.atol ?? 1e-6;
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e)) {
      if (!Number.isNaN(a)) throw new Error(`${what}[${i}]: got ${a}, expected NaN`);
      continue;
    }
    if (a === e) continue;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      throw new Error(`${what}[${i}]: got ${a}, expected ${e} (|diff| ${Math.abs(a - e)})`);
    }
  }
}

/** Runs a case on both backends; `f` uploads through `up` (released afterwards) and returns outputs. */
interface Ctx {
  be: Backend;
  up(data: ArrayLike<number>, dtype?: DType): Storage;
}
async function runOn(be: Backend, f: (c: Ctx) => Storage[]): Promise<{ vals: ArrayLike<number>[]; dtypes: DType[] }> {
  const temps: Storage[] = [];
  const ctx: Ctx = {
    be,
    up(data, dtype = 'f32') {
      const s = be.upload(data, dtype);
      temps.push(s);
      return s;
    },
  };
  let outs: Storage[] = [];
  try {
    outs = f(ctx);
    const vals = await be.read(outs.map(full));
    return { vals, dtypes: outs.map((s) => s.dtype) };
  } finally {
    for (const s of [...outs, ...temps]) be.release(s);
  }
}

async function same(what: string, f: (c: Ctx) => Storage[], tol: Tol = {}, exact = false, on: Backend = gpu): Promise<ArrayLike<number>[]> {
  const g = await runOn(on, f);
  const c = await runOn(cpu, f);
  expect(g.dtypes, `${what}: dtypes`).toEqual(c.dtypes);
  g.vals.forEach((v, i) => {
    if (exact || g.dtypes[i] === 'i32') {
      expect(Array.from(v), `${what}: output ${i}`).toEqual(Array.from(c.vals[i]!));
    } else {
      expectClose(v, c.vals[i]!, `${what}: output ${i}`, tol);
    }
  });
  return g.vals;
}

describe('webgpu backend: device and storage', () => {
  it('is available and reports its name', async () => {
    expect(await webgpuAvailable()).toBe(true);
    expect(gpu.name).toBe('webgpu');
  });

  it('uploads and reads f32, i32 and f16 (raw bits and numbers)', async () => {
    const a = gpu.upload([1.5, -2, 0.1], 'f32');
    const b = gpu.upload(new Float64Array([3.9, -3.9, 7]), 'i32');
    const c = gpu.upload([1, 0.5, 65504, 1e-8, -3.25], 'f16');
    const d = gpu.upload(new Uint16Array([f32ToF16Bits(2.5), f32ToF16Bits(-1)]), 'f16');
    const [ra, rb, rc, rd] = await gpu.read([full(a), full(b), full(c), full(d)]);
    expect(ra).toBeInstanceOf(Float32Array);
    expect(Array.from(ra!)).toEqual([1.5, -2, 0.1].map(Math.fround));
    expect(rb).toBeInstanceOf(Int32Array);
    expect(Array.from(rb!)).toEqual([3, -3, 7]);
    expect(rc).toBeInstanceOf(Float32Array);
    expect(Array.from(rc!)).toEqual([1, 0.5, 65504, 1e-8, -3.25].map((v) => f16BitsToF32(f32ToF16Bits(v))));
    expect(Array.from(rd!)).toEqual([2.5, -1]);
    for (const s of [a, b, c, d]) gpu.release(s);
  });

  it('fills every dtype, odd sizes included', async () => {
    await same('fill', ({ be }) => [be.fill(7, 'f32', -1.25), be.fill(5, 'i32', -3), be.fill(5, 'f16', 0.333), be.fill(1, 'f32', 2)]);
    await same('fill i32 truncates', ({ be }) => [be.fill(3, 'i32', 2.7)], {}, true);
  });

  it('reads several views at once, strided and offset', async () => {
    const x = gpu.upload(rand(24, 3), 'f32');
    const h = gpu.upload(rand(24, 4), 'f16');
    const src = rand(24, 3).map(Math.fround);
    const hs = rand(24, 4).map((v) => f16BitsToF32(f32ToF16Bits(v)));
    const [t, o, hv] = await gpu.read([view(x, [4, 6], [1, 4]), view(x, [5], [1], 7), view(h, [3, 2], [2, 5], 1)]);
    const tExp: number[] = [];
    for (let i = 0; i < 4; i++) for (let j = 0; j < 6; j++) tExp.push(src[i + 4 * j]!);
    expect(Array.from(t!)).toEqual(tExp);
    expect(Array.from(o!)).toEqual(src.slice(7, 12));
    const hExp: number[] = [];
    for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) hExp.push(hs[1 + 2 * i + 5 * j]!);
    expect(Array.from(hv!)).toEqual(hExp);
    gpu.release(x);
    gpu.release(h);
  });

  it('tracks stats, pools buffers and rejects double release / use after release', async () => {
    await gpu.sync();
    const s0 = gpu.stats();
    const a = gpu.upload(rand(1000), 'f32');
    const s1 = gpu.stats();
    expect(s1.liveStorages).toBe(s0.liveStorages + 1);
    expect(s1.bytesInUse).toBe(s0.bytesInUse + 4000);
    gpu.release(a);
    const s2 = gpu.stats();
    expect(s2.liveStorages).toBe(s0.liveStorages);
    expect(s2.bytesInUse).toBe(s0.bytesInUse);
    expect(s2.pooledBytes).toBeGreaterThanOrEqual(4000);
    expect(() => gpu.release(a)).toThrow(/already released/);
    expect(() => gpu.unary('exp', full(a))).toThrow(/released/);
    expect(s2.pipelines).toBeGreaterThan(0);
  });

  it('keeps released buffers until their work is submitted (pool reuse is safe)', async () => {
    // x is read by a dispatch, released, and a new upload of the same size is made in the same batch:
    // the new upload must not land in x's buffer before the dispatch runs.
    const x = gpu.upload(new Float32Array(1000).fill(1), 'f32');
    const y = gpu.unary('neg', full(x));
    gpu.release(x);
    const z = gpu.upload(new Float32Array(1000).fill(5), 'f32');
    const [ry, rz] = await gpu.read([full(y), full(z)]);
    expect(ry!.every((v) => v === -1)).toBe(true);
    expect(rz!.every((v) => v === 5)).toBe(true);
    gpu.release(y);
    gpu.release(z);
  });

  it('batches many dispatches and auto-flushes', async () => {
    const be = (await createWebGPUBackend({ maxDispatchesPerSubmit: 16 })) as WebGPUBackend;
    try {
      let x = be.upload([0, 1, 2], 'f32');
      const one = be.upload([1, 1, 1], 'f32');
      const st0 = be.stats();
      for (let i = 0; i < 100; i++) {
        const y = be.binary('add', full(x), full(one));
        be.release(x);
        x = y;
      }
      const st1 = be.stats();
      expect(st1.dispatches - st0.dispatches).toBe(100);
      expect(st1.submits - st0.submits).toBeGreaterThanOrEqual(6);
      const [r] = await be.read([full(x)]);
      expect(Array.from(r!)).toEqual([100, 101, 102]);
      be.release(x);
      be.release(one);
      await be.sync();
      expect(be.stats().liveStorages).toBe(0);
    } finally {
      be.destroy();
    }
  });

  it('surfaces a WGSL compile error as an Error naming the kernel', async () => {
    const be = (await createWebGPUBackend()) as WebGPUBackend;
    try {
      be.compileForTest(
        'broken-kernel',
        `@group(0) @binding(0) var<uniform> P: vec4<u32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(1) fn main() { let x: f32 = nope; Y[0] = x + f32(P.x); }`,
      );
      const err = await be.compileErrorForTest();
      expect(err).toBeInstanceOf(Error);
      expect(err!.message).toMatch(/broken-kernel/);
      await expect(be.sync()).rejects.toThrow(/broken-kernel/);
      await expect(be.read([])).rejects.toThrow(/broken-kernel/);
    } finally {
      be.destroy();
    }
  });

  it('reports an uncaptured validation error from flush/sync/read', async () => {
    const be = (await createWebGPUBackend()) as WebGPUBackend;
    try {
      // MAP_READ may only be combined with COPY_DST: a validation error nobody captures
      be.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
      await expect(be.sync()).rejects.toThrow(/webgpu: .*usage/i);
      await expect(be.read([])).rejects.toThrow(/webgpu:/);
      expect(() => be.flush()).toThrow(/webgpu:/);
    } finally {
      be.destroy();
    }
  });

  it('reports device loss on every later call', async () => {
    const be = (await createWebGPUBackend()) as WebGPUBackend;
    be.device.destroy();
    await new Promise((r) => setTimeout(r, 50));
    await be.device.lost;
    expect(() => be.upload([1], 'f32')).toThrow(/webgpu: device lost/);
    await expect(be.sync()).rejects.toThrow(/webgpu: device lost/);
    be.destroy();
    expect(() => be.fill(1, 'f32', 0)).toThrow(/destroyed/);
  });

  it('throws above rank 8 when dims cannot be merged', () => {
    const x = gpu.upload(rand(512), 'f32');
    const shape = [2, 2, 2, 2, 2, 2, 2, 2, 2];
    const strides = contiguousStrides(shape).map((s) => s); // contiguous: merges to rank 1, fine
    const y = gpu.copy(view(x, shape, strides), 'f32');
    gpu.release(y);
    const odd = shape.map((_, i) => 2 ** (8 - i) * (i % 2 === 0 ? 1 : 1)).reverse(); // strides that never merge
    expect(() => gpu.copy(view(x, shape, odd), 'f32')).toThrow(/rank 9 exceeds the maximum of 8/);
    gpu.release(x);
  });
});

describe('webgpu backend: copy and casts', () => {
  it('casts between f32, i32 and f16 on strided views', async () => {
    const data = rand(60, 5, 10);
    await same('copy casts', ({ be, up }) => {
      const x = up(data);
      const i = up(randInt(60, -50, 50), 'i32');
      const h = up(data, 'f16');
      const t = view(x, [6, 10], [1, 6]); // transposed
      return [
        be.copy(t, 'f32'),
        be.copy(t, 'i32'),
        be.copy(view(x, [7], [1], 3), 'f16'),
        be.copy(view(x, [3, 5], [0, 2], 1), 'f32'), // broadcast rows
        be.copy(view(i, [5, 4], [4, 1], 10), 'f32'),
        be.copy(view(h, [4, 3], [1, 4]), 'f32'),
        be.copy(view(h, [9], [2], 1), 'f16'),
        be.copy(view(h, [5], [1]), 'i32'),
        be.copy(view(x, [1], [1], 59), 'f32'),
        be.copy(view(x, [2, 3, 2], [30, 1, 3], 2), 'f32'),
      ];
    }, { rtol: 0, atol: 0 });
  });
});

const UNARY: UnaryOp[] = ['neg', 'exp', 'log', 'sqrt', 'rsqrt', 'abs', 'sign', 'square', 'recip', 'relu', 'silu', 'sigmoid', 'tanh', 'gelu', 'sin', 'cos'];
const BINARY: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'max', 'min', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'relu_grad', 'silu_grad', 'gelu_grad', 'sigmoid_grad', 'tanh_grad'];

describe('webgpu backend: elementwise', () => {
  it('unary f32 ops on contiguous, transposed and offset views', async () => {
    const data = rand(37 * 3, 7, 4);
    data[5] = 0;
    data[9] = NaN;
    const pos = data.map((v) => Math.abs(v) + 0.01);
    for (const op of UNARY) {
      const d = op === 'log' || op === 'sqrt' || op === 'rsqrt' ? pos : data;
      await same(`unary ${op}`, ({ be, up }) => {
        const x = up(d);
        return [
          be.unary(op, full(x)),
          be.unary(op, view(x, [37, 3], [1, 37])),
          be.unary(op, view(x, [4, 5], [10, 2], 3)),
          be.unary(op, view(x, [25, 4], [4, 1], 8)), // vec4 path
        ];
      }, { rtol: 2e-6, atol: 2e-6 });
    }
  });

  it('unary i32 ops', async () => {
    for (const op of ['neg', 'abs', 'sign', 'square'] as UnaryOp[]) {
      await same(`unary i32 ${op}`, ({ be, up }) => {
        const x = up(randInt(29, -100, 100), 'i32');
        return [be.unary(op, full(x)), be.unary(op, view(x, [3, 4], [1, 5], 2)), be.unary(op, view(x, [4, 4], [4, 1], 12))];
      });
    }
    const x = gpu.upload([1, 2], 'i32');
    expect(() => gpu.unary('exp', full(x))).toThrow(/i32/);
    gpu.release(x);
  });

  it('binary f32 ops with broadcasting, transposes and offsets', async () => {
    const a = rand(13 * 7, 11, 3);
    const b = rand(13 * 7, 12, 3);
    a[3] = NaN;
    b[8] = NaN;
    b[20] = a[20]!; // equality case
    for (const op of BINARY) {
      const av = op === 'pow' ? a.map((v, i) => (i % 3 === 0 ? Math.round(v) : Math.abs(v))) : a;
      const bv = op === 'pow' ? b.map((v, i) => (i % 3 === 0 ? Math.round(v * 2) : v)) : b;
      await same(`binary ${op}`, ({ be, up }) => {
        const x = up(av);
        const y = up(bv);
        return [
          be.binary(op, full(x), full(y)),
          be.binary(op, view(x, [13, 7], [7, 1]), view(y, [13, 7], [0, 1], 5)), // row broadcast
          be.binary(op, view(x, [7, 13], [1, 7]), view(y, [7, 13], [13, 1])), // transposed a
          be.binary(op, view(x, [5, 3], [3, 1], 4), view(y, [5, 3], [1, 0], 9)), // col broadcast + offset
          be.binary(op, view(x, [2, 3, 5], [35, 5, 1], 1), view(y, [2, 3, 5], [0, 0, 1])),
          be.binary(op, view(x, [84], [1], 4), view(y, [84], [1], 0)), // vec4 path
          be.binary(op, view(x, [84], [1], 0), view(y, [84], [1], 3)), // unaligned: scalar path
          be.binary(op, view(x, [21, 4], [4, 1], 4), view(y, [21, 4], [0, 0], 5)), // vec4, b one element
          be.binary(op, view(x, [12], [0], 7), view(y, [12], [1], 8)), // vec4, a one element
          be.binary(op, view(x, [12], [0], 7), view(y, [12], [1], 9)), // unaligned b: strided
        ];
      }, { rtol: 1e-5, atol: 1e-6 });
    }
  });

  it('binary i32 ops (truncating div, div by zero gives x)', async () => {
    const a = randInt(31, -50, 50, 4);
    const b = randInt(31, -7, 7, 5);
    for (const op of ['add', 'sub', 'mul', 'div', 'max', 'min', 'eq', 'ne', 'lt', 'le', 'gt', 'ge'] as BinaryOp[]) {
      await same(`binary i32 ${op}`, ({ be, up }) => {
        const x = up(a, 'i32');
        const y = up(b, 'i32');
        return [
          be.binary(op, full(x), full(y)),
          be.binary(op, view(x, [5, 6], [6, 1]), view(y, [5, 6], [0, 1], 2)),
          be.binary(op, view(x, [24], [1], 4), view(y, [24], [1], 0)),
          be.binary(op, view(x, [24], [1], 4), view(y, [24], [0], 3)), // vec4, b one element
        ];
      }, {}, true);
    }
  });

  it('where with f32 and i32 conditions and broadcasting', async () => {
    await same('where', ({ be, up }) => {
      const c = up([1, 0, NaN, 0, 2, 0, -1, 0, 0, 1, 1, 0]);
      const ci = up([0, 3, 0, -1], 'i32');
      const a = up(rand(12, 1));
      const b = up(rand(12, 2));
      const ai = up(randInt(12, -5, 5), 'i32');
      const bi = up(randInt(12, -5, 5, 9), 'i32');
      return [
        be.where(full(c), full(a), full(b)),
        be.where(view(ci, [3, 4], [0, 1]), view(a, [3, 4], [1, 3]), view(b, [3, 4], [0, 1], 2)),
        be.where(view(ci, [4, 3], [1, 0]), view(ai, [4, 3], [3, 1]), view(bi, [4, 3], [1, 4])),
      ];
    }, { rtol: 0, atol: 0 });
  });

  it('accumulate copy/add into an offset, from strided and aliased sources', async () => {
    await same('accumulate', ({ be, up }) => {
      const d = up(rand(40, 1));
      const s = up(rand(30, 2));
      be.accumulate(d, 3, view(s, [5, 6], [1, 5]), 'add');
      be.accumulate(d, 33, view(s, [7], [0], 4), 'copy');
      be.accumulate(d, 0, view(d, [2, 3], [1, 10], 5), 'add'); // aliased
      const di = up(randInt(12, -9, 9), 'i32');
      const si = up(randInt(6, -9, 9, 4), 'i32');
      be.accumulate(di, 2, view(si, [2, 3], [1, 2]), 'add');
      be.accumulate(di, 8, view(si, [3], [2], 1), 'copy');
      return [be.copy(full(d), 'f32'), be.copy(full(di), 'i32')];
    });
  });

  it('rows variant (innermost dim >= 8): segment edges, broadcasts, negative strides, casts, grid-stride', async () => {
    const data = rand(4000, 21, 5);
    await same('rows variant', ({ be, up }) => {
      const x = up(data);
      const y = up(rand(4000, 22, 5));
      const xi = up(randInt(4000, -50, 50, 23), 'i32');
      const d = up(rand(3000, 24));
      // a row of 70 spans three 32-element segments; 8 is the shortest rows layout, 7 is not one
      be.accumulate(d, 5, view(x, [3, 2, 70], [70, 0, 1], 3), 'add');
      be.accumulate(d, 600, view(x, [9, 33], [1, 9]), 'copy');
      return [
        be.copy(view(x, [4, 3, 70], [210, 0, 1], 1), 'f32'), // broadcast middle dim
        be.copy(view(x, [5, 8], [1, 5]), 'f32'),
        be.copy(view(x, [5, 7], [1, 5]), 'f32'),
        be.copy(view(x, [2, 3, 4, 40], [1000, 0, 45, 1], 7), 'i32'), // rank 4
        be.copy(view(x, [6, 33], [-40, -1], 3999), 'f16'), // negative strides; f16 output is not rows
        be.copy(view(xi, [30, 64], [1, 30]), 'f32'),
        be.unary('exp', view(x, [10, 64], [1, 10], 2)),
        be.binary('mul', view(x, [64, 2, 32], [32, 0, 1]), view(y, [64, 2, 32], [2, 1, 0])), // inner broadcast
        be.binary('sub', view(xi, [17, 3, 50], [150, 50, 1], 1), view(xi, [17, 3, 50], [0, 1, 3])),
        be.where(view(x, [12, 40], [40, 1]), view(y, [12, 40], [1, 12]), view(x, [12, 40], [0, 1], 100)),
        be.copy(full(d), 'f32'),
      ];
    }, { rtol: 1e-6, atol: 1e-6 });
    // more row segments than one grid of threads holds: the grid-stride loop must cover the rest
    await same('rows variant, grid-stride', ({ be, up }) => {
      const x = up(rand(9 * 1024, 25));
      return [be.copy(view(x, [300_000, 9], [0, 1], 17), 'f32')];
    }, { rtol: 0, atol: 0 });
  });

  it('dropout mask is bit-identical to random.ts', async () => {
    for (const [size, p, seed] of [[1001, 0.3, 42], [77, 0, 7], [64, 0.9, 123456789], [10, 1, 3]] as const) {
      const [m] = await same(`dropout ${p}`, ({ be }) => [be.dropoutMask(size, p, seed)], {}, true);
      const th = dropoutThreshold(p);
      const sh = hash32(seed >>> 0);
      const scale = Math.fround(1 / (1 - p));
      for (let i = 0; i < size; i++) expect(m![i]).toBe(dropoutKeep(i, sh, th) ? scale : 0);
    }
  });
});

describe('webgpu backend: reductions', () => {
  const OPS: ReduceOp[] = ['sum', 'max', 'min', 'argmax', 'argmin'];
  const cases: [string, number[], number[] | null, number, number][] = [
    // name, shape, strides (null = contiguous), offset, reduceDims
    ['vector', [7], null, 0, 1],
    ['single', [1], null, 0, 1],
    ['rows', [5, 13], null, 0, 1],
    ['3d last', [3, 4, 5], null, 0, 1],
    ['3d last two', [3, 4, 5], null, 0, 2],
    ['3d all', [3, 4, 5], null, 0, 3],
    ['transposed', [13, 5], [1, 13], 0, 1],
    ['offset strided', [4, 6], [12, 2], 1, 1],
    ['broadcast', [4, 6], [0, 1], 3, 1],
    ['none', [3, 5], null, 0, 0],
  ];
  for (const op of OPS) {
    it(`${op} over trailing dims of views`, async () => {
      const data = rand(200, 21, 5);
      for (const [name, shape, strides, off, rd] of cases) {
        if ((op === 'argmax' || op === 'argmin') && rd !== 1) continue;
        await same(`${op} ${name}`, ({ be, up }) => {
          const x = up(data);
          return [be.reduce(op, view(x, shape, strides ?? contiguousStrides(shape), off), rd)];
        }, { rtol: 1e-5, atol: 1e-5 });
      }
    });
  }

  it('large and many-small reductions (both kernel modes)', async () => {
    const big = rand(2 * 70001, 3);
    const many = rand(5000 * 3, 4);
    for (const op of OPS) {
      await same(`${op} big`, ({ be, up }) => [be.reduce(op, view(up(big), [2, 70001]), 1)], { rtol: 1e-4, atol: 1e-3 });
      await same(`${op} many`, ({ be, up }) => [be.reduce(op, view(up(many), [5000, 3]), 1)], { rtol: 1e-5, atol: 1e-5 });
      await same(`${op} mid`, ({ be, up }) => [be.reduce(op, view(up(many), [100, 150], [1, 100]), 1)], { rtol: 1e-5, atol: 1e-5 });
    }
  });

  it('segmented per-thread reductions: partial segments, rank-3 outer dims, strided and short rows', async () => {
    const data = rand(6000, 31, 5);
    for (const op of OPS) {
      await same(`${op} segmented`, ({ be, up }) => {
        const x = up(data);
        return [
          be.reduce(op, view(x, [70, 33, 2], [80, 1, 40]), 1), // 33 outputs per row: a 32 + 1 split
          be.reduce(op, view(x, [3, 4, 65, 5], [1500, 0, 5, 1], 2), 1), // rank-3 outer dims, broadcast
          be.reduce(op, view(x, [40, 1], [1, 1]), 1), // one-element rows
          be.reduce(op, view(x, [9, 64], [64, 1], 3), 1), // 64 elements: segments of one output
          be.reduce(op, view(x, [2, 31, 63], [3000, 63, 1]), 1), // 63: segments of 32 outputs
        ];
      }, { rtol: 1e-5, atol: 1e-5 });
    }
  });

  it('NaN propagates through max/min/argmax, ties pick the lowest index, i32 works', async () => {
    await same('nan ties', ({ be, up }) => {
      const x = up([1, NaN, 3, NaN, 5, 5, 2, 5, -1, -1, 0, -1]);
      const xi = up([3, 7, 7, 1, -2, -2, 9, 0], 'i32');
      const big = up(Array.from({ length: 3000 }, (_, i) => (i === 1777 || i === 2000 ? 9 : i % 7)));
      return [
        be.reduce('max', view(x, [3, 4]), 1),
        be.reduce('min', view(x, [3, 4]), 1),
        be.reduce('argmax', view(x, [3, 4]), 1),
        be.reduce('argmin', view(x, [3, 4]), 1),
        be.reduce('sum', view(xi, [2, 4]), 1),
        be.reduce('max', view(xi, [2, 4]), 1),
        be.reduce('argmin', view(xi, [2, 4]), 1),
        be.reduce('argmax', view(big, [1, 3000]), 1),
      ];
    }, { rtol: 0, atol: 0 });
  });
});

describe('webgpu backend: matmul', () => {
  const shapes: [number, number, number, number][] = [
    [1, 1, 1, 1],
    [1, 3, 5, 7],
    [2, 17, 13, 19],
    [1, 64, 64, 64],
    [3, 33, 36, 20],
    [1, 130, 67, 129], // odd: pack path
    [2, 61, 128, 36], // fast direct
    [1, 128, 128, 128],
    [1, 5, 256, 3],
    [4, 1, 64, 64],
    [1, 97, 1, 50],
  ];
  for (const [B, M, K, N] of shapes) {
    it(`[${B}, ${M}, ${K}] x [${B}, ${K}, ${N}] contiguous, transposed, broadcast, f16`, async () => {
      const a = rand(B * M * K + 5, B + M, 1);
      const b = rand(B * K * N + 5, K + N, 1);
      const tol = { rtol: 1e-5, atol: 2e-6 * K };
      await same('matmul', ({ be, up }) => {
        const x = up(a);
        const y = up(b);
        return [
          be.matmul(view(x, [B, M, K]), view(y, [B, K, N])),
          // b given as its transpose in memory [B, N, K]
          be.matmul(view(x, [B, M, K]), view(y, [B, K, N], [K * N, 1, K])),
          // a transposed [B, K, M] in memory, offsets
          be.matmul(view(x, [B, M, K], [M * K, 1, M], 4), view(y, [B, K, N], [K * N, N, 1], 4)),
          // batch broadcast of b
          be.matmul(view(x, [B, M, K]), view(y, [B, K, N], [0, N, 1])),
        ];
      }, tol);
      await same('matmul f16', ({ be, up }) => {
        const x = up(a, 'f16');
        const y = up(b, 'f16');
        const yf = up(b);
        return [
          be.matmul(view(x, [B, M, K]), view(y, [B, K, N])),
          be.matmul(view(x, [B, M, K]), view(yf, [B, K, N], [K * N, 1, K])),
          be.matmul(view(x, [B, M, K], [M * K, 1, M], 4), view(y, [B, K, N], [0, N, 1])),
        ];
      }, tol);
    });
  }

  it('K = 0 gives zeros; rank-2 operands are accepted as B = 1', async () => {
    await same('matmul K=0', ({ be, up }) => {
      const x = up(rand(12, 1));
      const y = up(rand(12, 2));
      return [be.matmul(view(x, [2, 3, 0], [0, 0, 1]), view(y, [2, 0, 4], [0, 4, 1]))];
    });
    const x = gpu.upload(rand(12 * 8, 1), 'f32');
    const y = gpu.upload(rand(8 * 20, 2), 'f32');
    const a = gpu.matmul(view(x, [12, 8]), view(y, [8, 20]));
    const b = gpu.matmul(view(x, [1, 12, 8]), view(y, [1, 8, 20]));
    const [ra, rb] = await gpu.read([full(a), full(b)]);
    expect(Array.from(ra!)).toEqual(Array.from(rb!));
    for (const s of [x, y, a, b]) gpu.release(s);
  });
});

describe('webgpu backend: narrow and shared-memory matmul kernels', () => {
  // backends on the same device with one matmul kernel forced, so every shape exercises it
  const forced: [string, MatmulTuning][] = [
    ['splitK', { variant: 'splitK' }], ['splitK 3 slices', { variant: 'splitK', slices: 3 }], ['wgK', { variant: 'wgK' }], ['tile', { variant: 'tile' }],
  ];
  const on = new Map<string, Backend>();
  beforeAll(async () => {
    for (const [name, matmul] of forced) on.set(name, await createWebGPUBackend({ device: gpu.device, matmul }));
  });
  afterAll(() => {
    for (const be of on.values()) be.destroy();
  });

  /** Contiguous, transposed a, transposed b at an offset, broadcast b, and f16 operands. */
  async function layouts(be: Backend, [B, M, K, N]: number[]): Promise<void> {
    const a = rand(B * M * K + 5, M + K);
    const b = rand(B * K * N + 5, K + N);
    const tol = { rtol: 1e-5, atol: 2e-6 * K };
    await same(`[${B}, ${M}, ${K}, ${N}]`, ({ be, up }) => {
      const x = up(a);
      const y = up(b);
      return [
        be.matmul(view(x, [B, M, K]), view(y, [B, K, N])),
        be.matmul(view(x, [B, M, K], [M * K, 1, M]), view(y, [B, K, N])),
        be.matmul(view(x, [B, M, K], [M * K, K, 1], 3), view(y, [B, K, N], [K * N, 1, K], 5)),
        be.matmul(view(x, [B, M, K]), view(y, [B, K, N], [0, N, 1])),
      ];
    }, tol, false, be);
    await same(`[${B}, ${M}, ${K}, ${N}] f16`, ({ be, up }) => {
      const x = up(a, 'f16');
      const y = up(b, 'f16');
      return [
        be.matmul(view(x, [B, M, K]), view(y, [B, K, N])),
        be.matmul(view(x, [B, M, K], [M * K, 1, M], 1), view(up(b), [B, K, N], [K * N, 1, K])),
      ];
    }, { rtol: 1e-3, atol: 1e-3 * K }, false, be);
  }

  // K = 1, tiles cut by M and N (not multiples of 4), several slices, more tiles than a workgroup
  const shapes = [[1, 1, 1, 1], [1, 5, 1, 3], [2, 7, 130, 5], [3, 9, 67, 10], [1, 4, 300, 1], [1, 70, 200, 9]];
  // the shared-memory kernel (it replaces the register-tiled one, so shapes that reach that: aligned,
  // or large enough to pack): tiles cut at both edges, odd numbers of 4-wide K steps, batches with
  // broadcast b, and enough tiles (256) for its 128-row form
  const tileShapes = [[1, 65, 12, 132], [2, 130, 36, 260], [3, 67, 100, 130], [1, 2048, 8, 2048]];
  for (const [name] of forced) {
    for (const shape of name === 'tile' ? tileShapes : shapes) {
      it(`${name} [${shape}] matches cpu in every layout`, () => layouts(on.get(name)!, shape));
    }
  }

  it('the default choice runs the narrow kernels on narrow outputs (LoRA x@A, xᵀg, N = 1, a long dot) and matches cpu', async () => {
    for (const shape of [[1, 1024, 256, 4], [1, 256, 1024, 4], [1, 1030, 70, 1], [2, 33, 200, 8], [1, 3, 5000, 2]]) {
      expect(pickNarrow({}, { B: shape[0]!, M: shape[1]!, K: shape[2]!, N: shape[3]! })).not.toBeNull();
      await layouts(gpu, shape);
    }
  });

  it('split-K sums its slices in a fixed order: repeated products are bit-identical', async () => {
    const [M, K, N] = [64, 4096, 4];
    const x = gpu.upload(rand(M * K, 1), 'f32');
    const y = gpu.upload(rand(K * N, 2), 'f32');
    const xt = view(x, [M, K], [1, M]);
    const outs = [gpu.matmul(xt, view(y, [K, N])), gpu.matmul(xt, view(y, [K, N]))];
    const [r0, r1] = await gpu.read(outs.map(full));
    expect(Array.from(r0!)).toEqual(Array.from(r1!));
    for (const s of [x, y, ...outs]) gpu.release(s);
  });
});

describe('webgpu backend: row kernels', () => {
  // thread-per-row (short rows, many rows) and workgroup-per-row forms
  const dims: [number, number][] = [[1, 1], [3, 7], [5, 300], [2, 1000], [300, 10], [600, 100]];
  it('softmax and log-softmax forward and backward', async () => {
    for (const [rows, cols] of dims) {
      for (const log of [false, true]) {
        await same(`softmax ${rows}x${cols} ${log}`, ({ be, up }) => {
          const x = up(rand(rows * cols, rows + cols, 8));
          const g = up(rand(rows * cols, rows * cols));
          const y = be.softmax(x, rows, cols, log);
          const dx = be.softmaxBackward(y, g, rows, cols, log);
          return [y, dx];
        }, { rtol: 1e-5, atol: 1e-6 });
      }
    }
  });

  it('cross-entropy forward and backward with ignoreIndex', async () => {
    for (const [rows, cols] of dims) {
      await same(`ce ${rows}x${cols}`, ({ be, up }) => {
        const x = up(rand(rows * cols, rows + 2 * cols, 6));
        const t = randInt(rows, 0, cols, rows);
        if (rows > 2) t[1] = -100;
        const tg = up(t, 'i32');
        const gr = up(rand(rows, 5));
        return [be.crossEntropy(x, tg, rows, cols, -100), be.crossEntropyBackward(x, tg, gr, rows, cols, -100)];
      }, { rtol: 1e-5, atol: 2e-6 });
    }
  });

  it('rmsnorm forward and backward', async () => {
    for (const [rows, cols] of dims) {
      await same(`rmsnorm ${rows}x${cols}`, ({ be, up }) => {
        const x = up(rand(rows * cols, 3 * rows + cols, 2));
        const w = up(rand(cols, cols));
        const g = up(rand(rows * cols, 99));
        const y = be.rmsnorm(x, w, rows, cols, 1e-5);
        const { dx, dw } = be.rmsnormBackward(x, w, g, rows, cols, 1e-5);
        return [y, dx, dw];
      }, { rtol: 2e-5, atol: 2e-5 });
    }
  });

  it('rope in both layouts, forward and inverse', async () => {
    for (const layout of ['interleaved', 'half'] as const) {
      for (const inverse of [false, true]) {
        await same(`rope ${layout} ${inverse}`, ({ be, up }) => {
          const p = { n: 2, t: 5, h: 3, d: 8, startPos: 3, theta: 10000, layout, inverse };
          const x = up(rand(2 * 5 * 3 * 8, 17));
          return [be.rope(x, p)];
        }, { rtol: 1e-5, atol: 2e-6 });
      }
    }
    // a round trip restores x
    const x = gpu.upload(rand(64, 2), 'f32');
    const p = { n: 1, t: 4, h: 2, d: 8, startPos: 100, theta: 500000, layout: 'half' as const, inverse: false };
    const y = gpu.rope(x, p);
    const z = gpu.rope(y, { ...p, inverse: true });
    const [rx, rz] = await gpu.read([full(x), full(z)]);
    expectClose(rz!, rx!, 'rope round trip', { atol: 1e-5 });
    for (const s of [x, y, z]) gpu.release(s);
  });
});

describe('webgpu backend: indexing', () => {
  it('gatherRows and gatherCols', async () => {
    await same('gather', ({ be, up }) => {
      const x = up(rand(7 * 5, 1));
      const ir = up([0, 6, 3, 1, 5, 3, 2], 'i32');
      const ic = up([4, 0, 4, 2, 3, 1, 1, 0, 3, 3, 2, 4, 0, 0], 'i32');
      return [be.gatherRows(x, ir, 7, 5, 7), be.gatherCols(x, ic, 7, 5, 2)];
    }, { rtol: 0, atol: 0 });
  });

  it('out-of-range indices: gathers give 0, scatters ignore them', async () => {
    const xs = rand(4 * 3, 1).map(Math.fround);
    const x = gpu.upload(xs, 'f32');
    const ir = gpu.upload([1, -1, 4, 3], 'i32');
    const ic = gpu.upload([2, 3, -1, 0, 1, 1, 7, 2], 'i32');
    const src = gpu.upload([1, 2, 3, 4, 5, 6, 7, 8], 'f32');
    const gr = gpu.gatherRows(x, ir, 4, 3, 4);
    const gc = gpu.gatherCols(x, ic, 4, 3, 2);
    const sr = gpu.scatterAddRows(src, ir, 4, 2, 4);
    const sc = gpu.scatterAddCols(src, ic, 4, 2, 3);
    const [rgr, rgc, rsr, rsc] = await gpu.read([full(gr), full(gc), full(sr), full(sc)]);
    expect(Array.from(rgr!)).toEqual([...xs.slice(3, 6), 0, 0, 0, 0, 0, 0, ...xs.slice(9, 12)]);
    expect(Array.from(rgc!)).toEqual([xs[2], 0, 0, xs[3], xs[7], xs[7], 0, xs[11]]);
    expect(Array.from(rsr!)).toEqual([0, 0, 1, 2, 0, 0, 7, 8]);
    expect(Array.from(rsc!)).toEqual([0, 0, 1, 4, 0, 0, 0, 11, 0, 0, 0, 8]);
    for (const s of [x, ir, ic, src, gr, gc, sr, sc]) gpu.release(s);
  });

  it('scatterAddRows is deterministic on both CSR fill paths', async () => {
    for (const [n, cols, rows] of [[50, 3, 7], [6, 5, 40], [1, 1, 1], [300, 9, 300], [1000, 16, 13]] as const) {
      await same(`scatterAddRows ${n} ${cols} ${rows}`, ({ be, up }) => {
        const src = up(rand(n * cols, n + cols, 3));
        const idx = randInt(n, 0, rows, n * rows);
        const id = up(idx, 'i32');
        return [be.scatterAddRows(src, id, n, cols, rows)];
      }, { rtol: 1e-6, atol: 1e-6 });
    }
    // determinism: the same call twice gives identical bits
    const src = gpu.upload(rand(4000 * 4, 8), 'f32');
    const idx = gpu.upload(randInt(4000, 0, 3, 9), 'i32');
    const a = gpu.scatterAddRows(src, idx, 4000, 4, 3);
    const b = gpu.scatterAddRows(src, idx, 4000, 4, 3);
    const [ra, rb] = await gpu.read([full(a), full(b)]);
    expect(Array.from(ra!)).toEqual(Array.from(rb!));
    for (const s of [src, idx, a, b]) gpu.release(s);
  });

  it('scatterAddCols', async () => {
    await same('scatterAddCols', ({ be, up }) => {
      const g = up(rand(6 * 3, 4));
      const id = up([0, 0, 2, 1, 4, 1, 3, 3, 3, 1, 0, 2, 0, 1, 2, 4, 4, 0], 'i32');
      return [be.scatterAddCols(g, id, 6, 3, 5)];
    }, { rtol: 1e-6, atol: 1e-7 });
  });

  it('sortRows: stable, NaN above +Infinity, top-k', async () => {
    const row = [1, NaN, Infinity, -Infinity, NaN, 0, 2, 3, 2, 5, 1, -0];
    for (const desc of [true, false]) {
      for (const k of [12, 3, 1]) {
        await same(`sort ${desc} ${k}`, ({ be, up }) => {
          const x = up([...row, ...rand(12, 5)]);
          const r = be.sortRows(x, 2, 12, k, desc);
          return [r.values, r.indices];
        }, { rtol: 0, atol: 0 });
      }
    }
    await same('sort wide', ({ be, up }) => {
      const x = up(rand(37 * 64, 6).map((v) => Math.round(v * 8)));
      const r = be.sortRows(x, 37, 64, 5, true);
      return [r.values, r.indices];
    }, { rtol: 0, atol: 0 });
  });
});

describe('webgpu backend: gatherMatmul', () => {
  /** Naive per-row loop over a strided w [e, k, n] (f64 sums of the f32-rounded inputs). */
  function naive(x: number[], w: ArrayLike<number>, st: number[], off: number, idx: number[], k: number, n: number, e: number): number[] {
    const out: number[] = [];
    idx.forEach((ex, i) => {
      for (let c = 0; c < n; c++) {
        let s = 0;
        if (ex >= 0 && ex < e) for (let r = 0; r < k; r++) s += Math.fround(x[i * k + r]!) * Math.fround(w[off + ex * st[0]! + r * st[1]! + c * st[2]!]!);
        out.push(s);
      }
    });
    return out;
  }

  // [m, k, n, e, layout]: 'c' contiguous, 't' a transposed [e, n, k] storage, 'o' contiguous at an offset
  const shapes: [number, number, number, number, 'c' | 't' | 'o'][] = [
    [7, 5, 3, 4, 'c'], // scalar
    [33, 17, 9, 3, 't'], // scalar, strided
    [9, 6, 8, 5, 'c'], // vec4 over n
    [10, 12, 12, 3, 'o'], // vec4 over n, offset 4
    [11, 8, 5, 3, 't'], // vec4 over k
    [13, 16, 7, 2, 'o'], // offset 3: scalar
    [5, 4, 1, 1, 'c'],
    [9, 8, 4, 3, 'c'], // n <= 4: 4 columns per thread, over n
    [6, 4, 4, 2, 'o'], // ... at offset 4
    [11, 12, 4, 3, 't'], // ... over k
    [7, 8, 3, 2, 't'], // ... over k, a partial column group
    [5, 8, 1, 3, 't'], // ... n = 1
  ];
  for (const [m, k, n, e, lay] of shapes) {
    for (const dt of ['f32', 'f16'] as const) {
      it(`m=${m} k=${k} n=${n} e=${e} ${lay} ${dt} matches cpu and a naive loop`, async () => {
        const off = lay === 'o' ? (n % 4 === 0 ? 4 : 3) : 0;
        const st = lay === 't' ? [k * n, 1, k] : [k * n, n, 1];
        const x = rand(m * k, m + k);
        let w = rand(e * k * n + off, n + e);
        if (dt === 'f16') w = w.map((v) => f16BitsToF32(f32ToF16Bits(v)));
        const idx = randInt(m, 0, e, m * e);
        const [got] = await same(`gmm ${m} ${k} ${n} ${e}`, ({ be, up }) => {
          const ws = dt === 'f16' ? up(Uint16Array.from(w, f32ToF16Bits), 'f16') : up(w);
          return [be.gatherMatmul(up(x), view(ws, [e, k, n], st, off), up(idx, 'i32'), m, k, n, e)];
        }, { rtol: 1e-5, atol: 1e-5 });
        expectClose(got!, naive(x, w, st, off, idx, k, n, e), 'naive', { rtol: 1e-5, atol: 1e-5 });
      });
    }
  }

  it('out-of-range expert indices give zero rows', async () => {
    const [m, k, n, e] = [4, 8, 8, 2];
    const x = rand(m * k, 3);
    const w = rand(e * k * n, 4);
    const idx = [1, -1, 2, 0];
    for (const st of [[k * n, n, 1], [k * n, 1, k], [k * n, 1, 2 * k]]) {
      const ws = gpu.upload(st[2] === 2 * k ? [...w, ...w] : w, 'f32');
      const [xs, is] = [gpu.upload(x, 'f32'), gpu.upload(idx, 'i32')];
      const out = gpu.gatherMatmul(xs, view(ws, [e, k, n], st), is, m, k, n, e);
      const [r] = await gpu.read([full(out)]);
      expectClose(r!, naive(x, st[2] === 2 * k ? [...w, ...w] : w, st, 0, idx, k, n, e), `oob ${st}`, { rtol: 1e-5, atol: 1e-6 });
      expect(Array.from(r!.slice(n, 3 * n)).every((v) => v === 0)).toBe(true);
      for (const s of [ws, xs, is, out]) gpu.release(s);
    }
  });

  it('large shape m=2048 k=256 n=8 e=8 (and its dx-style transposed call) matches cpu', async () => {
    const [m, k, n, e] = [2048, 256, 8, 8];
    const x = rand(m * k, 5);
    const w = rand(e * k * n, 6);
    const g = rand(m * n, 7);
    const idx = randInt(m, 0, e, 8);
    await same('gmm large', ({ be, up }) => {
      const ws = up(w);
      const is = up(idx, 'i32');
      return [
        be.gatherMatmul(up(x), view(ws, [e, k, n]), is, m, k, n, e),
        be.gatherMatmul(up(g), view(ws, [e, n, k], [k * n, 1, n]), is, m, n, k, e),
        be.gatherMatmulGradW(up(x), up(g), is, m, k, n, e),
      ];
    }, { rtol: 1e-4, atol: 1e-4 });
  });

  it('gatherMatmulGradW: both CSR paths, vec4 and scalar columns, missing experts, deterministic', async () => {
    for (const [m, k, n, e] of [[7, 5, 3, 4], [50, 9, 8, 6], [3, 4, 4, 9], [300, 17, 5, 7], [1, 1, 1, 1]] as const) {
      const idx = randInt(m, 0, Math.max(1, e - 1), m * e); // the last expert never receives rows
      const [got] = await same(`gradW ${m} ${k} ${n} ${e}`, ({ be, up }) => [
        be.gatherMatmulGradW(up(rand(m * k, m)), up(rand(m * n, n)), up(idx, 'i32'), m, k, n, e),
      ], { rtol: 1e-5, atol: 1e-6 });
      if (e > 1) expect(Array.from(got!).slice((e - 1) * k * n).every((v) => v === 0)).toBe(true);
    }
    const [m, k, n, e] = [4000, 16, 8, 3];
    const [xs, gs, is] = [gpu.upload(rand(m * k, 1), 'f32'), gpu.upload(rand(m * n, 2), 'f32'), gpu.upload(randInt(m, 0, e, 3), 'i32')];
    const a = gpu.gatherMatmulGradW(xs, gs, is, m, k, n, e);
    const b = gpu.gatherMatmulGradW(xs, gs, is, m, k, n, e);
    const [ra, rb] = await gpu.read([full(a), full(b)]);
    expect(Array.from(ra!)).toEqual(Array.from(rb!));
    for (const s of [xs, gs, is, a, b]) gpu.release(s);
  });

  it('empty sizes and shape errors', async () => {
    await same('gmm empty', ({ be, up }) => [
      be.gatherMatmul(up([]), view(up(rand(24)), [2, 3, 4]), up([], 'i32'), 0, 3, 4, 2),
      be.gatherMatmulGradW(up([]), up([]), up([], 'i32'), 0, 3, 4, 2),
      be.gatherMatmul(up([]), view(up(rand(2)), [2, 0, 1]), up([0, 1], 'i32'), 2, 0, 1, 2),
    ]);
    const ws = gpu.upload(rand(24), 'f32');
    const xs = gpu.upload(rand(6), 'f32');
    const is = gpu.upload([0, 1], 'i32');
    expect(() => gpu.gatherMatmul(xs, view(ws, [2, 4, 3]), is, 2, 3, 4, 2)).toThrow(/gatherMatmul: w has shape \[2,4,3\], expected \[e, k, n\] = \[2, 3, 4\]/);
    expect(() => gpu.gatherMatmul(xs, view(ws, [2, 3, 4]), is, 3, 3, 4, 2)).toThrow(/gatherMatmul: x has 6 elements, needs 9/);
    for (const s of [ws, xs, is]) gpu.release(s);
  });
});

describe('webgpu backend: optimizers', () => {
  const h = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, bc1: 1 - 0.9 ** 3, bc2: 1 - 0.999 ** 3 };
  it('adamw with and without gradScale', async () => {
    for (const scaled of [false, true]) {
      await same(`adamw ${scaled}`, ({ be, up }) => {
        const p = up(rand(301, 1));
        const g = up(rand(301, 2));
        const m = up(rand(301, 3, 0.1));
        const v = up(rand(301, 4).map((x) => x * x));
        const s = up([0.5]);
        be.adamw(p, g, m, v, h, scaled ? s : null);
        be.adamw(p, g, m, v, { ...h, bc1: 1 - 0.9 ** 4, bc2: 1 - 0.999 ** 4 }, scaled ? s : null);
        return [be.copy(full(p), 'f32'), be.copy(full(m), 'f32'), be.copy(full(v), 'f32')];
      }, { rtol: 1e-5, atol: 1e-6 });
    }
  });

  it('sgd with and without momentum buffer and gradScale', async () => {
    for (const withBuf of [false, true]) {
      for (const scaled of [false, true]) {
        await same(`sgd ${withBuf} ${scaled}`, ({ be, up }) => {
          const p = up(rand(257, 1));
          const g = up(rand(257, 2));
          const b = up(rand(257, 3));
          const s = up([2]);
          const buf = withBuf ? b : null;
          be.sgd(p, g, buf, { lr: 0.1, momentum: 0.9, weightDecay: 0.01, firstStep: true }, scaled ? s : null);
          be.sgd(p, g, buf, { lr: 0.1, momentum: 0.9, weightDecay: 0.01, firstStep: false }, scaled ? s : null);
          return [be.copy(full(p), 'f32'), be.copy(full(b), 'f32')];
        }, { rtol: 1e-5, atol: 1e-6 });
      }
    }
  });
});

describe('webgpu backend: no leaks', () => {
  it('every test released what it made', async () => {
    await gpu.sync();
    expect(gpu.stats().liveStorages).toBe(0);
    expect(gpu.stats().bytesInUse).toBe(0);
  });
});
