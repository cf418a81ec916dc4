/** Checkpoints, exact resume, NaN handling, determinism. */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mul } from '@moegraph/tensor-webgpu';
import { defaultRunConfig, runExperiment } from '../run.js';
import { latestCheckpoint, readCheckpoint, writeCheckpoint } from '../checkpoint/index.js';
import type { MethodName, RunConfig, RunResult } from '../types.js';
import { learningRate } from './schedule.js';

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `moegraph-trainer-${p}-`));

function cfg(method: MethodName, extra: Partial<RunConfig> = {}): RunConfig {
  return defaultRunConfig({
    method, task: 'boolq', backend: 'cpu', seed: 11, epochs: 2, batchSize: 4, gradAccum: 1, lr: 2e-3, cutoff: 40,
    r: 2, alpha: 4, dropout: 0.1, numExperts: 8, topK: 2, trainLimit: 12, evalLimit: 4, schedule: 'linear', warmupSteps: 2,
    weightDecay: 0.01, options: method === 'gmoe' ? { graph: { hidden: 16 }, normalWindow: 'running' } : undefined,
    ...extra,
  });
}

type Tensors = { name: string; data: number[] }[];
async function runCapturing(c: RunConfig, hooks: Parameters<typeof runExperiment>[1] = {}): Promise<{ r: RunResult; tensors: Tensors }> {
  let tensors: Tensors = [];
  const r = await runExperiment(c, {
    ...hooks,
    onTrained: async (m) => {
      tensors = (await m.adapter.exportTensors()).map((t) => ({ name: t.name, data: Array.from(t.data) }));
      const extra = await Promise.all(m.extraParams.map(async (p, i) => ({ name: `extra.${i}`, data: Array.from(await p.data()) })));
      tensors.push(...extra);
    },
  });
  return { r, tensors };
}

describe('learningRate', () => {
  it('warmup then constant / linear / cosine', () => {
    const base = { lr: 1, warmupSteps: 2 };
    expect(learningRate({ ...base, schedule: 'constant' }, 0, 10)).toBe(0.5);
    expect(learningRate({ ...base, schedule: 'constant' }, 1, 10)).toBe(1);
    expect(learningRate({ ...base, schedule: 'constant' }, 9, 10)).toBe(1);
    expect(learningRate({ ...base, schedule: 'linear' }, 2, 10)).toBe(1);
    expect(learningRate({ ...base, schedule: 'linear' }, 6, 10)).toBeCloseTo(0.5);
    expect(learningRate({ ...base, schedule: 'cosine' }, 6, 10)).toBeCloseTo(0.5);
    expect(learningRate({ ...base, schedule: 'cosine' }, 2, 10)).toBe(1);
  });
});

describe('resume', () => {
  for (const method of ['gmoe', 'graphmoe', 'lora'] as const) {
    it(`${method}: a run killed after k steps and resumed ends exactly as an uninterrupted one`, async () => {
      const full = await runCapturing(cfg(method));
      expect(full.r.steps).toBe(6);
      const dir = tmp(`resume-${method}`);
      const c = cfg(method, { checkpointDir: dir, checkpointEvery: 2 });
      // "Kill" after step 4 (past an epoch boundary): the hook throws once the checkpoint is written.
      await expect(runExperiment(c, { onStep: (s) => { if (s.step === 4) throw new Error('killed'); } })).rejects.toThrow('killed');
      const ck = await latestCheckpoint(dir);
      expect(ck).toMatch(/step-00000004$/);
      const resumed = await runCapturing(c, { resume: true });
      expect(resumed.r.steps).toBe(6);
      expect(resumed.r.lossCurve).toEqual(full.r.lossCurve);
      expect(resumed.tensors.map((t) => t.name)).toEqual(full.tensors.map((t) => t.name));
      resumed.tensors.forEach((t, i) => expect(t.data, t.name).toEqual(full.tensors[i]!.data));
      expect(resumed.r.accuracy).toBe(full.r.accuracy);
      expect(resumed.r.expertLoad).toEqual(full.r.expertLoad);
    });
  }

  it('same seed twice gives identical results; another seed differs', async () => {
    const a = await runCapturing(cfg('mixlora', { epochs: 1 }));
    const b = await runCapturing(cfg('mixlora', { epochs: 1 }));
    expect(b.r.lossCurve).toEqual(a.r.lossCurve);
    expect(b.r.accuracy).toBe(a.r.accuracy);
    expect(b.r.expertLoad).toEqual(a.r.expertLoad);
    expect(b.r.routerEntropy).toBe(a.r.routerEntropy);
    b.tensors.forEach((t, i) => expect(t.data).toEqual(a.tensors[i]!.data));
    const c = await runCapturing(cfg('mixlora', { epochs: 1, seed: 12 }));
    expect(c.r.lossCurve).not.toEqual(a.r.lossCurve);
  });
});

