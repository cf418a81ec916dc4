/** LoRA and DoRA: no-op at initialisation, gradients against finite differences, training, save/load. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend, createWebGPUBackend, crossEntropy, Generator, noGrad, scope, tensor, type Backend } from '@moegraph/tensor-webgpu';
import { loadGGUF } from '@moegraph/llm';
import { stories260KPath } from '@moegraph/llm/node';
import { attachLoRA, loadAdapter, saveAdapter } from './index.js';
import { checkGradients, expectSaveLoadRoundTrip, ids, logits, maxDiff, setParam, trainLoss } from './testing/helpers.js';
import { tinyModel } from './testing/tiny.js';

let gpu: Backend;
const cpu = createCpuBackend();
const f64 = createCpuBackend({ precision: 'f64' });
beforeAll(async () => {
  gpu = await createWebGPUBackend();
});
afterAll(() => gpu?.destroy());

describe.each(['lora', 'dora'] as const)('%s on stories260K', (method) => {
  it.each(['cpu', 'webgpu'])('changes nothing at initialisation and trains (loss falls) on %s', async (bn) => {
    const backend = bn === 'cpu' ? cpu : gpu;
    const { model, tokenizer } = await loadGGUF(stories260KPath(), { backend });
    const x = ids(backend, tokenizer.encode('Once upon a time', { addBos: true }));
    const before = await logits(model, x);
    const adapter = attachLoRA(model, { method, r: 4, alpha: 8, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'], seed: 1 });
    expect(maxDiff(await logits(model, x), before)).toBeLessThan(1e-5);
    const [first, last] = await trainLoss(model, adapter, 40, (s) => tokenizer.encode(s, { addBos: true }));
    expect(last).toBeLessThan(first * 0.7);
    adapter.detach();
    expect(maxDiff(await logits(model, x), before)).toBe(0);
    model.dispose();
  });
});

describe('gradients match central finite differences (float64, tiny model)', () => {
  it.each(['lora', 'dora'] as const)('%s', async (method) => {
    const model = await tinyModel(f64);
    const adapter = attachLoRA(model, { method, r: 2, alpha: 4, targets: ['q', 'v', 'gate', 'down'], seed: 5, doraNormGrad: method === 'dora' });
    // Random B (not zero) so every gradient path is exercised.
    const g = new Generator(9);
    const params = adapter.parameters();
    const values = params.map((p) => Float64Array.from({ length: p.size }, () => g.normal() * 0.3 + (p.name?.endsWith('magnitude_vector') ? 1 : 0)));
    params.forEach((p, i) => setParam(p, values[i]!));
    const x = ids(f64, [1, 5, 9, 3, 7]);
    const y = tensor(Int32Array.from([5, 9, 3, 7, 2]), [1, 5], { dtype: 'i32', backend: f64 });
    const lossOf = () => noGrad(() => scope(() => (crossEntropy(model.forward(x), y).dataSync() as Float64Array)[0]!));
    scope(() => crossEntropy(model.forward(x), y).backward());
    expect(checkGradients(params, values, lossOf)).toEqual([]);
  });
});

describe('save and load', () => {
  it('round trip gives bit-identical outputs; wrong model and missing tensors are clear errors', async () => {
    const { model, tokenizer } = await loadGGUF(stories260KPath(), { backend: gpu });
    const adapter = attachLoRA(model, { method: 'dora', r: 4, alpha: 8, targets: ['q', 'v', 'up'], seed: 2 });
    await trainLoss(model, adapter, 5, (s) => tokenizer.encode(s, { addBos: true }));
    const x = ids(gpu, tokenizer.encode('The cat sat', { addBos: true }));
    const { loaded, dir, config: cfg } = await expectSaveLoadRoundTrip({ saveAdapter, loadAdapter }, model, adapter, x);
    expect(cfg).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, use_dora: true, target_modules: ['q_proj', 'v_proj', 'up_proj'] });
    loaded.detach();

    const tiny = await tinyModel(gpu);
    await expect(loadAdapter(tiny, dir)).rejects.toThrow(/trained on a different model \(dim 64 vs 8/);
    const bad = mkdtempSync(join(tmpdir(), 'moegraph-adapter-bad-'));
    writeFileSync(join(bad, 'adapter_config.json'), JSON.stringify({ ...cfg, target_modules: ['q_proj', 'v_proj', 'up_proj', 'down_proj'] }));
    writeFileSync(join(bad, 'adapter_model.safetensors'), readFileSync(join(dir, 'adapter_model.safetensors')));
    await expect(loadAdapter(model, bad)).rejects.toThrow(/adapter_model\.safetensors: missing tensor 'base_model\.model\.model\.layers\.0\.mlp\.down_proj\.lora_A\.weight'/);
    expect(model.blocks[0]!.ffn.constructor.name).toBe('SwiGLU');
    model.dispose();
  });

  it('counts trainable parameters as PEFT does', async () => {
    const { model } = await loadGGUF(stories260KPath(), { backend: cpu });
    const lora = attachLoRA(model, { r: 2, alpha: 4, targets: ['q', 'k', 'v', 'o'] });
    // q, o: 64x64 -> r(64 + 64); k, v: 64x32 -> r(64 + 32); 5 layers.
    expect(lora.numParameters()).toBe(5 * 2 * (2 * (64 + 64) + 2 * (64 + 32)));
    lora.detach();
    const dora = attachLoRA(model, { method: 'dora', r: 2, alpha: 4, targets: ['gate'] });
    expect(dora.numParameters()).toBe(5 * (2 * (64 + 172) + 172));
    dora.detach();
    model.dispose();
  });
});
