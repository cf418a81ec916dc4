/**
 * Placing GEMM operands in the kernel's memory. An operand whose rows are contiguous in the source is copied
 * row by row with TypedArray.prototype.set (memcpy speed) and the kernel reads it row-major; anything else is
 * packed into panels by the JS loop of pack.ts. Row-major reads cost the kernel cache and TLB locality where an
 * operand is swept many times (see `layoutA`), so the choice is made per product shape. B is always packed:
 * copying its rows whole (read by the kernel with a row stride) measured no faster than packing them, the
 * kernel being a little slower on them (MoE weight gradients, [4 x rows] @ [rows x 1024], 1 thread).
 */
import { KB, MR, NR } from './kernel.js';
import { packPanels, type Operand } from './pack.js';
import type { Call } from './pool.js';

/**
 * How the kernel walks a placed operand, in bytes (matmul.wat's gemm parameters): element (lane W*p + l,
 * step k) at `at + p*panel + l*lane + k*step`. For B, lane is always 4 (eight adjacent floats per load).
 */
export interface Placed {
  at: number;
  panel: number;
  lane: number;
  step: number;
}

/** packed: panels of W lanes interleaved along K (pack.ts). lanes: each lane (a row of A) copied whole, ld = K. */
export type Layout = 'packed' | 'lanes';

/** Rows shorter than this are packed: one `set` per row costs more than the loop for them. */
const MIN_ROW = 16;

/**
 * The layout of A, whose rows are swept once per B panel (`bPanels` times). Row-major A read across several K
 * blocks (K > KB) made [2048 x 1024] @ [1024 x 256] 8-10% slower in the kernel (4 rows of a tile on 4 pages)
 * than packing cost, so there it is packed unless swept at most twice.
 */
export function layoutA(o: Operand, M: number, K: number, bPanels: number): Layout {
  const rows = o.sK === 1 && !o.steps && K >= MIN_ROW;
  return rows && (K <= KB || bPanels <= 2) ? 'lanes' : 'packed';
}

function padded(L: number, W: number): number {
  return Math.ceil(L / W) * W;
}

/** Writes the operand (L lanes over K) at float offset d0 of mem in `layout`; returns how the kernel walks it. */
export function place(o: Operand, layout: Layout, L: number, K: number, W: 4 | 8, mem: Float32Array, d0: number): Placed {
  const { data, off, sLane } = o;
  if (layout === 'packed') {
    packPanels(o, L, K, W, mem, d0);
    return { at: d0 * 4, panel: W * K * 4, lane: 4, step: W * 4 };
  }
  // Padding lanes are zeroed all the same: leftover bytes could be subnormal floats, which are slow on x86.
  if (!o.lanes && sLane === K) mem.set(data.subarray(off, off + L * K), d0);
  else for (let i = 0; i < L; i++) {
    const s = off + (o.lanes ? o.lanes[i] : i) * sLane;
    mem.set(data.subarray(s, s + K), d0 + i * K);
  }
  mem.fill(0, d0 + L * K, d0 + padded(L, W) * K);
  return { at: d0 * 4, panel: W * K * 4, lane: K * 4, step: 4 };
}

/** One product C [M x N] = A [M x K] @ B [K x N]: A's lanes are rows, B's lanes are columns. */
export interface Product {
  a: Operand;
  b: Operand;
  M: number;
  N: number;
  K: number;
}

/** Layouts and float sizes of a product's operands and padded C (ldc floats per row). */
export interface Plan {
  la: Layout;
  aFloats: number;
  bFloats: number;
  cFloats: number;
  ldc: number;
}

export function plan(p: Product): Plan {
  const P = Math.ceil(p.M / MR);
  const Q = Math.ceil(p.N / NR);
  const ldc = Q * NR;
  return {
    la: layoutA(p.a, p.M, p.K, Q), ldc,
    // Multiples of 4 floats, keeping every placed operand 16-byte aligned.
    aFloats: padded(p.M, MR) * p.K,
    bFloats: padded(p.N, NR) * p.K,
    cFloats: P * MR * ldc,
  };
}

/** The kernel call computing C (at float offset c) from placed operands. */
export function callOf(a: Placed, b: Placed, c: number, p: Product, pl: Plan): Call {
  return {
    a: a.at, b: b.at, c: c * 4, P: Math.ceil(p.M / MR), Q: pl.ldc / NR, K: p.K, ldc: pl.ldc * 4,
    pa: a.panel, ra: a.lane, ka: a.step, qb: b.panel, kbs: b.step,
  };
}
