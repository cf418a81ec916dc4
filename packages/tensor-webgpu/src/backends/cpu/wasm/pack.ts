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

/** mem[d0 + p*W*K + W*k + l] = element (W*p + l, k) of the operand, zero for lanes >= L. */
export function packPanels(o: Operand, L: number, K: number, W: 4 | 8, mem: Float32Array, d0: number): void {
  const { data, sLane, sK } = o;
  const lanes = o.lanes ?? null;
  const steps = o.steps ?? null;
  const base = new Array<number>(W);
  const P = Math.ceil(L / W);
  for (let p = 0; p < P; p++) {
    for (let l = 0; l < W; l++) {
      const i = W * p + l;
      base[l] = i < L ? o.off + (lanes === null ? i : lanes[i]) * sLane : -1;
    }
    let d = d0 + p * W * K;
    if (W * p + W > L) {
      for (let k = 0; k < K; k++, d += W) {
        const s = (steps === null ? k : steps[k]) * sK;
        for (let l = 0; l < W; l++) mem[d + l] = base[l] < 0 ? 0 : data[base[l] + s];
      }
    } else if (W === 4) {
      const [b0, b1, b2, b3] = base;
      for (let k = 0; k < K; k++, d += 4) {
        const s = (steps === null ? k : steps[k]) * sK;
        mem[d] = data[b0 + s]; mem[d + 1] = data[b1 + s]; mem[d + 2] = data[b2 + s]; mem[d + 3] = data[b3 + s];
      }
    } else {
      const [b0, b1, b2, b3, b4, b5, b6, b7] = base;
      for (let k = 0; k < K; k++, d += 8) {
        const s = (steps === null ? k : steps[k]) * sK;
        mem[d] = data[b0 + s]; mem[d + 1] = data[b1 + s]; mem[d + 2] = data[b2 + s]; mem[d + 3] = data[b3 + s];
        mem[d + 4] = data[b4 + s]; mem[d + 5] = data[b5 + s]; mem[d + 6] = data[b6 + s]; mem[d + 7] = data[b7 + s];
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
