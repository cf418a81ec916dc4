/**
 * First-token scoring on the real stories260K model: batched, right-padded evaluation equals
 * per-example scoring from full logits, on cpu and webgpu.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend, createWebGPUBackend, noGrad, scope, stats, tensor, type Backend } from '@moegraph/tensor-webgpu';
import { loadGGUF, type LlamaModel, type Tokenizer } from '@moegraph/llm';
import { stories260KPath } from '@moegraph/llm/node';
import { attachMoE } from '@moegraph/lora';
import type { Example } from '../types.js';
import { loadExamples } from '../data/load.js';
import { evaluate, labelTokenIds } from './score.js';

let gpu: Backend;
const cpu = createCpuBackend();
let examples: Example[];
beforeAll(async () => {
  gpu = await createWebGPUBackend();
  const arc = (await loadExamples({ task: 'arc-challenge' }, 'test')).slice(0, 10);
  const boolq = (await loadExamples({ task: 'boolq' }, 'test')).slice(0, 10);
  // Interleave so batches mix 4-label and 2-label examples of different lengths.
  examples = arc.flatMap((a, i) => [a, boolq[i]!]);
});
afterAll(() => gpu?.destroy());

/**
 * Reference: one example at a time, full [1, T, vocab] logits, the prompt's last row, the label
 * columns. `pad` right-pads the ids to a multiple (what evaluate does so webgpu picks one kernel).
 */
async function reference(model: LlamaModel, tok: Tokenizer, ex: Example, pad = 1): Promise<number[]> {
  const ids = tok.encode(ex.prompt, { addBos: true });
  const padded = [...ids, ...new Array<number>((pad - (ids.length % pad)) % pad).fill(0)];
  const logits = noGrad(() => scope(() => model.forward(tensor(Int32Array.from(padded), [1, padded.length], { dtype: 'i32', backend: model.backend }))));
  const data = await logits.data();
  logits.dispose();
  const V = model.config.vocabSize;
  const row = data.subarray((ids.length - 1) * V, ids.length * V);
  return labelTokenIds(tok, ex.labels).map((id) => row[id]!);
}

describe('labelTokenIds', () => {
  it('takes the last token of " " + label (stories260K splits " A" into "▁", "A")', async () => {
    const { model, tokenizer: tok } = await loadGGUF(stories260KPath(), { backend: cpu });
    model.dispose();
    const abcd = labelTokenIds(tok, ['A', 'B', 'C', 'D']);
    expect(abcd.map((id) => tok.idToToken(id))).toEqual(['A', '▁B', 'C', 'D']);
    expect(abcd[0]).toBe(447);
    expect(abcd[1]).toBe(368);
    const tf = labelTokenIds(tok, ['true', 'false']);
    expect(tf.map((id) => tok.idToToken(id))).toEqual(['e', 'se']);
    expect(() => labelTokenIds(tok, ['A', ' A'])).toThrow("labels 'A' and ' A' both end in token 447 ('A')");
  });
});

describe.each(['cpu', 'webgpu'])('evaluate on stories260K (%s)', (name) => {
  it('batched (right padding) equals unbatched per-example scoring exactly', async () => {
    const backend = name === 'cpu' ? cpu : gpu;
    const { model, tokenizer } = await loadGGUF(stories260KPath(), { backend });
    const batched = await evaluate(model, tokenizer, examples, { batchSize: 8 });
    // Nothing leaks (the first run filled the runtime's per-length causal-mask cache).
    const some = examples.slice(10, 16);
    await evaluate(model, tokenizer, some, { batchSize: 3 });
    const live = stats(backend).liveTensors;
    await evaluate(model, tokenizer, some, { batchSize: 3 });
    expect(stats(backend).liveTensors).toBe(live);
    const single = await evaluate(model, tokenizer, examples, { batchSize: 1 });
    const ref: number[][] = [];
    const unpadded: number[][] = [];
    for (const ex of examples) {
      ref.push(await reference(model, tokenizer, ex, 8));
      unpadded.push(await reference(model, tokenizer, ex));
    }
    expect(batched.scores).toEqual(ref);
    expect(single.scores).toEqual(ref);
    if (name === 'cpu') expect(unpadded).toEqual(ref);
    else {
      // WebGPU runs short odd-length attention through another matmul kernel: equal up to rounding.
      unpadded.forEach((u, i) => u.forEach((v, j) => expect(v).toBeCloseTo(ref[i]![j]!, 4)));
    }
    // Without the padding multiple the scores are still those of unpadded runs on cpu.
    if (name === 'cpu') expect((await evaluate(model, tokenizer, examples, { batchSize: 5, padMultiple: 1 })).scores).toEqual(ref);
    const refPred = ref.map((s) => s.indexOf(Math.max(...s)));
    expect(batched.predictions).toEqual(refPred);
    expect(single.predictions).toEqual(refPred);
    const acc = refPred.filter((p, i) => p === examples[i]!.label).length / examples.length;
    expect(batched.accuracy).toBe(acc);
    expect(batched.scores.map((s) => s.length)).toEqual(examples.map((e) => e.labels.length));
    expect(batched.samplesPerSec).toBeGreaterThan(0);
    expect(batched.expertLoad).toBeUndefined();
    model.dispose();
  });

  it('collects expert load and router entropy from a mixture adapter over real tokens', async () => {
    const backend = name === 'cpu' ? cpu : gpu;
    const { model, tokenizer } = await loadGGUF(stories260KPath(), { backend });
    const adapter = attachMoE(model, { method: 'mixlora', numExperts: 4, topK: 2, r: 4, alpha: 8, seed: 1 });
    adapter.training = false;
    const few = examples.slice(0, 6);
    const a = await evaluate(model, tokenizer, few, { batchSize: 3, adapter });
    const live = stats(backend).liveTensors;
    await evaluate(model, tokenizer, few, { batchSize: 3, adapter });
    expect(stats(backend).liveTensors).toBe(live);
    const b = await evaluate(model, tokenizer, few, { batchSize: 1, adapter });
    expect(a.predictions).toEqual(b.predictions);
    expect(a.expertLoad!.length).toBe(model.config.nLayers);
    for (const [i, l] of a.expertLoad!.entries()) {
      expect(l.share.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 5);
      // Padding is masked out, so batch size does not change the counts.
      l.share.forEach((s, j) => expect(s).toBeCloseTo(b.expertLoad![i]!.share[j]!, 5));
    }
    expect(a.routerEntropy!).toBeGreaterThan(0);
    expect(a.routerEntropy!).toBeLessThanOrEqual(Math.log(4) + 1e-6);
    expect(a.routerEntropy!).toBeCloseTo(b.routerEntropy!, 5);
    expect(adapter.routes().length).toBe(0);
    for (const m of adapter.modules.values()) m.detach();
    model.dispose();
  });

  it('rejects bad options', async () => {
    const { model, tokenizer } = await loadGGUF(stories260KPath(), { backend: cpu });
    await expect(evaluate(model, tokenizer, examples, { batchSize: 0 })).rejects.toThrow('batchSize must be a positive integer');
    await expect(evaluate(model, tokenizer, [], { batchSize: 2 })).rejects.toThrow('no examples');
    await expect(evaluate(model, tokenizer, examples, { batchSize: 2, padMultiple: 0 })).rejects.toThrow('padMultiple must be a positive integer');
    if (name === 'webgpu') await expect(evaluate(model, tokenizer, examples, { batchSize: 2, backend: gpu })).rejects.toThrow("backend 'webgpu' is not the model's ('cpu')");
    model.dispose();
  });
});
