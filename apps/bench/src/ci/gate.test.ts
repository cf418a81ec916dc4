import { describe, expect, it } from 'vitest';
import { checkGate, formatGate, makeBaseline, measure, type Measurement } from './gate.js';
import { fakeResult } from '../testing.js';
import { toEntry } from '../report/summary.js';

const ref = { kernel: 'k', backend: 'cpu', perSec: 100, gflops: 1, rounds: 5 };
const tol = { accuracyTolerance: 0.05, throughputRatio: 0.5 };

function current(acc: Record<string, number>, thr: Record<string, number>, refPerSec = 100, backend = 'cpu'): Measurement {
  const methods: Measurement['methods'] = {};
  for (const k of Object.keys(acc)) methods[k] = { label: k, runs: 2, accuracy: acc[k]!, trainSamplesPerSec: thr[k]!, relThroughput: thr[k]! / refPerSec };
  return { backend, reference: { ...ref, perSec: refPerSec }, methods };
}
const baseline = makeBaseline(current({ gmoe: 0.6, mixlora: 0.55 }, { gmoe: 10, mixlora: 12 }), { profile: 'ci', tasks: ['boolq'], seeds: [0, 1], tolerance: tol });

describe('ci gate', () => {
  it('measures mean accuracy and throughput relative to the reference kernel', () => {
    const m = measure([fakeResult('gmoe', 'boolq', 0, 0.5), fakeResult('gmoe', 'boolq', 1, 0.7)].map(toEntry), ref);
    expect(m.methods.gmoe!.accuracy).toBeCloseTo(0.6);
    expect(m.methods.gmoe!.relThroughput).toBeCloseTo(6.4 / 100);
    expect(m.backend).toBe('cpu');
  });

  it('passes within the tolerances', () => {
    const g = checkGate(current({ gmoe: 0.551, mixlora: 0.55 }, { gmoe: 5.1, mixlora: 12 }), baseline, tol);
    expect(g.ok).toBe(true);
    expect(g.rows.map((r) => r.status)).toEqual(['ok', 'ok']);
    expect(formatGate(g, tol)).toContain('gate: PASS');
  });

  it('fails when accuracy falls by more than the tolerance', () => {
    const g = checkGate(current({ gmoe: 0.549, mixlora: 0.55 }, { gmoe: 10, mixlora: 12 }), baseline, tol);
    expect(g.ok).toBe(false);
    expect(g.failures).toHaveLength(1);
    expect(g.failures[0]).toMatch(/^gmoe: accuracy 54\.90% is below the baseline 60\.00% by more than 5\.00 points/);
    const text = formatGate(g, tol);
    expect(text).toMatch(/\| gmoe \| 60\.00 \| 54\.90 \| -5\.10 \|.*\| FAIL \|/);
    expect(text).toContain('gate: FAIL (1 problem)');
  });

  it('fails when relative throughput falls below the ratio, judged against the reference kernel', () => {
    // Machine twice as slow: run and reference both halve -> relative throughput unchanged -> pass.
    expect(checkGate(current({ gmoe: 0.6, mixlora: 0.55 }, { gmoe: 5, mixlora: 6 }, 50), baseline, tol).ok).toBe(true);
    // Same machine speed, method 2.5x slower -> ratio 0.4 < 0.5 -> fail.
    const g = checkGate(current({ gmoe: 0.6, mixlora: 0.55 }, { gmoe: 4, mixlora: 12 }), baseline, tol);
    expect(g.ok).toBe(false);
    expect(g.rows[0]!.ratio).toBeCloseTo(0.4);
    expect(g.failures[0]).toMatch(/gmoe: relative train throughput fell to 0\.400x the baseline \(limit 0\.5x\)/);
  });

  it('does not compare throughput across backends, and notes new or missing methods', () => {
    const g = checkGate(current({ gmoe: 0.6, graphmoe: 0.5 }, { gmoe: 1, graphmoe: 1 }, 100, 'webgpu'), baseline, tol);
    expect(g.ok).toBe(true);
    expect(g.rows.find((r) => r.key === 'gmoe')!.throughputOk).toBeNull();
    expect(g.rows.find((r) => r.key === 'mixlora')!.status).toBe('missing');
    expect(g.rows.find((r) => r.key === 'graphmoe')!.status).toBe('new');
    expect(g.notes.join('\n')).toMatch(/throughput not compared/);
  });
});
