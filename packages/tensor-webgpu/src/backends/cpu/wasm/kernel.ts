/**
 * The instantiated matmul.wat kernel and the layout of its memory. The memory is a shared
 * WebAssembly.Memory where SharedArrayBuffer exists (so worker threads of pool.ts can run parts of one
 * product in it) and a plain one elsewhere (single thread). Layout, in bytes:
 *   [0, 64)            control block of pool.ts (Int32 slots)
 *   [64, DATA_AT)      task table of pool.ts (TASK_INTS Int32 per task)
 *   [DATA_AT, ...)     operand panels and results, laid out per call by the callers
 */
import { decodeBase64, ensureMemory } from './load.js';
import { MATMUL_WASM_BASE64 } from './matmul.wasm.js';

/** Rows per A panel and columns per B panel of the micro-kernel (must match matmul.wat). */
export const MR = 4;
export const NR = 8;
/** K steps per block: a B panel slice (NR * KB floats = 8 KiB) stays in L1 while A panels pass over it. */
export const KB = 256;
/** Int32 slots per task: the 13 arguments of the kernel's gemm, padded to a power of two. */
export const TASK_INTS = 16;
export const TABLE_INT = 16;
/** Tasks per run (under the 16 bits of the pool's generation-tagged counter) and the table that holds them (2 pages). */
export const MAX_TASKS = 2047;
export const DATA_AT = (TABLE_INT + MAX_TASKS * TASK_INTS) * 4;
const PAGE = 65536;
const MAX_PAGES = 65536;

export type GemmFn = (
  ap: number, bp: number, cp: number, P: number, Q: number, K: number, kb: number, ldc: number,
  pa: number, ra: number, ka: number, qb: number, kbs: number,
) => void;

/** Packs row-major rows (ld bytes apart) into panels at dst: pack4 4P rows over K, pack8 K rows of 8Q floats. */
export type PackFn = (src: number, ld: number, dst: number, panels: number, K: number) => void;

export interface Kernel {
  memory: WebAssembly.Memory;
  /** The compiled shared-memory module (workers instantiate it on the same memory); null when unshared. */
  sharedModule: WebAssembly.Module | null;
  gemm: GemmFn;
  pack4: PackFn;
  pack8: PackFn;
  /** Int32 view of the control block and task table (never moves: it lies in the first page). */
  ctl: Int32Array;
}

let kernel: Kernel | null | undefined;
let views: { f32: Float32Array } | null = null;

/**
 * The module with its memory import's limits flag turned from shared (0x03) to plain (0x01): the kernel
 * uses no atomics, so this is the only difference, and one artifact serves both memories.
 */
export function unsharedBytes(bytes: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  // import entry: field name "memory" (length 6), kind 0x02 (memory), limits flags
  const sig = [6, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 2, 3];
  const out = bytes.slice();
  for (let i = 0; i + sig.length <= out.length; i++) {
    if (sig.every((b, j) => out[i + j] === b)) {
      out[i + sig.length - 1] = 1;
      return out;
    }
  }
  throw new Error('wasm kernel: shared memory import not found in matmul.wasm (is matmul.wat still importing a shared memory?)');
}

function sharedMemoryAvailable(): boolean {
  return typeof SharedArrayBuffer === 'function' && typeof Atomics === 'object';
}

function instantiate(): Kernel | null {
  if (typeof WebAssembly === 'undefined') return null;
  const bytes = decodeBase64(MATMUL_WASM_BASE64);
  if (sharedMemoryAvailable()) {
    try {
      const module = new WebAssembly.Module(bytes);
      const memory = new WebAssembly.Memory({ initial: DATA_AT / PAGE, maximum: MAX_PAGES, shared: true });
      return make(module, memory, module);
    } catch {
      // no SIMD, or shared memory refused (e.g. a browser page that is not cross-origin isolated): plain
      // memory below (which fails too, returning null, when SIMD is what is missing)
    }
  }
  try {
    const module = new WebAssembly.Module(unsharedBytes(bytes));
    return make(module, new WebAssembly.Memory({ initial: DATA_AT / PAGE, maximum: MAX_PAGES }), null);
  } catch {
    return null;
  }
}

function make(module: WebAssembly.Module, memory: WebAssembly.Memory, sharedModule: WebAssembly.Module | null): Kernel {
  const ex = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Pick<Kernel, 'gemm' | 'pack4' | 'pack8'>;
  return { memory, sharedModule, gemm: ex.gemm, pack4: ex.pack4, pack8: ex.pack8, ctl: new Int32Array(memory.buffer, 0, DATA_AT / 4) };
}

/** The instantiated kernel, or null where WebAssembly (or its SIMD proposal) is unavailable. */
export function wasmGemm(): Kernel | null {
  if (kernel === undefined) {
    kernel = instantiate();
    views = null;
  }
  return kernel;
}

/** Test hook: force the fallback (null) or re-probe (undefined), e.g. after stubbing SharedArrayBuffer away. */
export function setWasmGemmForTest(k: null | undefined): void {
  kernel = k;
  views = null;
}

/**
 * A Float32Array over the whole memory, grown to at least `bytes`; null when that exceeds the 4 GiB
 * address space or the memory cannot grow. Call before packing: growing replaces the buffer.
 */
export function memoryF32(k: Kernel, bytes: number): Float32Array | null {
  if (bytes > MAX_PAGES * PAGE - PAGE || !ensureMemory(k.memory, bytes)) return null;
  // Compared by size: a shared memory's buffer object may be a fresh wrapper on every access.
  const buffer = k.memory.buffer;
  if (views === null || views.f32.byteLength !== buffer.byteLength) views = { f32: new Float32Array(buffer) };
  return views.f32;
}
