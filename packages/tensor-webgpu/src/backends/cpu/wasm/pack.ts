/**
 * Packing of GEMM operands into the kernel's panel layout (see matmul.wat). One routine serves A (panels of
 * MR rows) and B (panels of NR columns): a panel interleaves W "lanes" (rows of A, columns of B) along K.
 * Optional index lists gather lanes or K steps from arbitrary rows of the source, which is how the
 * mixture-of-experts kernels pack each expert's rows without an intermediate copy.
 */

export type Src = Float32Array | Float64Array;

/** Element (lane i, step k) of an operand is data[off + lane(i) * sLane + step(k) * sK]. */
export interface Operand {
  data: Src;
  off: number;
  sLane: number;
  sK: number;
  /** lane(i) = lanes[i] when given, else i. */
  lanes?: Int32Array | null;
  /** step(k) = steps[k] when given, else k. */
  steps?: Int32Array | null;
}

/**
 * K steps packed per sweep over the panels. Each panel reads a different source row per step when K walks
 * rows (row-major B, or an expert's gathered rows); sweeping all panels along the full K would revisit
 * K rows (K pages) once per panel, so the sweep is blocked to keep the rows of one block cached.
 */
const K_BLOCK = 32;

/** mem[d0 + p*W*K + W*k + l] = element (W*p + l, k) of the operand, zero for lanes >= L. */
export function packPanels(o: Operand, L: number, K: number, W: 4 | 8, mem: Float32Array, d0: number): void {
  const { data, sLane, sK } = o;
  const lanes = o.lanes ?? null;
  const steps = o.steps ?? null;
  const P = Math.ceil(L / W);
  // Source offset of every lane, -1 for padding lanes.
  const base = new Float64Array(P * W);
  for (let i = 0; i < P * W; i++) base[i] = i < L ? o.off + (lanes === null ? i : lanes[i]) * sLane : -1;
  const full = Math.floor(L / W);
  // Lanes contiguous along K (rows of A) are read best in one sweep per panel: W sequential streams.
  const kBlock = sK === 1 && steps === null ? K : K_BLOCK;
  for (let k0 = 0; k0 < K; k0 += kBlock) {
    const k1 = Math.min(K, k0 + kBlock);
    for (let p = 0; p < P; p++) {
      const bp = p * W;
      let d = d0 + p * W * K + W * k0;
      if (p >= full) {
        for (let k = k0; k < k1; k++, d += W) {
          const s = (steps === null ? k : steps[k]) * sK;
          for (let l = 0; l < W; l++) mem[d + l] = base[bp + l] < 0 ? 0 : data[base[bp + l] + s];
        }
      } else if (W === 4) {
        const b0 = base[bp], b1 = base[bp + 1], b2 = base[bp + 2], b3 = base[bp + 3];
        for (let k = k0; k < k1; k++, d += 4) {
          const s = (steps === null ? k : steps[k]) * sK;
          mem[d] = data[b0 + s]; mem[d + 1] = data[b1 + s]; mem[d + 2] = data[b2 + s]; mem[d + 3] = data[b3 + s];
        }
      } else {
        const b0 = base[bp], b1 = base[bp + 1], b2 = base[bp + 2], b3 = base[bp + 3];
        const b4 = base[bp + 4], b5 = base[bp + 5], b6 = base[bp + 6], b7 = base[bp + 7];
        for (let k = k0; k < k1; k++, d += 8) {
          const s = (steps === null ? k : steps[k]) * sK;
          mem[d] = data[b0 + s]; mem[d + 1] = data[b1 + s]; mem[d + 2] = data[b2 + s]; mem[d + 3] = data[b3 + s];
          mem[d + 4] = data[b4 + s]; mem[d + 5] = data[b5 + s]; mem[d + 6] = data[b6 + s]; mem[d + 7] = data[b7 + s];
        }
      }
    }
  }
}

/**
 * out[outOff + row(i)*ldo + j] = mem[c0 + i*ldc + j] for the valid rows x cols of a padded C (floats), with
 * row(i) = outRows[i] when given (scattering an expert's rows back to their tokens), else i.
 */
export function copyOut(
  mem: Float32Array, c0: number, ldc: number, rows: number, cols: number,
  out: Float32Array, outOff: number, ldo: number, outRows: Int32Array | null = null,
): void {
  if (outRows === null && ldc === cols && ldo === cols) {
    out.set(mem.subarray(c0, c0 + rows * cols), outOff);
    return;
  }
  for (let i = 0; i < rows; i++) {
    const r = outRows === null ? i : outRows[i];
    out.set(mem.subarray(c0 + i * ldc, c0 + i * ldc + cols), outOff + r * ldo);
  }
}

/**
 * The transpose of copyOut: out[outOff + row(j)*ldo + i] = mem[c0 + i*ldc + j] for i < rows, j < cols of a
 * padded C, with row(j) = outRows[j] when given, else j.
 */
export function copyOutTransposed(
  mem: Float32Array, c0: number, ldc: number, rows: number, cols: number,
  out: Float32Array, outOff: number, ldo: number, outRows: Int32Array | null = null,
): void {
  for (let j = 0; j < cols; j++) {
    const o = outOff + (outRows === null ? j : outRows[j]) * ldo;
    for (let i = 0, s = c0 + j; i < rows; i++, s += ldc) out[o + i] = mem[s];
  }
}
