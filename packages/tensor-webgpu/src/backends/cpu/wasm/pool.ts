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
 * workers.ts starts the workers and tells the waiting caller when one dies.
 * Workers never block the caller: until one reports ready, the main thread runs everything itself.
 */
import { KB, MAX_TASKS, MR, NR, TABLE_INT, TASK_INTS, type Kernel } from './kernel.js';
import { COUNT, DONE, GEN, MAX_DEATHS, NEXT, READY, causeOf, drain, isBusy, isDead, retire, spawn, type PoolWorker } from './workers.js';

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

/** Workers per kernel instance (each is bound to that instance's memory). */
const pools = new WeakMap<Kernel, PoolWorker[]>();
/** Set when workers cannot be created here (no worker API, or creation threw): stay single-threaded. */
let unavailable = false;
let mainCanWait: boolean | undefined;

/** Drops dead workers (counting them), then starts workers up to `count` (never waits for them); false when none can run. */
function ensureWorkers(k: Kernel, count: number): boolean {
  if (unavailable || k.sharedModule === null) return false;
  let workers = pools.get(k);
  if (workers === undefined) pools.set(k, (workers = []));
  for (const w of workers.filter(isDead)) bury(k, w);
  if (poolStats.workerDeaths >= MAX_DEATHS) return workers.length > 0;
  while (workers.length < count) {
    let w: PoolWorker | null;
    try {
      w = spawn(k);
    } catch {
      w = null;
    }
    if (w === null) {
      unavailable = workers.length === 0;
      break;
    }
    workers.push(w);
  }
  return workers.length > 0;
}

/** Removes a dead worker from its pool, once. */
function bury(k: Kernel, w: PoolWorker): void {
  const workers = pools.get(k) ?? [];
  const i = workers.indexOf(w);
  if (i < 0) return;
  workers.splice(i, 1);
  retire(k, w);
  poolStats.workerDeaths++;
}

/** Workers that have reported ready (for tests and diagnostics). */
export function readyWorkers(k: Kernel): number {
  return k.sharedModule === null ? 0 : Atomics.load(k.ctl, READY);
}

/**
 * Blocks until DONE reaches `n`: Atomics.wait where the thread may block, a spin on a browser main thread.
 * Between waits it looks for dead workers (a dying worker also wakes this wait): one may have claimed a task
 * that will never finish.
 */
function awaitDone(k: Kernel, n: number): void {
  const ctl = k.ctl;
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
    if (++spins <= 256) continue;
    if (mainCanWait) Atomics.wait(ctl, DONE, d, 10);
    else if ((spins & 0xffff) !== 0) continue;
    if ((pools.get(k) ?? []).some(isDead)) return settle(k, n);
  }
}

/**
 * After a death: waits until no live worker can still write to the memory (the caller drained the table, so a
 * worker that is not busy now claims nothing more), buries the dead, and throws when their tasks are lost.
 */
function settle(k: Kernel, n: number): void {
  const workers = [...(pools.get(k) ?? [])];
  let dead: PoolWorker[] = [];
  for (;;) {
    dead = workers.filter(isDead);
    if (workers.every((w) => dead.includes(w) || !isBusy(w))) break;
    if (mainCanWait) Atomics.wait(k.ctl, DONE, Atomics.load(k.ctl, DONE), 1);
  }
  for (const w of dead) bury(k, w);
  if (Atomics.load(k.ctl, DONE) >= n) return;
  const who = dead.map((w) => `worker ${w.id}${w.threadId >= 0 ? ` (thread ${w.threadId})` : ''}: ${causeOf(w)}`).join('; ');
  const next = poolStats.workerDeaths >= MAX_DEATHS ? `after ${MAX_DEATHS} deaths no worker is started again` : 'the next call starts new workers';
  throw new Error(`wasm pool: a worker died during a threaded matmul, which is lost (${who}); ${next}`);
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

/** Counters of threaded runs: tasks published, tasks the calling thread ran itself (the rest ran in workers), workers found dead. */
export const poolStats = { runs: 0, tasks: 0, callerTasks: 0, workerDeaths: 0 };

/**
 * A copy of the process's threaded-kernel counters: `tasks - callerTasks` ran in worker threads, so
 * a user (or a runtime test) can tell whether the cpu backend's workers take part here.
 */
export function cpuThreadStats(): typeof poolStats {
  return { ...poolStats };
}

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
  awaitDone(k, n);
  poolStats.runs++;
  poolStats.tasks += n;
  poolStats.callerTasks += mine;
}