describe('non-finite loss', () => {
  it("nanPolicy 'stop' throws naming the step and leaves the last good checkpoint intact", async () => {
    const dir = tmp('nan-stop');
    const c = cfg('mixlora', { checkpointDir: dir, checkpointEvery: 1 });
    const err = await runExperiment(c, { transformLoss: (l, step) => (step === 3 ? mul(l, NaN) : l) }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/non-finite loss .* at step 4/);
    const ck = await latestCheckpoint(dir);
    expect(ck).toMatch(/step-00000003$/);
    const loaded = await readCheckpoint(ck!);
    expect(loaded.state.step).toBe(3);
    expect(loaded.state.lossCurve.length).toBe(3);
    expect(loaded.optimizer.m.every(Number.isFinite)).toBe(true);
    expect(readdirSync(dir).filter((e) => e.startsWith('.tmp-'))).toEqual([]);
  });

  it('a huge learning rate (1e30) stops with an error; the checkpoint left is finite', async () => {
    const dir = tmp('nan-lr');
    const c = cfg('lora', { lr: 1e30, warmupSteps: 0, schedule: 'constant', checkpointDir: dir, checkpointEvery: 1 });
    await expect(runExperiment(c)).rejects.toThrow(/non-finite .*step \d+/);
    const ck = await latestCheckpoint(dir);
    if (ck) {
      const st = await readCheckpoint(ck);
      expect(st.state.lossCurve.every((p) => Number.isFinite(p.loss))).toBe(true);
    }
  });

  it("nanPolicy 'skip' skips the update and carries on", async () => {
    const c = cfg('lora', { nanPolicy: 'skip', epochs: 1 });
    const r = await runExperiment(c, { transformLoss: (l, step) => (step === 1 ? mul(l, NaN) : l) });
    expect(r.steps).toBe(3);
    expect(r.lossCurve.map((p) => p.step)).toEqual([1, 3]);
  });
});

describe('atomic checkpoints', () => {
  it('a write that fails midway leaves the previous checkpoint as latest; no partial folder is visible', async () => {
    const dir = tmp('atomic');
    const c = cfg('lora', { epochs: 1, checkpointDir: dir, checkpointEvery: 1 });
    let saved: { adapter: Parameters<typeof writeCheckpoint>[1] } | null = null;
    await runExperiment(c, { onStep: (s) => void s, onAttached: (m) => void (saved = { adapter: m.adapter }) });
    expect(saved).not.toBeNull();
    const ck = (await latestCheckpoint(dir))!;
    expect(ck).toMatch(/step-00000003$/);
    expect(readdirSync(dir).sort()).toEqual(['latest.json', 'step-00000003']);
    for (const f of ['adapter/adapter_model.safetensors', 'adapter/adapter_config.json', 'optimizer.bin', 'state.json']) expect(existsSync(join(ck, f)), f).toBe(true);
    const before = readFileSync(join(ck, 'state.json'), 'utf8');
    // A failing write (the adapter was detached, so saving it throws) must not disturb the checkpoint.
    const loaded = await readCheckpoint(ck);
    await expect(writeCheckpoint(dir, { savedTensors: () => { throw new Error('disk full'); }, exportTensors: async () => { throw new Error('disk full'); }, config: {} } as never, loaded.optimizer, { ...loaded.state, step: 4 })).rejects.toThrow('disk full');
    expect(await latestCheckpoint(dir)).toBe(ck);
    expect(readFileSync(join(ck, 'state.json'), 'utf8')).toBe(before);
    expect(readdirSync(dir).sort()).toEqual(['latest.json', 'step-00000003']);
    const st = JSON.parse(before) as { config: RunConfig; lossCurve: unknown[]; generators: number[] };
    expect(st.config.method).toBe('lora');
    expect(st.lossCurve.length).toBe(3);
    expect(st.generators.length).toBeGreaterThan(0);
  });
});
