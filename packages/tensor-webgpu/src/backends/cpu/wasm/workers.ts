/**
 * The worker threads of pool.ts: their source text, start-up, and health. A caller waiting for a task that a
 * dead worker claimed would wait forever, and it cannot hear the Worker's 'exit' event while it blocks, so
 * every worker reports through its own shared health block, which the waiting caller reads:
 *   H_READY  1 once the worker instantiated the kernel (it also counted itself in the kernel's READY slot)
 *   H_BUSY   1 while the worker may be claiming or running tasks
 *   H_DEAD   1 once it is dying (it caught an error, or process 'exit' ran); the cause is H_LEN bytes of
 *            UTF-8 from byte H_MSG
 * A worker stopped without running any more JS (terminate(), which nothing here calls, or an out-of-memory
 * kill) cannot write, and its Worker's 'exit' event cannot reach a blocked caller: that death still hangs a
 * caller waiting on its task. (Node's worker loop-idle-time reads -1 once a thread stops, but only after the
 * 'online' event was handled, which was seen not to arrive for workers started after a death: not relied on.)
 */
import { DATA_AT, TABLE_INT, TASK_INTS, type GemmFn, type Kernel } from './kernel.js';

// drain() and workerLoop() spell the layout as literals (worker source text cannot import).
if (DATA_AT !== 131072 || TABLE_INT !== 16 || TASK_INTS !== 16) throw new Error('wasm pool: kernel.ts layout changed; update drain() and workerLoop()');

/** Control block slots (Int32 of kernel.ctl) that workers read too; pool.ts documents GEN to DONE. */
export const GEN = 0;
export const NEXT = 1;
export const COUNT = 2;
export const DONE = 3;
/** Workers that instantiated the kernel (and did not die since). */
export const READY = 4;
/** Test hook: a fault the next worker to claim a task acts out (FAULTS), then clears. */
export const FAULT = 5;

const H_READY = 0;
const H_BUSY = 1;
const H_DEAD = 2;
const H_LEN = 3;
const H_MSG = 16;
const HEALTH_BYTES = 1024;

/** Test faults: throw in the task, or process.exit(2) in the task. */
export const FAULTS = { throw: 1, exit: 2 } as const;

/** Deaths after which no worker is started again: a pool that keeps dying runs single-threaded. */
export const MAX_DEATHS = 3;

/**
 * Claims and runs tasks of the current generation until none is left; `claimed` runs after each claim (the
 * workers' fault hook). It runs on the main thread and, as source text, in every worker: it must not refer to
 * anything outside itself.
 */
export function drain(ctl: Int32Array, gemm: GemmFn, claimed?: (ctl: Int32Array) => void): number {
  const NEXT = 1, COUNT = 2, DONE = 3, TABLE = 16, TASK = 16;
  let ran = 0;
  for (;;) {
    const v = Atomics.load(ctl, NEXT);
    const c = Atomics.load(ctl, COUNT);
    if ((v ^ c) >>> 16 !== 0 || (v & 0xffff) >= (c & 0xffff)) return ran;
    if (Atomics.compareExchange(ctl, NEXT, v, v + 1) !== v) continue;
    claimed?.(ctl);
    const t = TABLE + (v & 0xffff) * TASK;
    gemm(ctl[t], ctl[t + 1], ctl[t + 2], ctl[t + 3], ctl[t + 4], ctl[t + 5], ctl[t + 6], ctl[t + 7],
      ctl[t + 8], ctl[t + 9], ctl[t + 10], ctl[t + 11], ctl[t + 12]);
    ran++;
    if (Atomics.add(ctl, DONE, 1) + 1 === (c & 0xffff)) Atomics.notify(ctl, DONE);
  }
}

interface Proc {
  on(ev: 'exit', f: (code: number) => void): void;
  exit(code: number): never;
}

/**
 * A worker's life: instantiate the kernel on the shared memory, report ready, then drain every generation.
 * Any death it can see (a throw, process.exit) is written to its health block before it goes.
 */
function workerLoop(module: WebAssembly.Module, memory: WebAssembly.Memory, health: SharedArrayBuffer, run: typeof drain): void {
  const GEN = 0, DONE = 3, READY = 4, FAULT = 5, TABLE_BYTES = 131072;
  const H_READY = 0, H_BUSY = 1, H_DEAD = 2, H_LEN = 3, H_MSG = 16;
  const ctl = new Int32Array(memory.buffer, 0, TABLE_BYTES / 4);
  const h = new Int32Array(health);
  const proc = (globalThis as { process?: Proc }).process;
  const die = (cause: string): void => {
    if (Atomics.load(h, H_DEAD) !== 0) return;
    const bytes = new TextEncoder().encode(cause).subarray(0, health.byteLength - H_MSG);
    new Uint8Array(health, H_MSG).set(bytes);
    Atomics.store(h, H_LEN, bytes.length);
    Atomics.store(h, H_DEAD, 1);
    // Wakes a caller blocked on DONE so it notices at once.
    Atomics.notify(ctl, DONE);
  };
  proc?.on('exit', (code) => die(`exited with code ${code}`));
  const claimed = (c: Int32Array): void => {
    const f = Atomics.load(c, FAULT);
    if (f === 0 || Atomics.compareExchange(c, FAULT, f, 0) !== f) return;
    if (f === 1) throw new Error('injected fault (test hook)');
    proc?.exit(f);
  };
  try {
    const gemm = (new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as { gemm: GemmFn }).gemm;
    Atomics.store(h, H_READY, 1);
    Atomics.add(ctl, READY, 1);
    for (;;) {
      const gen = Atomics.load(ctl, GEN);
      Atomics.store(h, H_BUSY, 1);
      run(ctl, gemm, claimed);
      Atomics.store(h, H_BUSY, 0);
      Atomics.wait(ctl, GEN, gen);
    }
  } catch (e) {
    die(String(e));
    throw e;
  }
}

