/**
 * Every op, forward and gradient: gradients against central finite differences on the cpu
 * backend in float64, and webgpu against cpu (f32) within tolerance.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from './backend.js';
import { createCpuBackend } from './backends/cpu/index.js';
import { createWebGPUBackend } from './backends/webgpu/index.js';
import { cases } from './testing/cases.js';
import { closeness, finiteDifferences, makeInputs, runCase } from './testing/harness.js';

const f64 = createCpuBackend({ precision: 'f64' }) as ReturnType<typeof createCpuBackend> & { readSync(v: unknown): ArrayLike<number> };
const cpu = createCpuBackend();
let gpu: Backend;

beforeAll(async () => {
  gpu = await createWebGPUBackend();
});
afterAll(() => gpu?.destroy());

describe('gradients match central finite differences (cpu, float64)', () => {
  cases.filter((c) => !c.noGrad).forEach((c, n) => {
    it(c.name, async () => {
      const seed = 1000 + n;
      const data = makeInputs(c, seed);
      const r = await runCase(f64, c, data, seed);
      const fd = finiteDifferences(f64, c, data, seed);
      fd.forEach((g, k) => {
        if (!g) return;
        const got = r.grads[k];
        expect(got, `input ${k} has no gradient`).toBeTruthy();
        const { worst, at } = closeness(got!, g, 1e-5, 1e-7);
        expect(worst, `input ${k} entry ${at}: autograd ${got![at]} vs fd ${g[at]}`).toBeLessThanOrEqual(1);
      });
    });
  });
});

describe('webgpu matches cpu (forward and gradients)', () => {
  cases.forEach((c, n) => {
    it(c.name, async () => {
      const seed = 2000 + n;
      const data = makeInputs(c, seed);
      const want = await runCase(cpu, c, data, seed);
      const got = await runCase(gpu, c, data, seed);
      expect(got.shape).toEqual(want.shape);
      const tol = c.tol ?? 2e-5;
      const o = closeness(got.out, want.out, tol, tol);
      expect(o.worst, `output entry ${o.at}: webgpu ${got.out[o.at]} vs cpu ${want.out[o.at]}`).toBeLessThanOrEqual(1);
      want.grads.forEach((g, k) => {
        if (!g) return expect(got.grads[k]).toBeNull();
        const d = closeness(got.grads[k]!, g, tol * 5, tol);
        expect(d.worst, `grad ${k} entry ${d.at}: webgpu ${got.grads[k]![d.at]} vs cpu ${g[d.at]}`).toBeLessThanOrEqual(1);
      });
    });
  });
});
