/** Tokenising with stories260K's tokenizer, padding, masks and seeded shuffling. */
import { beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend, Generator } from '@moegraph/tensor-webgpu';
import { loadGGUF, type Tokenizer } from '@moegraph/llm';
import { stories260KPath } from '@moegraph/llm/node';
import type { Example } from '../types.js';
import { encodeTrain, makeBatches, packRows, truncateLeft, type TrainItem } from './batch.js';
import { loadExamples } from './load.js';

let tok: Tokenizer;
beforeAll(async () => {
  const { model, tokenizer } = await loadGGUF(stories260KPath(), { backend: createCpuBackend() });
  model.dispose();
  tok = tokenizer;
});

describe('encodeTrain', () => {
  it('ids = encode(prompt + " " + label) with BOS; the answer tokens follow the prompt tokens', () => {
    const ex: Example = { id: 'x', prompt: 'Is it?\nAnswer:', labels: ['true', 'false'], label: 1 };
    const [item] = encodeTrain(tok, [ex], { cutoff: 64 });
    const full = tok.encode('Is it?\nAnswer: false', { addBos: true });
    const prompt = tok.encode('Is it?\nAnswer:', { addBos: true });
    expect(item!.ids).toEqual(full);
    expect(item!.ids[0]).toBe(tok.bos);
    expect(item!.answerStart).toBe(prompt.length);
    expect(item!.ids.slice(0, item!.answerStart)).toEqual(prompt);
    expect(tok.decode(item!.ids.slice(item!.answerStart))).toBe('false');
    const [noBos] = encodeTrain(tok, [ex], { cutoff: 64, addBos: false });
    expect(noBos!.ids).toEqual(full.slice(1));
    expect(noBos!.answerStart).toBe(prompt.length - 1);
  });

  it('cuts long sequences from the left, keeping BOS and the answer', async () => {
    const exs = (await loadExamples({ task: 'siqa' }, 'test')).slice(0, 5);
    const full = encodeTrain(tok, exs, { cutoff: 4096 });
    const cut = encodeTrain(tok, exs, { cutoff: 32 });
    cut.forEach((c, i) => {
      const f = full[i]!;
      expect(c.ids.length).toBe(32);
      expect(c.ids[0]).toBe(tok.bos);
      expect(c.ids.slice(1)).toEqual(f.ids.slice(f.ids.length - 31));
      expect(c.ids.length - c.answerStart).toBe(f.ids.length - f.answerStart);
    });
    expect(truncateLeft([1, 2, 3, 4, 5], 3, true)).toEqual({ ids: [1, 4, 5], dropped: 2 });
    expect(truncateLeft([1, 2, 3, 4, 5], 3, false)).toEqual({ ids: [3, 4, 5], dropped: 2 });
    expect(() => encodeTrain(tok, exs, { cutoff: 1 })).toThrow('cutoff must be an integer >= 2');
  });
});

describe('makeBatches', () => {
  const items: TrainItem[] = [
    { ids: [1, 5, 6, 7], answerStart: 3 },
    { ids: [1, 8], answerStart: 1 },
    { ids: [1, 9, 10, 11, 12, 13], answerStart: 4 },
    { ids: [1, 14, 15], answerStart: 2 },
    { ids: [1, 16, 17], answerStart: 2 },
  ];

  it('right-pads to the longest row with answer and attention masks', () => {
    const b = packRows([items[0]!, items[1]!, items[2]!], [0, 1, 2], 0);
    expect([b.B, b.T]).toEqual([3, 6]);
    expect(Array.from(b.ids)).toEqual([1, 5, 6, 7, 0, 0, 1, 8, 0, 0, 0, 0, 1, 9, 10, 11, 12, 13]);
    expect(Array.from(b.attentionMask)).toEqual([1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
    expect(Array.from(b.answerMask)).toEqual([0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
    expect(b.lengths).toEqual([4, 2, 6]);
  });

  it('keeps input order without a generator, and a last partial batch unless dropLast', () => {
    const bs = makeBatches(items, { batchSize: 2, padId: 99 });
    expect(bs.map((b) => b.indices)).toEqual([[0, 1], [2, 3], [4]]);
    expect(Array.from(bs[0]!.ids)).toEqual([1, 5, 6, 7, 1, 8, 99, 99]);
    expect(makeBatches(items, { batchSize: 2, padId: 0, dropLast: true }).length).toBe(2);
  });

  it('shuffles deterministically per generator state, differently each epoch', () => {
    const run = (seed: number) => {
      const g = new Generator(seed);
      return [0, 1, 2].map(() => makeBatches(items, { batchSize: 2, padId: 0, generator: g }).flatMap((b) => b.indices));
    };
    const a = run(7);
    expect(run(7)).toEqual(a);
    for (const epoch of a) expect([...epoch].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(new Set(a.map((e) => e.join())).size).toBeGreaterThan(1);
    expect(run(8)).not.toEqual(a);
    // A saved generator state reproduces the next epoch exactly.
    const g = new Generator(3);
    makeBatches(items, { batchSize: 2, padId: 0, generator: g });
    const state = g.getState();
    const next = makeBatches(items, { batchSize: 2, padId: 0, generator: g });
    const g2 = new Generator(0);
    g2.setState(state);
    expect(makeBatches(items, { batchSize: 2, padId: 0, generator: g2 })).toEqual(next);
  });
});
