/**
 * Placing GEMM operands in the kernel's memory. An operand whose rows are contiguous in the source is copied
 * row by row with TypedArray.prototype.set (memcpy speed) and the kernel reads it row-major; anything else is
 * packed into panels by the JS loop of pack.ts. Row-major reads cost the kernel cache and TLB locality where an
 * operand is swept many times (see `layoutOf`), so the choice is made per product shape.
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

/**
 * packed: panels of W lanes interleaved along K (pack.ts).
 * lanes: each lane (a row of A) contiguous along K, copied whole; ld = K floats.
 * steps: each step (a row of B) contiguous along the lanes, copied whole; ld = padded width + 8 floats,
 *   because a 4 KiB row stride maps every row of a B slice to one L1 set (measured 2x slower at N = 1024).
 */
export type Layout = 'packed' | 'lanes' | 'steps';

/** Rows shorter than this are packed: one `set` per row costs more than the loop for them. */
const MIN_ROW = 16;

/**
 * The layout of A (W = MR) or B (W = NR) for a product whose other operand has `otherPanels` panels (the times
 * this operand is swept). Row-major A read across more than one K block (K > KB) is 15-20% slower in the
 * kernel (4 rows per tile on 4 pages), which outweighs its packing when it is swept more than twice; row-major
 * B loses its L1-resident slice, so it is used only where B is swept at most twice.
 */
export function layoutOf(o: Operand, L: number, K: number, W: 4 | 8, otherPanels: number): Layout {
  if (W === MR) {
    const rows = o.sK === 1 && !o.steps && K >= MIN_ROW;
    return rows && (K <= KB || otherPanels <= 2) ? 'lanes' : 'packed';
  }
  const rows = o.sLane === 1 && !o.lanes && L >= MIN_ROW;
  return rows && otherPanels <= 2 ? 'steps' : 'packed';
}

function padded(L: number, W: number): number {
  return Math.ceil(L / W) * W;
}

function stepLd(L: number, W: number): number {
  return padded(L, W) + NR;
}

/** Floats an operand takes in memory in the given layout (a multiple of 4, keeping 16-byte alignment). */
export function placedFloats(layout: Layout, L: number, K: number, W: 4 | 8): number {
  return layout === 'steps' ? K * stepLd(L, W) : padded(L, W) * K;
}

/**
 * Writes the operand at float offset d0 of mem in `layout` and returns how the kernel walks it. Padding
 * lanes of the row layouts are left as they are (they only feed padding cells of C).
 */
export function place(o: Operand, layout: Layout, L: number, K: number, W: 4 | 8, mem: Float32Array, d0: number): Placed {
  const { data, off, sLane, sK } = o;
  if (layout === 'packed') {
    packPanels(o, L, K, W, mem, d0);
    return { at: d0 * 4, panel: W * K * 4, lane: 4, step: W * 4 };
  }
  // Padding is zeroed all the same: leftover bytes could be subnormal floats, which are slow on x86.
  const Lp = padded(L, W);
  if (layout === 'lanes') {
    if (!o.lanes && sLane === K) mem.set(data.subarray(off, off + L * K), d0);
    else for (let i = 0; i < L; i++) {
      const s = off + (o.lanes ? o.lanes[i] : i) * sLane;
      mem.set(data.subarray(s, s + K), d0 + i * K);
    }
    mem.fill(0, d0 + L * K, d0 + Lp * K);
    return { at: d0 * 4, panel: W * K * 4, lane: K * 4, step: 4 };
  }
  const ld = stepLd(L, W);
  for (let k = 0, d = d0; k < K; k++, d += ld) {
    const s = off + (o.steps ? o.steps[k] : k) * sK;
    mem.set(data.subarray(s, s + L), d);
    if (Lp > L) mem.fill(0, d + L, d + Lp);
  }
  return { at: d0 * 4, panel: W * 4, lane: 4, step: ld * 4 };
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
  lb: Layout;
  aFloats: number;
  bFloats: number;
  cFloats: number;
  ldc: number;
}

export function plan(p: Product): Plan {
  const P = Math.ceil(p.M / MR);
  const Q = Math.ceil(p.N / NR);
  const la = layoutOf(p.a, p.M, p.K, MR, Q);
  const lb = layoutOf(p.b, p.N, p.K, NR, P);
  const ldc = Q * NR;
  return {
    la, lb, ldc,
    aFloats: placedFloats(la, p.M, p.K, MR),
    bFloats: placedFloats(lb, p.N, p.K, NR),
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
