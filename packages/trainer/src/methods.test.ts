/** Every method attaches and trains a few steps on stories260K (cpu), giving a sane RunResult. */
import { describe, expect, it } from 'vitest';
import { METHODS, type MethodName, type RunConfig } from './types.js';
import { defaultRunConfig, runExperiment } from './run.js';

export function tiny(method: MethodName, extra: Partial<RunConfig> = {}): RunConfig {
  return defaultRunConfig({
    method, task: 'boolq', backend: 'cpu', seed: 7, epochs: 1, batchSize: 4, gradAccum: 2, lr: 1e-3, cutoff: 48,
    r: 2, alpha: 4, dropout: 0.1, topK: 2, trainLimit: 16, evalLimit: 8, schedule: 'cosine', warmupSteps: 1,
    weightDecay: 0.01, maxGradNorm: 1,
    numExperts: method === 'gmoe' ? 8 : 4,
    options: method === 'gmoe' ? { graph: { hidden: 16 } } : method === 'graphmoe' ? { rounds: 2 } : undefined,
    ...extra,
  });
}

describe('runExperiment: every method on stories260K', () => {
  for (const method of METHODS) {
    it(method, async () => {
      const r = await runExperiment(tiny(method));
      expect(r.config.method).toBe(method);
      expect(r.backend).toBe('cpu');
      expect(r.trainExamples).toBe(16);
      expect(r.evalExamples).toBe(8);
      expect(r.steps).toBe(2);
      expect(r.lossCurve.map((p) => p.step)).toEqual([1, 2]);
      for (const p of r.lossCurve) expect(Number.isFinite(p.loss)).toBe(true);
      expect(r.accuracy).toBeGreaterThanOrEqual(0);
      expect(r.accuracy).toBeLessThanOrEqual(1);
      expect(r.trainableParams).toBeGreaterThan(0);
      expect(r.trainSamplesPerSec).toBeGreaterThan(0);
      expect(r.evalSamplesPerSec).toBeGreaterThan(0);
      expect(Number.isNaN(Date.parse(r.finishedAt))).toBe(false);
      if (method === 'lora' || method === 'dora') {
        expect(r.expertLoad).toEqual([]);
        expect(r.routerEntropy).toBeNull();
      } else {
        expect(r.expertLoad.length).toBeGreaterThan(0);
        for (const l of r.expertLoad) {
          expect(l.share.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
          expect(l.std).toBeGreaterThanOrEqual(0);
        }
        expect(r.routerEntropy).toBeGreaterThan(0);
      }
    });
  }
});
