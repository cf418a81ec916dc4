import { describe, expect, it } from 'vitest';
import { Generator } from '../../random.js';
import { createCpuBackend, type Precision } from './index.js';

describe('cpu reduce: sums over permuted views (accumulated slab by slab)', () => {
  const g = new Generator(3);
  const data = Array.from({ length: 4000 }, () => Math.fround((g.uniform() * 2 - 1) * 1e3));
  // [shape, strides, offset, reduceDims]: reduced dims slower in memory than the kept ones.
  const cases: [number[], number[], number, number][] = [
    [[50, 30, 2], [60, 1, 30], 0, 1], // [tokens, d, k] view of [tokens, k, d]
    [[30, 9, 13], [1, 390, 30], 5, 2], // two reduced dims, kept dim contiguous
    [[7, 11, 5], [55, 1, 11], 3, 1], // kept dims not mergeable: runs of 11
    [[4, 3, 3], [1, 0, 4], 0, 1], // broadcast kept dim
    [[6, 1, 4], [4, 0, 24], 2, 2], // size-1 dim inside the reduced ones
  ];
  for (const precision of ['f32', 'f64'] as Precision[]) {
    it(`${precision}: equals the double sum of each row in index order, rounded once`, () => {
      const be = createCpuBackend({ precision });
      const s = be.upload(data, 'f32');
      for (const [shape, strides, offset, rd] of cases) {
        const split = shape.length - rd;
        const rows = shape.slice(0, split).reduce((a, b) => a * b, 1);
        const cols = shape.slice(split).reduce((a, b) => a * b, 1);
        const got = be.readSync({ storage: be.reduce('sum', { storage: s, shape, strides, offset }, rd), shape: [rows], strides: [1], offset: 0 });
        for (let r = 0; r < rows; r++) {
          let acc = 0;
          for (let c = 0; c < cols; c++) {
            // Row-major index r * cols + c -> storage position.
            let k = r * cols + c;
            let p = offset;
            for (let d = shape.length - 1; d >= 0; d--) {
              p += (k % shape[d]) * strides[d];
              k = Math.floor(k / shape[d]);
            }
            acc += data[p];
          }
          expect(got[r], `shape [${shape}] row ${r}`).toBe(precision === 'f32' ? Math.fround(acc) : acc);
        }
      }
    });
  }
});
