/**
 * Placing GEMM operands in the kernel's memory. An operand whose rows are contiguous in the source is copied
 * row by row with TypedArray.prototype.set (memcpy speed), then either read row-major by the kernel ('lanes',
 * A only) or repacked into panels by the module's SIMD pack4/pack8 ('staged'); anything else is packed by the
 * JS loop of pack.ts ('packed'), which moves one float at a time. Row-major reads cost the kernel cache and TLB
 * locality where an operand is swept many times (see `layoutA`), so the choice is made per product shape. B is
 * never read row-major: that measured no faster than packing it (MoE weight gradients, [4 x rows] @ [rows x
 * 1024], 1 thread), as the kernel's B slice no longer stays in L1.
 */
import { KB, MR, NR, type Kernel } from './kernel.js';
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
 * packed: panels of W lanes interleaved along K, packed by pack.ts. staged: the same panels, rows copied to a
 * staging area and packed there by the module. lanes: each lane (a row of A) copied whole, ld = K.
 */
export type Layout = 'packed' | 'staged' | 'lanes';

/** Rows shorter than this are packed by the JS loop: each `set` call has a fixed cost that short rows do not repay. */
const MIN_ROW = 16;

/**
 * The layout of A, whose rows are swept once per B panel (`bPanels` times). Read row-major across several K
 * blocks (K > KB), A made [2048 x 1024] @ [1024 x 256] about 10% slower in the kernel (the 4 rows of a tile lie
 * on 4 pages) than its packing costs, so there it goes into panels unless swept at most twice.
 */
export function layoutA(o: Operand, M: number, K: number, bPanels: number): Layout {
  if (o.sK !== 1 || o.steps || K < MIN_ROW) return 'packed';
  return K <= KB || bPanels <= 2 ? 'lanes' : 'staged';
}

/** The layout of B: staged where its rows (K steps) are contiguous along N. */
export function layoutB(o: Operand, N: number): Layout {
  return o.sLane === 1 && !o.lanes && N >= MIN_ROW ? 'staged' : 'packed';
}

function padded(L: number, W: number): number {
  return Math.ceil(L / W) * W;
}

/**
 * Copies rows of the operand into mem at float offset d0, `width` floats apart, zeroing padding up to `rows` rows:
 * row r holds `len` floats from data[off + row(r) * stride], with row(r) = list[r] when given, else r.
 */
function copyRows(
  o: Operand, list: Int32Array | null | undefined, stride: number, count: number, len: number,
  rows: number, width: number, mem: Float32Array, d0: number,
): void {
  const { data, off } = o;
  // Padding is zeroed: leftover bytes could be subnormal floats, which are slow on x86.
  if (!list && stride === len && width === len) mem.set(data.subarray(off, off + count * len), d0);
  else for (let r = 0; r < count; r++) {
    const s = off + (list ? list[r] : r) * stride;
    mem.set(data.subarray(s, s + len), d0 + r * width);
    if (width > len) mem.fill(0, d0 + r * width + len, d0 + (r + 1) * width);
  }
  mem.fill(0, d0 + count * width, d0 + rows * width);
}

/** Staging floats an operand of L lanes over K needs in `layout` (the rows before their repacking). */
export function stageFloats(layout: Layout, L: number, K: number, W: 4 | 8): number {
  return layout === 'staged' ? padded(L, W) * K : 0;
}

/**
 * Writes the operand (L lanes over K) at float offset d0 of mem in `layout`; returns how the kernel walks it.
 * 'staged' uses mem from float offset `stage` (stageFloats of room) as scratch.
 */
export function place(
  kern: Kernel, o: Operand, layout: Layout, L: number, K: number, W: 4 | 8, mem: Float32Array, d0: number, stage: number,
): Placed {
  const packed = { at: d0 * 4, panel: W * K * 4, lane: 4, step: W * 4 };
  const Lp = padded(L, W);
  if (layout === 'packed') packPanels(o, L, K, W, mem, d0);
  else if (layout === 'lanes') copyRows(o, o.lanes, o.sLane, L, K, Lp, K, mem, d0);
  else if (W === MR) {
    copyRows(o, o.lanes, o.sLane, L, K, Lp, K, mem, stage);
    kern.pack4(stage * 4, K * 4, d0 * 4, Lp / W, K);
  } else {
    copyRows(o, o.steps, o.sK, K, L, K, Lp, mem, stage);
    kern.pack8(stage * 4, Lp * 4, d0 * 4, Lp / W, K);
  }
  return layout === 'lanes' ? { at: d0 * 4, panel: W * K * 4, lane: K * 4, step: 4 } : packed;
}

/** One product C [M x N] = A [M x K] @ B [K x N]: A's lanes are rows, B's lanes are columns. */
export interface Product {
  a: Operand;
  b: Operand;
  M: number;
  N: number;
  K: number;
}

/** Layouts and float sizes of a product's operands, padded C (ldc floats per row) and staging area. */
export interface Plan {
  la: Layout;
  lb: Layout;
  stage: number;
  aFloats: number;
  bFloats: number;
  cFloats: number;
  ldc: number;
}

export function plan(p: Product): Plan {
  const P = Math.ceil(p.M / MR);
  const Q = Math.ceil(p.N / NR);
  const ldc = Q * NR;
  const la = layoutA(p.a, p.M, p.K, Q);
  const lb = layoutB(p.b, p.N);
  return {
    la, lb, ldc,
    stage: Math.max(stageFloats(la, p.M, p.K, MR), stageFloats(lb, p.N, p.K, NR)),
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