const WORKER_SOURCE = `"use strict";
const drain = ${drain.toString()};
const workerLoop = ${workerLoop.toString()};
const start = (m) => workerLoop(m.module, m.memory, m.health, drain);
if (typeof require === 'function') require('node:worker_threads').parentPort.once('message', start);
else self.onmessage = (e) => start(e.data);
`;

interface WorkerLike {
  postMessage(m: unknown): void;
}

type NodeWorker = WorkerLike & {
  threadId: number;
  unref(): void;
  on(ev: string, f: (x: unknown) => void): void;
};

/** One started worker as its pool sees it. */
export interface PoolWorker {
  /** 1, 2, ... in order of start in this process (for messages). */
  id: number;
  /** The Node thread id, -1 elsewhere. */
  threadId: number;
  health: Int32Array;
  /** The cause the Worker's own 'error' / 'exit' events gave, once they arrived (Node). */
  exited: string | null;
}

let started = 0;

function nodeWorkerCtor(): (new (src: string, o: { eval: true }) => NodeWorker) | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const wt = proc?.getBuiltinModule?.('node:worker_threads') as { Worker?: new (src: string, o: { eval: true }) => NodeWorker } | undefined;
  return wt?.Worker ?? null;
}

/** Starts one worker on the kernel's memory; null when no worker can run here. Throws what the Worker constructor throws. */
export function spawn(k: Kernel): PoolWorker | null {
  const health = new SharedArrayBuffer(HEALTH_BYTES);
  const msg = { module: k.sharedModule, memory: k.memory, health };
  const pw: PoolWorker = { id: ++started, threadId: -1, health: new Int32Array(health), exited: null };
  const Ctor = nodeWorkerCtor();
  if (Ctor !== null) {
    const w = new Ctor(WORKER_SOURCE, { eval: true });
    // Idle workers must not keep the process alive.
    w.unref();
    w.on('error', (e) => (pw.exited ??= String(e)));
    w.on('exit', (code) => (pw.exited ??= `exited with code ${String(code)}`));
    pw.threadId = w.threadId;
    w.postMessage(msg);
    return pw;
  }
  const g = globalThis as { Worker?: new (url: string, o: { type: 'module' }) => WorkerLike; Blob?: typeof Blob; URL?: typeof URL };
  if (typeof g.Worker === 'function' && typeof g.Blob === 'function' && typeof g.URL?.createObjectURL === 'function') {
    const url = g.URL.createObjectURL(new g.Blob([WORKER_SOURCE], { type: 'text/javascript' }));
    new g.Worker(url, { type: 'module' }).postMessage(msg);
    return pw;
  }
  return null;
}

/** Dead by what it wrote or what its Worker events said. */
export function isDead(w: PoolWorker): boolean {
  return Atomics.load(w.health, H_DEAD) !== 0 || w.exited !== null;
}

/** True while a live worker may still write to the kernel's memory. */
export function isBusy(w: PoolWorker): boolean {
  return Atomics.load(w.health, H_BUSY) !== 0;
}

/** What killed the worker, as it or its Worker events told. */
export function causeOf(w: PoolWorker): string {
  const len = Atomics.load(w.health, H_LEN);
  if (Atomics.load(w.health, H_DEAD) !== 0 && len > 0) {
    // TextDecoder refuses views of shared memory: copy out first.
    return new TextDecoder().decode(new Uint8Array(w.health.buffer, H_MSG, len).slice());
  }
  return w.exited ?? 'stopped without reporting a cause (terminated, or killed for memory)';
}

/** Forgets a dead worker's READY count (the kernel's slot counts only live ready workers). */
export function retire(k: Kernel, w: PoolWorker): void {
  if (Atomics.load(w.health, H_READY) !== 0) Atomics.sub(k.ctl, READY, 1);
}

/** Test hook: the next worker to claim a task acts out `fault` (pool.fault.test.ts). 0 disarms. */
export function injectWorkerFaultForTest(k: Kernel, fault: number): void {
  Atomics.store(k.ctl, FAULT, fault);
}
