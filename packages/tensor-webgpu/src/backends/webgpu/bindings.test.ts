/**
 * Every kernel keeps to WebGPU's default of 8 storage buffers per shader stage (our device asks for the
 * adapter's limits, so lavapipe would not catch a kernel that binds more; a browser adapter would).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randn, tensor } from '../../ops/create.js';
import { mul } from '../../ops/elementwise.js';
import { gcnShared } from '../../ops/gcn.js';
import { gruReset, gruUpdate } from '../../ops/gru.js';
import { matmulAddLowRank } from '../../ops/lowrank.js';
import { matmul } from '../../ops/matmul.js';
import { gatherMatmul } from '../../ops/moe.js';
import { sum } from '../../ops/reduce.js';
import type { Tensor } from '../../tensor.js';
import { createWebGPUBackend, WebGPUBackend } from './index.js';
import { MAX_STORAGE_BUFFERS, signature } from './pipelines.js';

let gpu: WebGPUBackend;
beforeAll(async () => { gpu = (await createWebGPUBackend()) as WebGPUBackend; });
afterAll(() => gpu?.destroy());

/** A kernel source with `n` storage bindings after the uniform. */
function wgsl(n: number): string {
  const binds = Array.from({ length: n }, (_, i) => `@group(0) @binding(${i + 1}) var<storage, read_write> S${i}: array<f32>;\n`);
  return `@group(0) @binding(0) var<uniform> P: vec4<u32>;\n${binds.join('')}`;
}

describe('storage buffers per kernel', () => {
  it('signature() accepts 8 and refuses 9, saying why', () => {
    expect(MAX_STORAGE_BUFFERS).toBe(8);
    expect(signature(wgsl(8))).toBe('uwwwwwwww');
    expect(() => signature(wgsl(9))).toThrow(/binds 9 storage buffers, more than the 8 WebGPU guarantees/);
  });

  it('every kernel the gcn, gru, matmul, lowrank and gather-matmul forward and backward create binds at most 8', async () => {
    const mk = (shape: number[], seed: number, std = 1): Tensor => randn(shape, { backend: gpu, seed, std, requiresGrad: true });
    const T = 12, M = 5, W = 16;
    const losses = [
      gcnShared(mk([T, W], 1), mk([M, W], 2), mk([M], 3, 0.3), mk([W], 4, 0.1)),
      gruUpdate(mk([T, W], 5), mk([T, W], 6), mk([W], 7), gruReset(mk([T, W], 8), mk([T, W], 9))),
      matmul(mk([T, W], 10), mk([W, W], 11)),
      matmulAddLowRank(mk([T, W], 12), mk([W, W], 13), mk([T, 2], 14), mk([2, W], 15), 0.5),
      gatherMatmul(mk([T, W], 16), mk([3, W, W], 17), tensor(Array.from({ length: T }, (_, i) => i % 3), [T], { backend: gpu, dtype: 'i32' })),
    ];
    for (const y of losses) sum(mul(y, y)).backward();
    await gpu.sync();
    const sigs = gpu.kernelSignaturesForTest();
    expect(sigs.get('gcnSharedBackward'), 'the gcn backward ran').toBeDefined();
    const over = [...sigs].filter(([, sig]) => sig.length - 1 > MAX_STORAGE_BUFFERS).map(([key, sig]) => `${key}: ${sig.length - 1}`);
    expect(over).toEqual([]);
    expect(sigs.size).toBeGreaterThan(10);
  });
});
