/**
 * Runs batches of kernel calls on the main thread plus a lazily started pool of worker threads that share
 * the kernel's memory. A batch is split into tasks (rectangles of panels, written to the task table); every
 * thread claims tasks from a counter until none is left, so each C tile is computed by exactly one thread
 * with the same K order as a single-threaded run: results are bit-identical whatever the split.
 *
 * Control block (Int32 slots of kernel.ctl):
 *   GEN    generation of the latest batch; idle workers Atomics.wait on it
 *   NEXT   gen << 16 | index of the next unclaimed task
 *   COUNT  gen << 16 | number of tasks   (a claim is valid only when both carry the same generation)
 *   DONE   tasks finished in this generation; the main thread waits for it to reach the count
 *   READY  workers that instantiated the kernel and are waiting for work
 * Workers never block the caller: until one reports ready, the main thread runs everything itself.
 */
import { DATA_AT, KB, MAX_TASKS, MR, NR, TABLE_INT, TASK_INTS, type GemmFn, type Kernel } from './kernel.js';

// drain() and workerLoop() spell the layout as literals (worker source text cannot import).
if (DATA_AT !== 131072 || TABLE_INT !== 16 || TASK_INTS !== 16) throw new Error('wasm pool: kernel.ts layout changed; update drain() and workerLoop()');

const GEN = 0;
const NEXT = 1;
const COUNT = 2;
const DONE = 3;
const READY = 4;
/** Padded multiply-adds below which a batch stays on one thread (waking a worker costs tens of microseconds). */
export const MIN_PARALLEL_MACS = 1 << 20;

/**
 * The thread count for a backend: `requested` when given, else env MOEGRAPH_THREADS, else the available
 * parallelism (os.availableParallelism on Node, navigator.hardwareConcurrency elsewhere).
 */
export function resolveThreads(requested?: number): number {
  const g = globalThis as {
    process?: { env?: Record<string, string | undefined>; getBuiltinModule?: (id: string) => unknown };
    navigator?: { hardwareConcurrency?: number };
  };
  const env = g.process?.env?.MOEGRAPH_THREADS;
  const from = requested !== undefined ? 'threads option' : env !== undefined && env !== '' ? 'MOEGRAPH_THREADS' : null;
  const n = requested ?? (from === null ? Number.NaN : Number(env));
  if (from !== null) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`cpu backend: ${from} must be a positive integer, got ${String(requested ?? env)}`);
    return n;
  }
  const os = g.process?.getBuiltinModule?.('node:os') as { availableParallelism?: () => number } | undefined;
  const avail = os?.availableParallelism?.() ?? g.navigator?.hardwareConcurrency ?? 1;
  return Math.max(1, Math.floor(avail));
}

/**
 * Claims and runs tasks of the current generation until none is left. It runs on the main thread and, as
 * source text, in every worker: it must not refer to anything outside itself.
 */
function drain(ctl: Int32Array, gemm: GemmFn): number {
  const NEXT = 1, COUNT = 2, DONE = 3, TABLE = 16, TASK = 16;
  let ran = 0;
  for (;;) {
    const v = Atomics.load(ctl, NEXT);
    const c = Atomics.load(ctl, COUNT);
    if ((v ^ c) >>> 16 !== 0 || (v & 0xffff) >= (c & 0xffff)) return ran;
    if (Atomics.compareExchange(ctl, NEXT, v, v + 1) !== v) continue;
    const t = TABLE + (v & 0xffff) * TASK;
    gemm(ctl[t], ctl[t + 1], ctl[t + 2], ctl[t + 3], ctl[t + 4], ctl[t + 5], ctl[t + 6], ctl[t + 7],
      ctl[t + 8], ctl[t + 9], ctl[t + 10], ctl[t + 11], ctl[t + 12]);
    ran++;
    if (Atomics.add(ctl, DONE, 1) + 1 === (c & 0xffff)) Atomics.notify(ctl, DONE);
  }
}

