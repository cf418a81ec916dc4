/** Shared by the *.test.ts files: the PyTorch fixtures, the three backends, and closeness checks. */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { createCpuBackend, createWebGPUBackend, type Backend, type Tensor } from '@moegraph/tensor-webgpu';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/** fixtures/losses.json, written by fixtures/make_fixtures.py (PyTorch, float64). */
export const fixtures: Json = JSON.parse(readFileSync(new URL('../fixtures/losses.json', import.meta.url), 'utf8'));

export interface Target {
  name: string;
  backend: Backend;
  /** Relative tolerance against the float64 PyTorch values. */
  rtol: number;
}

/**
 * cpu f32 and webgpu at 1e-5 relative (the brief's bar), cpu f64 much tighter: the f64 run shows
 * the formulas agree exactly, the f32 runs that rounding stays small.
 */
export async function makeTargets(): Promise<Target[]> {
  return [
    { name: 'cpu-f64', backend: createCpuBackend({ precision: 'f64' }), rtol: 1e-9 },
    { name: 'cpu', backend: createCpuBackend(), rtol: 1e-5 },
    { name: 'webgpu', backend: await createWebGPUBackend(), rtol: 1e-5 },
  ];
}

export function destroyTargets(ts: Target[] | undefined): void {
  for (const t of ts ?? []) t.backend.destroy?.();
}

export async function read(t: Tensor | null | undefined, size?: number): Promise<number[]> {
  if (!t) return new Array<number>(size ?? 1).fill(0);
  return Array.from(await t.data());
}

/**
 * |got - want| <= rtol * (|want| + max|want|): relative per entry, with the vector's own scale as
 * the floor so that entries that are ~0 next to large ones (sorting, masking) do not demand
 * impossible relative precision.
 */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    const tol = rtol * (Math.abs(w) + scale) + 1e-30;
    if (!(Math.abs(g - w) <= tol)) {
      expect.fail(`${what}[${i}]: got ${g}, want ${w} (|diff| ${Math.abs(g - w).toExponential(2)} > tol ${tol.toExponential(2)})`);
    }
  }
}

export const dispose = (ts: (Tensor | null | undefined)[]) => ts.forEach((t) => t?.dispose());
