import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createCpuBackend } from '../index.js';
import { gemmF32, setWasmGemmForTest, wasmGemm } from './gemm.js';
import { unsharedBytes } from './kernel.js';
import { MIN_PARALLEL_MACS, poolStats, readyWorkers, resolveThreads } from './pool.js';
import { expectSameBits, rand, readyKernel } from './threads.testing.js';

/** C of a [Bn, M, K] x [Bn, K, N] product (A row-major, B transposed in storage) on `threads` threads. */
function product(Bn: number, M: number, N: number, K: number, threads: number): Float32Array {
  const A = rand(Bn * M * K, M * 7 + K);
  const Bt = rand(Bn * N * K, N * 13 + K);
  const C = new Float32Array(Bn * M * N).fill(NaN);
  expect(gemmF32(A, 0, M * K, K, 1, Bt, 0, N * K, 1, K, C, Bn, M, N, K, threads)).toBe(true);
  return C;
}

afterEach(() => {
  vi.unstubAllGlobals();
  vi.unstubAllEnvs();
});

describe('threaded wasm gemm', () => {
  it('equals the single-thread result bit for bit on many shapes, with workers taking part', async () => {
    await readyKernel(3);
    const before = { ...poolStats };
    // square, small M (column split), small N (row split), odd sizes, batched, long K (several K blocks)
    // and a batch of more small products than the task table holds
    const shapes = [
      [1, 128, 128, 128], [1, 4, 1024, 300], [1, 1000, 5, 300], [1, 257, 131, 97], [1, 33, 1000, 64],
      [3, 100, 100, 100], [1, 61, 77, 700], [5000, 8, 8, 9],
    ];
    for (const [Bn, M, N, K] of shapes) {
      const one = product(Bn, M, N, K, 1);
      for (const t of [2, 3]) expectSameBits(product(Bn, M, N, K, t), one, `[${Bn}, ${M}, ${N}, ${K}] on ${t} threads`);
    }
    expect(poolStats.runs - before.runs, "threaded runs").toBeGreaterThanOrEqual(2 * shapes.length);
    expect(poolStats.tasks - before.tasks - (poolStats.callerTasks - before.callerTasks), 'tasks run by workers').toBeGreaterThan(0);
  });

  it('keeps small products on the calling thread', async () => {
    await readyKernel();
    const runs = poolStats.runs;
    product(1, 64, 64, 64, 2); // 2^18 multiply-adds
    expect(64 ** 3).toBeLessThan(MIN_PARALLEL_MACS);
    expect(poolStats.runs).toBe(runs);
  });

  it('without SharedArrayBuffer: a plain memory, no workers, the same results', () => {
    const want = product(1, 130, 70, 200, 1);
    vi.stubGlobal('SharedArrayBuffer', undefined);
    setWasmGemmForTest(undefined);
    try {
      const k = wasmGemm();
      expect(k).not.toBeNull();
      expect(k!.sharedModule).toBeNull();
      const runs = poolStats.runs;
      expectSameBits(product(1, 130, 70, 200, 2), want, 'unshared kernel, threads 2');
      expect(poolStats.runs).toBe(runs);
      expect(readyWorkers(k!)).toBe(0);
    } finally {
      vi.unstubAllGlobals();
      setWasmGemmForTest(undefined);
    }
  });

  it('unsharedBytes names the problem when the module has no shared memory import', () => {
    expect(() => unsharedBytes(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]))).toThrow(/shared memory import not found/);
  });

  it('a process that ran threaded matmuls exits by itself', async () => {
    // Bundle a tiny script against this source tree (esbuild comes with tsup) and run it in a fresh node.
    const { build } = await import('esbuild');
    const dir = mkdtempSync(join(tmpdir(), 'moegraph-pool-'));
    const script = join(dir, 'exit.mjs');
    const here = fileURLToPath(new URL('.', import.meta.url));
    await build({
      stdin: {
        contents: `
          import { createCpuBackend } from '../index.js';
          import { poolStats, readyWorkers } from './pool.js';
          import { wasmGemm } from './gemm.js';
          const be = createCpuBackend({ threads: 2 });
          const n = 256;
          const a = be.upload(new Float32Array(n * n).fill(1), 'f32');
          const v = { storage: a, shape: [1, n, n], strides: [n * n, n, 1], offset: 0 };
          be.matmul(v, v);
          const t0 = Date.now();
          while (readyWorkers(wasmGemm()) === 0 && Date.now() - t0 < 10000) await new Promise((r) => setTimeout(r, 5));
          const out = be.readSync({ storage: be.matmul(v, v), shape: [2], strides: [1], offset: 0 });
          console.log(JSON.stringify({ ready: readyWorkers(wasmGemm()), runs: poolStats.runs, first: out[0] }));
        `,
        resolveDir: here,
        sourcefile: 'exit.ts',
        loader: 'ts',
      },
      bundle: true,
      format: 'esm',
      platform: 'node',
      outfile: script,
      logLevel: 'silent',
    });
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 30_000 });
    const ms = Date.now() - t0;
    expect(r.signal, `killed after ${ms} ms: the process did not exit (stderr: ${r.stderr})`).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout.trim());
    expect(res.ready).toBeGreaterThan(0);
    expect(res.runs).toBeGreaterThan(0);
    expect(res.first).toBe(256);
    expect(ms).toBeLessThan(15_000);
  });
});

describe('thread count', () => {
  it('comes from the option, then MOEGRAPH_THREADS, then the available parallelism', () => {
    expect(resolveThreads(3)).toBe(3);
    vi.stubEnv('MOEGRAPH_THREADS', '5');
    expect(resolveThreads()).toBe(5);
    expect(resolveThreads(1)).toBe(1);
    vi.stubEnv('MOEGRAPH_THREADS', '');
    expect(resolveThreads()).toBe(availableParallelism());
    expect(createCpuBackend({ threads: 1 }).threads).toBe(1);
  });

  it('rejects counts that are not positive integers, naming the source', () => {
    expect(() => createCpuBackend({ threads: 0 })).toThrow(/threads option must be a positive integer, got 0/);
    expect(() => resolveThreads(1.5)).toThrow(/threads option .* got 1.5/);
    vi.stubEnv('MOEGRAPH_THREADS', 'two');
    expect(() => resolveThreads()).toThrow(/MOEGRAPH_THREADS must be a positive integer, got two/);
  });
});