/** A worker's life: instantiate the kernel on the shared memory, report ready, then drain every generation. */
function workerLoop(module: WebAssembly.Module, memory: WebAssembly.Memory, run: typeof drain): void {
  const GEN = 0, READY = 4, TABLE_BYTES = 131072;
  const gemm = (new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as { gemm: GemmFn }).gemm;
  const ctl = new Int32Array(memory.buffer, 0, TABLE_BYTES / 4);
  Atomics.add(ctl, READY, 1);
  for (;;) {
    const gen = Atomics.load(ctl, GEN);
    run(ctl, gemm);
    Atomics.wait(ctl, GEN, gen);
  }
}

const WORKER_SOURCE = `"use strict";
const drain = ${drain.toString()};
const workerLoop = ${workerLoop.toString()};
const start = (m) => workerLoop(m.module, m.memory, drain);
if (typeof require === 'function') require('node:worker_threads').parentPort.once('message', start);
else self.onmessage = (e) => start(e.data);
`;

interface WorkerLike {
  postMessage(m: unknown): void;
}

/** Workers per kernel instance (each is bound to that instance's memory). */
const pools = new WeakMap<Kernel, WorkerLike[]>();
/** Set when workers cannot be created here (no worker API, or creation threw): stay single-threaded. */
let unavailable = false;
let mainCanWait: boolean | undefined;

type NodeWorkerCtor = new (src: string, o: { eval: true }) => WorkerLike & { unref(): void; on(ev: string, f: () => void): void };

function nodeWorkerCtor(): NodeWorkerCtor | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const wt = proc?.getBuiltinModule?.('node:worker_threads') as { Worker?: NodeWorkerCtor } | undefined;
  return wt?.Worker ?? null;
}

function spawn(): WorkerLike | null {
  const NodeWorker = nodeWorkerCtor();
  if (NodeWorker !== null) {
    const w = new NodeWorker(WORKER_SOURCE, { eval: true });
    // Idle workers must not keep the process alive; a dead worker just stops claiming tasks.
    w.unref();
    w.on('error', () => {});
    return w;
  }
  const g = globalThis as { Worker?: new (url: string, o: { type: 'module' }) => WorkerLike; Blob?: typeof Blob; URL?: typeof URL };
  if (typeof g.Worker === 'function' && typeof g.Blob === 'function' && typeof g.URL?.createObjectURL === 'function') {
    const url = g.URL.createObjectURL(new g.Blob([WORKER_SOURCE], { type: 'text/javascript' }));
    return new g.Worker(url, { type: 'module' });
  }
  return null;
}

/** Starts workers up to `count` (never waits for them); false when no worker can run here. */
function ensureWorkers(k: Kernel, count: number): boolean {
  if (unavailable || k.sharedModule === null) return false;
  let workers = pools.get(k);
  if (workers === undefined) pools.set(k, (workers = []));
  while (workers.length < count) {
    let w: WorkerLike | null;
    try {
      w = spawn();
    } catch {
      w = null;
    }
    if (w === null) {
      unavailable = workers.length === 0;
      break;
    }
    w.postMessage({ module: k.sharedModule, memory: k.memory });
    workers.push(w);
  }
  return workers.length > 0;
}

/** Workers that have reported ready (for tests and diagnostics). */
export function readyWorkers(k: Kernel): number {
  return k.sharedModule === null ? 0 : Atomics.load(k.ctl, READY);
}

/** Blocks until DONE reaches `n`: Atomics.wait where the thread may block, a spin on a browser main thread. */
function awaitDone(ctl: Int32Array, n: number): void {
  if (mainCanWait === undefined) {
    try {
      Atomics.wait(ctl, DONE, -1, 0);
      mainCanWait = true;
    } catch {
      mainCanWait = false;
    }
  }
  let spins = 0;
  for (let d = Atomics.load(ctl, DONE); d < n; d = Atomics.load(ctl, DONE)) {
    if (mainCanWait && ++spins > 256) Atomics.wait(ctl, DONE, d, 10);
  }
}

/**
 * One kernel call over a rectangle of panels; addresses and strides in bytes, named as the gemm parameters
 * of matmul.wat (A panel / row / k strides pa, ra, ka; B panel / k strides qb, kbs).
 */
export interface Call {
  a: number;
  b: number;
  c: number;
  P: number;
  Q: number;
  K: number;
  ldc: number;
  pa: number;
  ra: number;
  ka: number;
  qb: number;
  kbs: number;
}

