// Workers dying mid-task. A file of its own: the deaths count towards the pool's limit for the whole module.
import { describe, expect, it } from 'vitest';
import { gemmF32 } from './gemm.js';
import type { Kernel } from './kernel.js';
import { poolStats, readyWorkers } from './pool.js';
import { expectNear, expectSameBits, naive, rand, readyKernel } from './threads.testing.js';
import { FAULTS, MAX_DEATHS, injectWorkerFaultForTest } from './workers.js';

const n = 256;
const A = rand(n * n, 3);
const Bt = rand(n * n, 4);

/** C = A @ B^T for the fixed 256^3 operands (2^24 multiply-adds: always threaded when threads > 1). */
function product(threads: number): Float32Array {
  const C = new Float32Array(n * n).fill(NaN);
  expect(gemmF32(A, 0, 0, n, 1, Bt, 0, 0, 1, n, C, 1, n, n, n, threads)).toBe(true);
  return C;
}

const single = product(1);

/** Arms `fault` and runs threaded products until one throws (the caller may take every task of a run itself). */
function faultedRun(k: Kernel, fault: number): { error: Error; ms: number } {
  injectWorkerFaultForTest(k, fault);
  try {
    for (let i = 0; i < 50; i++) {
      const t0 = Date.now();
      try {
        product(2);
      } catch (error) {
        return { error: error as Error, ms: Date.now() - t0 };
      }
    }
  } finally {
    injectWorkerFaultForTest(k, 0);
  }
  throw new Error('no worker claimed a task in 50 threaded runs');
}

/** The product after a death: right against an independent f64 oracle and bit-identical to one thread. */
function expectRight(): void {
  const C = product(2);
  expectSameBits(C, single, 'threaded product after a worker death');
  expectNear(C, naive(n, n, n, (i, k) => A[i * n + k], (k, j) => Bt[j * n + k]), n);
}

/** Threaded products run tasks in workers again (a restarted worker is ready). */
async function expectWorkersBack(): Promise<void> {
  await readyKernel(2);
  const before = { ...poolStats };
  for (let i = 0; i < 5; i++) expectSameBits(product(2), single, 'threaded product on restarted workers');
  expect(poolStats.runs - before.runs).toBe(5);
  expect(poolStats.tasks - before.tasks - (poolStats.callerTasks - before.callerTasks), 'tasks run by workers').toBeGreaterThan(0);
}

describe('a worker dying mid-task', () => {
  it('that throws: the call throws naming the worker and the error, then the pool restarts', async () => {
    const k = await readyKernel(2);
    const deaths = poolStats.workerDeaths;
    const { error, ms } = faultedRun(k, FAULTS.throw);
    expect(error.message).toMatch(/worker \d+ \(thread \d+\): Error: injected fault \(test hook\)/);
    expect(error.message).toMatch(/next call starts new workers/);
    expect(ms).toBeLessThan(5000);
    expect(poolStats.workerDeaths).toBe(deaths + 1);
    expect(readyWorkers(k)).toBe(0);
    expectRight();
    await expectWorkersBack();
  });

  it('that calls process.exit: the exit code is the cause', async () => {
    const k = await readyKernel(2);
    const { error, ms } = faultedRun(k, FAULTS.exit);
    expect(error.message).toMatch(/worker \d+ \(thread \d+\): exited with code 2/);
    expect(ms).toBeLessThan(5000);
    expectRight();
    await expectWorkersBack();
  });

  it('past the death limit: the pool starts no more workers and runs on the calling thread', async () => {
    const k = await readyKernel(2);
    expect(poolStats.workerDeaths).toBe(MAX_DEATHS - 1);
    const { error, ms } = faultedRun(k, FAULTS.throw);
    expect(error.message).toMatch(/no worker is started again/);
    expect(ms).toBeLessThan(5000);
    const runs = poolStats.runs;
    expectRight();
    await new Promise((r) => setTimeout(r, 100));
    expectRight();
    expect(poolStats.runs, 'threaded runs after the limit').toBe(runs);
    expect(readyWorkers(k)).toBe(0);
  });
});
