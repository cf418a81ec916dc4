import { describe, expect, it } from 'vitest';
import { fakeResult } from '../testing.js';
import { accuracyTable, efficiencyTable, renderMarkdown } from './markdown.js';
import { summarize, toEntry } from './summary.js';
import { mean, sampleStd } from '../stats.js';

// Accuracies chosen so means and sample stds (n-1) are easy by hand:
//   GMoE    ARC  .30 .30 .33 -> mean 31.00, std sqrt((.01²+.01²+.02²)/2) = sqrt(.0003) = 1.73
//           BoolQ .70 .72 .74 -> mean 72.00, std sqrt((.02²+0+.02²)/2) = .02 = 2.00
//   MixLoRA ARC  .40 .41 .42 -> mean 41.00, std 1.00
//           BoolQ .60 .66 .69 -> mean 65.00, std sqrt((.05²+.01²+.04²)/2) = sqrt(.0021) = 4.58
//   Avg acc: GMoE (31+72)/2 = 51.50, MixLoRA (41+65)/2 = 53.00
//   Avg std: GMoE (1.732+2)/2 = 1.87, MixLoRA (1+4.583)/2 = 2.79
const ACC = {
  gmoe: { 'arc-challenge': [0.3, 0.3, 0.33], boolq: [0.7, 0.72, 0.74] },
  mixlora: { 'arc-challenge': [0.4, 0.41, 0.42], boolq: [0.6, 0.66, 0.69] },
} as const;

function results() {
  return (['gmoe', 'mixlora'] as const).flatMap((m) =>
    (['arc-challenge', 'boolq'] as const).flatMap((t) => ACC[m][t].map((a, seed) => fakeResult(m, t, seed, a))),
  );
}

describe('stats', () => {
  it('mean and sample std', () => {
    expect(mean([1, 2, 3])).toBe(2);
    expect(sampleStd([0.6, 0.66, 0.69])).toBeCloseTo(Math.sqrt(0.0021), 12);
    expect(sampleStd([0.5])).toBeNaN();
  });
});

describe('markdown table (GMoE Table 1 layout)', () => {
  const s = summarize(results().map(toEntry), { tasks: ['arc-challenge', 'boolq'] });

  it('aggregates per task and averages over tasks', () => {
    const g = s.variants.find((v) => v.key === 'gmoe')!;
    expect(g.cells['arc-challenge']!.mean).toBeCloseTo(0.31, 12);
    expect(g.cells['arc-challenge']!.std).toBeCloseTo(Math.sqrt(0.0003), 12);
    expect(g.cells.boolq!.std).toBeCloseTo(0.02, 12);
    expect(g.avgAcc).toBeCloseTo(0.515, 12);
    expect(g.avgStd).toBeCloseTo((Math.sqrt(0.0003) + 0.02) / 2, 12);
    expect(g.cells.boolq!.n).toBe(3);
  });

  it('lays out accuracy then std columns, best per column in bold', () => {
    const lines = accuracyTable(s).split('\n');
    expect(lines[0]).toBe('| Method | ARC-C acc | BoolQ acc | Avg. acc | ARC-C std | BoolQ std | Avg. std |');
    expect(lines[1]).toBe('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    expect(lines[2]).toBe('| GMoE | 31.00 | **72.00** | 51.50 | 1.73 | **2.00** | **1.87** |');
    expect(lines[3]).toBe('| MixLoRA | **41.00** | 65.00 | **53.00** | **1.00** | 4.58 | 2.79 |');
  });

  it('bolds every tied best and leaves a single row unbolded', () => {
    const tie = summarize(
      [fakeResult('gmoe', 'boolq', 0, 0.5), fakeResult('gmoe', 'boolq', 1, 0.7), fakeResult('mixlora', 'boolq', 0, 0.6), fakeResult('mixlora', 'boolq', 1, 0.6)].map(toEntry),
    );
    const lines = accuracyTable(tie).split('\n');
    expect(lines[2]).toBe('| GMoE | **60.00** | **60.00** | 14.14 | 14.14 |');
    expect(lines[3]).toBe('| MixLoRA | **60.00** | **60.00** | **0.00** | **0.00** |');
    const one = summarize([fakeResult('gmoe', 'boolq', 0, 0.5)].map(toEntry));
    expect(accuracyTable(one).split('\n')[2]).toBe('| GMoE | 50.00 | 50.00 | – | – |');
  });

  it('leaves the average out for a row missing a task and says so', () => {
    const partial = results().filter((r) => !(r.config.method === 'mixlora' && r.config.task === 'boolq'));
    const sp = summarize(partial.map(toEntry), { tasks: ['arc-challenge', 'boolq'] });
    expect(accuracyTable(sp).split('\n')[3]).toBe('| MixLoRA | **41.00** | – | – | **1.00** | – | – |');
    expect(renderMarkdown(sp, { title: 't' })).toContain('no results yet: MixLoRA BoolQ');
  });

  it('reports parameters, throughput and expert load per method', () => {
    const lines = efficiencyTable(s).split('\n');
    expect(lines[0]).toBe('| Method | Trainable params | Train samples/s | Eval samples/s | Expert-load std | Router entropy (nats) | Runs | Backend |');
    expect(lines[2]).toMatch(/^\| GMoE \| 123\.5K \| 6\.40 \| 50\.0 \| 0\.0112 \| 1\.200 \| 6 \| cpu \|$/);
    expect(lines[3]).toMatch(/^\| MixLoRA \| 100\.0K \| 8\.00 \| 50\.0 \| 0\.0559 \| 1\.200 \| 6 \| cpu \|$/);
  });

  it('renders a full document with the paper reference for the table suite', () => {
    const md = renderMarkdown(s, { title: 'Accuracy', suite: 'table', profile: 'quick' });
    expect(md).toMatch(/^# Accuracy/);
    expect(md).toContain('## Accuracy and stability');
    expect(md).toContain('mean over 3 seeds');
    expect(md).toContain('| GMoE | 80.52 | 0.45 |');
    expect(renderMarkdown(s, { title: 'x', suite: 'ablation' })).not.toContain('Paper reference');
  });
});
