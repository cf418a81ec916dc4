/** The shape rules of the narrow matmul kernels (their numbers are checked in webgpu.test.ts). */
import { describe, expect, it } from 'vitest';
import { pickNarrow, splitSlices } from './narrow.js';

const d = (B: number, M: number, K: number, N: number) => ({ B, M, K, N });

describe('narrow matmul selection', () => {
  it('narrow outputs take split-K, a few tiles with a long K the workgroup reduction, wide ones the tiled kernels', () => {
    expect(pickNarrow({}, d(1, 1024, 256, 4))).toEqual({ slices: splitSlices(d(1, 1024, 256, 4)) });
    expect(pickNarrow({}, d(1, 256, 1024, 8))).not.toBeNull();
    expect(pickNarrow({}, d(1, 1024, 256, 32))).toBeNull();
    expect(pickNarrow({}, d(1, 4, 1024, 256))).toBeNull();
    expect(pickNarrow({ variant: 'tiled' }, d(1, 1024, 256, 4))).toBeNull();
    expect(pickNarrow({}, d(1, 4, 16384, 4))).toBe('wgK'); // one tile, long K
    expect(pickNarrow({}, d(2, 4, 1024, 16))).toBe('wgK'); // 2 batches of 4 tiles
    expect(pickNarrow({}, d(1, 4, 512, 4))).toEqual({ slices: 8 }); // K too short for the tree
    expect(pickNarrow({}, d(3, 8, 1024, 16))).toBeNull(); // 12 tiles, 16 wide
    expect(pickNarrow({ variant: 'wgK' }, d(1, 1024, 256, 1024))).toBe('wgK');
    expect(pickNarrow({ variant: 'splitK', slices: 3 }, d(1, 8, 8, 8))).toEqual({ slices: 3 });
  });

  it('on a GPU adapter: the workgroup reduction for outputs at most 32 wide on one side with K >= 256, else the tiled kernels', () => {
    expect(pickNarrow({}, d(1, 1024, 256, 4), true)).toBe('wgK'); // LoRA x@A
    expect(pickNarrow({}, d(1, 4, 1024, 1024), true)).toBe('wgK'); // LoRA dB
    expect(pickNarrow({}, d(1, 256, 1024, 32), true)).toBe('wgK'); // dense experts dA
    expect(pickNarrow({}, d(1, 1024, 8, 256), true)).toBeNull(); // short K
    expect(pickNarrow({}, d(1, 1024, 32, 1024), true)).toBeNull();
    expect(pickNarrow({}, d(1, 1024, 1024, 256), true)).toBeNull(); // wide FFN product
    expect(pickNarrow({ variant: 'splitK' }, d(1, 1024, 256, 4), true)).toEqual({ slices: splitSlices(d(1, 1024, 256, 4)) });
  });

  it('slices grow as the tile grid shrinks, never below 64 K steps each, at least one', () => {
    expect(splitSlices(d(1, 256, 1024, 4))).toBe(8); // 64 tiles: one workgroup
    expect(splitSlices(d(1, 1024, 256, 4))).toBe(2); // 256 tiles: four workgroups
    expect(splitSlices(d(1, 256, 100, 4))).toBe(1); // K too short to split
    expect(splitSlices(d(1, 1, 1, 1))).toBe(1);
    expect(splitSlices(d(16, 256, 4096, 4))).toBe(1); // batches fill the grid
  });
});