/** Kernel calls collected by a caller, run together so small products can share threads. */
export class Batch {
  private readonly calls: Call[] = [];
  private macs = 0;

  /** C (ldc bytes per row) = A (P panels) @ B (Q panels) over K. */
  add(call: Call): void {
    const { P, Q, K } = call;
    if (P === 0 || Q === 0 || K === 0) return;
    this.calls.push(call);
    this.macs += MR * NR * P * Q * K;
  }

  run(k: Kernel, threads: number): void {
    if (threads > 1 && this.macs >= MIN_PARALLEL_MACS && ensureWorkers(k, threads - 1) && readyWorkers(k) > 0) {
      // Calls go out in chunks small enough that every call gets at least one slot of the task table.
      const target = Math.max(this.macs / (4 * threads), this.macs / MAX_TASKS);
      const chunk = MAX_TASKS >> 1;
      for (let i = 0; i < this.calls.length; i += chunk) {
        const calls = this.calls.slice(i, i + chunk);
        const n = split(k.ctl, calls, target);
        if (n > 1) runShared(k, n, threads - 1);
        else runCalls(k, calls);
      }
      return;
    }
    runCalls(k, this.calls);
  }
}

/** A call with K = 0 writes nothing: callers handle empty reductions themselves. */
function runCalls(k: Kernel, calls: readonly Call[]): void {
  for (const c of calls) k.gemm(c.a, c.b, c.c, c.P, c.Q, c.K, KB, c.ldc, c.pa, c.ra, c.ka, c.qb, c.kbs);
}

/** Writes the calls to the task table as rectangles of about `target` multiply-adds; returns the task count. */
function split(ctl: Int32Array, calls: readonly Call[], target: number): number {
  let n = 0;
  calls.forEach((c, i) => {
    const room = MAX_TASKS - n - (calls.length - 1 - i);
    const pieces = Math.max(1, Math.min(Math.ceil((MR * NR * c.P * c.Q * c.K) / target), c.P * c.Q, room));
    // Row panels first (each task then streams its own A panels against all of B); columns when M is small.
    const pp = Math.min(c.P, pieces);
    const qq = Math.min(c.Q, Math.floor(pieces / pp));
    for (let i = 0; i < pp; i++) {
      const p0 = Math.floor((i * c.P) / pp);
      const p1 = Math.floor(((i + 1) * c.P) / pp);
      for (let j = 0; j < qq; j++) {
        const q0 = Math.floor((j * c.Q) / qq);
        const q1 = Math.floor(((j + 1) * c.Q) / qq);
        const t = TABLE_INT + n++ * TASK_INTS;
        ctl[t] = c.a + p0 * c.pa;
        ctl[t + 1] = c.b + q0 * c.qb;
        ctl[t + 2] = c.c + p0 * MR * c.ldc + q0 * NR * 4;
        ctl[t + 3] = p1 - p0;
        ctl[t + 4] = q1 - q0;
        ctl[t + 5] = c.K;
        ctl[t + 6] = KB;
        ctl[t + 7] = c.ldc;
        ctl[t + 8] = c.pa;
        ctl[t + 9] = c.ra;
        ctl[t + 10] = c.ka;
        ctl[t + 11] = c.qb;
        ctl[t + 12] = c.kbs;
      }
    }
  });
  return n;
}

let gen = 0;

/** Counters of threaded runs: tasks published and tasks the calling thread ran itself (the rest ran in workers). */
export const poolStats = { runs: 0, tasks: 0, callerTasks: 0 };

/** Publishes `n` table tasks as a new generation, wakes up to `wake` workers, joins in and waits for all. */
function runShared(k: Kernel, n: number, wake: number): void {
  const ctl = k.ctl;
  gen = (gen + 1) & 0xffff;
  Atomics.store(ctl, DONE, 0);
  Atomics.store(ctl, COUNT, (gen << 16) | n);
  Atomics.store(ctl, NEXT, gen << 16);
  Atomics.store(ctl, GEN, gen);
  Atomics.notify(ctl, GEN, wake);
  const mine = drain(ctl, k.gemm);
  awaitDone(ctl, n);
  poolStats.runs++;
  poolStats.tasks += n;
  poolStats.callerTasks += mine;
}
